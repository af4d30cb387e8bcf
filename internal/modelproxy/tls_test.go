package modelproxy

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/serverlessplane/operator/internal/tlsfiles"
	"github.com/serverlessplane/operator/pkg/certs"
)

func TestVerifyClient(t *testing.T) {
	p := newPKI(t, "ca")
	leaf := func(usage certs.Usage, cn string) *x509.Certificate {
		cert, err := certs.ParseCert(p.pair(t, usage, cn).Cert)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	noEKU := leaf(certs.Client, gatewayCN)
	noEKU.ExtKeyUsage = nil
	verified := func(c *x509.Certificate) tls.ConnectionState {
		return tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c}}}
	}
	for _, tc := range []struct {
		name  string
		state tls.ConnectionState
		ok    bool
	}{
		{name: "gateway client", state: verified(leaf(certs.Client, gatewayCN)), ok: true},
		{name: "second allowed name", state: verified(leaf(certs.Client, "gateway-canary")), ok: true},
		{name: "unverified", state: tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf(certs.Client, gatewayCN)}}},
		{name: "no certificate", state: tls.ConnectionState{}},
		{name: "serving certificate", state: verified(leaf(certs.Serving, gatewayCN))},
		{name: "no extended key usage", state: verified(noEKU)},
		{name: "other name", state: verified(leaf(certs.Client, "model-ws-b"))},
		{name: "name differs in case", state: verified(leaf(certs.Client, "ServerlessPlane-Gateway"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tlsfiles.VerifyClient([]string{gatewayCN, "gateway-canary"})(tc.state)
			if tc.ok && err != nil {
				t.Errorf("want accepted, got %v", err)
			}
			if !tc.ok && err == nil {
				t.Error("want refused, got accepted")
			}
		})
	}
}
