// Package tlsfiles serves a certificate, its key and a CA bundle from files that the kubelet
// refreshes in place (a mounted Secret is swapped atomically): every use sees the current files,
// re-read at most once per check interval and only when they changed, so renewing a certificate
// or rotating the CA restarts nothing.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Files are the PEM files of one identity.
type Files struct {
	CertFile, KeyFile, CAFile string
	// Check is how often the files' modification times are looked at. Default 5s.
	Check time.Duration

	mu      sync.Mutex
	checked time.Time
	stamp   string
	cert    *tls.Certificate
	pool    *x509.CertPool
}

// Current returns the certificate and the CA pool the files hold now.
func (f *Files) Current() (*tls.Certificate, *x509.CertPool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	check := f.Check
	if check <= 0 {
		check = 5 * time.Second
	}
	now := time.Now()
	if f.cert != nil && now.Sub(f.checked) < check {
		return f.cert, f.pool, nil
	}
	f.checked = now
	stamp, err := f.stampOf()
	if err != nil {
		if f.cert != nil {
			// A swap in progress: keep serving what was loaded.
			return f.cert, f.pool, nil
		}
		return nil, nil, err
	}
	if f.cert != nil && stamp == f.stamp {
		return f.cert, f.pool, nil
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		if f.cert != nil {
			return f.cert, f.pool, nil
		}
		return nil, nil, fmt.Errorf("loading %s and %s: %w", f.CertFile, f.KeyFile, err)
	}
	pem, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("%s holds no PEM certificate", f.CAFile)
	}
	f.cert, f.pool, f.stamp = &cert, pool, stamp
	return f.cert, f.pool, nil
}

func (f *Files) stampOf() (string, error) {
	var s string
	for _, name := range []string{f.CertFile, f.KeyFile, f.CAFile} {
		st, err := os.Stat(name)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%d/%d;", st.ModTime().UnixNano(), st.Size())
	}
	return s, nil
}

// ClientConfig is a TLS client configuration that presents the files' certificate and
// verifies the server against the files' CA and serverName.
func (f *Files) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, _, err := f.Current()
			return cert, err
		},
		// Verification is done below against the current CA, which may have rotated since the
		// connection pool was built; the standard verification is not skipped, it is replaced.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, pool, err := f.Current()
			if err != nil {
				return err
			}
			return verify(cs, pool, serverName, x509.ExtKeyUsageServerAuth)
		},
	}
}

// ServerConfig is a TLS server configuration with the files' certificate. With clientNames, a
// client must present a client certificate of the files' CA whose common name is one of them.
func (f *Files) ServerConfig(clientNames ...string) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, _, err := f.Current()
			return cert, err
		},
	}
	if len(clientNames) > 0 {
		c.ClientAuth = tls.RequireAnyClientCert
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			_, pool, err := f.Current()
			if err != nil {
				return err
			}
			if err := verify(cs, pool, "", x509.ExtKeyUsageClientAuth); err != nil {
				return err
			}
			cn := cs.PeerCertificates[0].Subject.CommonName
			for _, n := range clientNames {
				if cn == n {
					return nil
				}
			}
			return fmt.Errorf("client certificate %q is not one of the allowed clients", cn)
		}
	}
	return c
}

func verify(cs tls.ConnectionState, pool *x509.CertPool, dnsName string, usage x509.ExtKeyUsage) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the peer presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: pool, Intermediates: inter, DNSName: dnsName, KeyUsages: []x509.ExtKeyUsage{usage},
	})
	return err
}
