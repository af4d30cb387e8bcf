package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/serverlessplane/operator/internal/tlsfiles"
	"github.com/serverlessplane/operator/pkg/certs"
)

// gatewayClientName is the common name the model proxy allows by default.
const gatewayClientName = "serverlessplane-gateway"

// pki is the operator CA's files as the gateway and a model pod mount them: the gateway's
// client certificate and the proxy's serving certificate, each beside the CA.
type pki struct {
	gateway *tlsfiles.Files
	// proxyCert, proxyKey and proxyCA are the model proxy's TLS_CERT_FILE, TLS_KEY_FILE and
	// TLS_CLIENT_CA_FILE.
	proxyCert, proxyKey, proxyCA string
}

// newPKI writes a CA, a client certificate for the gateway and a serving certificate for
// servingName under dir.
func newPKI(dir, servingName string) (pki, error) {
	now := time.Now()
	ca, err := certs.NewCA("serverlessplane-ca", now, 24*time.Hour)
	if err != nil {
		return pki{}, err
	}
	client, err := certs.Issue(ca, certs.Client, gatewayClientName, nil, now, 24*time.Hour)
	if err != nil {
		return pki{}, err
	}
	serving, err := certs.Issue(ca, certs.Serving, servingName, []string{servingName}, now, 24*time.Hour)
	if err != nil {
		return pki{}, err
	}
	files := map[string][]byte{
		"ca.crt": ca.Cert, "gateway.crt": client.Cert, "gateway.key": client.Key,
		"proxy.crt": serving.Cert, "proxy.key": serving.Key,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return pki{}, fmt.Errorf("writing %s: %w", name, err)
		}
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	// Checked for rotation as often as cmd/gateway checks.
	gateway, err := tlsfiles.Load(path("gateway.crt"), path("gateway.key"), path("ca.crt"), 5*time.Second, nil)
	if err != nil {
		return pki{}, err
	}
	return pki{gateway: gateway, proxyCert: path("proxy.crt"), proxyKey: path("proxy.key"), proxyCA: path("ca.crt")}, nil
}
