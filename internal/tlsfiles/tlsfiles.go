// Package tlsfiles serves a certificate, its key and a CA bundle from PEM files that the kubelet
// refreshes in place: a mounted Secret is rotated by swapping a symlink to a new directory, so a
// stat (which follows the links) shows a different file. Every handshake uses the current
// files, re-read at most once per interval and only when they changed; a rotation that cannot
// be read yet keeps the previous pair and is retried. Renewing a certificate or rotating the CA
// restarts nothing.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// nextProtos offers HTTP/2 and HTTP/1.1.
var nextProtos = []string{"h2", "http/1.1"}

// Files holds one identity read from PEM files: a certificate and key, and the CA that its peers'
// certificates must chain to.
type Files struct {
	certFile, keyFile, caFile string
	interval                  time.Duration
	clock                     clock.PassiveClock
	// OnReloadError, when set, hears of a rotation that could not be read (the previous pair
	// stays in use).
	OnReloadError func(error)

	mu      sync.Mutex
	checked time.Time
	stats   []os.FileInfo
	cert    *tls.Certificate
	pool    *x509.CertPool
}

// Load reads the files, which must hold a usable pair and CA now, and re-reads them when they
// change, checking at most once per interval (0: on every use).
func Load(certFile, keyFile, caFile string, interval time.Duration, clk clock.PassiveClock) (*Files, error) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	f := &Files{certFile: certFile, keyFile: keyFile, caFile: caFile, interval: interval, clock: clk}
	if err := f.reloadIfChanged(); err != nil {
		return nil, err
	}
	f.checked = clk.Now()
	return f, nil
}

// Current is the certificate and CA pool for a new handshake.
func (f *Files) Current() (*tls.Certificate, *x509.CertPool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.clock.Now(); f.interval == 0 || now.Sub(f.checked) >= f.interval {
		f.checked = now
		if err := f.reloadIfChanged(); err != nil && f.OnReloadError != nil {
			f.OnReloadError(err)
		}
	}
	return f.cert, f.pool
}

func (f *Files) reloadIfChanged() error {
	names := []string{f.certFile, f.keyFile, f.caFile}
	stats := make([]os.FileInfo, len(names))
	for i, name := range names {
		st, err := os.Stat(name)
		if err != nil {
			return err
		}
		stats[i] = st
	}
	if f.stats != nil && slices.EqualFunc(f.stats, stats, sameFile) {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("reading the certificate %s and key %s: %w", f.certFile, f.keyFile, err)
	}
	caPEM, err := os.ReadFile(f.caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%s holds no PEM certificate", f.caFile)
	}
	f.cert, f.pool, f.stats = &cert, pool, stats
	return nil
}

func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// ServerConfig serves the certificate. With allowedClients, a client must present a certificate
// that chains to the CA, is for client authentication and whose common name is allowed:
// everything else fails the handshake. (One CA issues the serving certificates of every
// workspace's model pods, so the usage and the name matter as much as the chain.)
func (f *Files) ServerConfig(allowedClients []string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := f.Current()
			c := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: nextProtos, Certificates: []tls.Certificate{*cert}}
			if len(allowedClients) > 0 {
				c.ClientAuth, c.ClientCAs, c.VerifyConnection = tls.RequireAndVerifyClientCert, pool, VerifyClient(allowedClients)
				// Every connection proves its certificate against the current CA and
				// allow-list; a resumed session would skip a rotated CA.
				c.SessionTicketsDisabled = true
			}
			return c, nil
		},
	}
}

// VerifyClient accepts a verified client certificate that lists client authentication among its
// extended key usages and whose common name is allowed.
func VerifyClient(allowed []string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 || len(cs.VerifiedChains) == 0 {
			return errors.New("no verified client certificate")
		}
		leaf := cs.PeerCertificates[0]
		if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
			return fmt.Errorf("the certificate of %q is not for client authentication", leaf.Subject.CommonName)
		}
		if !slices.Contains(allowed, leaf.Subject.CommonName) {
			return fmt.Errorf("client %q is not allowed", leaf.Subject.CommonName)
		}
		return nil
	}
}

// ClientConfig presents the certificate and verifies the server against the current CA for
// serverName. The standard verification is replaced, not skipped: it runs in VerifyConnection
// against the CA as it is at each handshake, which may have rotated since the connection pool
// was built.
func (f *Files) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, _ := f.Current()
			return cert, nil
		},
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, pool := f.Current()
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: pool, Intermediates: inter, DNSName: serverName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			return err
		},
	}
}
