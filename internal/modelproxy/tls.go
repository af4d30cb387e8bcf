package modelproxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// nextProtos offers HTTP/2 and HTTP/1.1 on the scoring listener.
var nextProtos = []string{"h2", "http/1.1"}

// serverTLSConfig is the scoring listener's TLS: the serving certificate and client CA from
// store, re-read when the Secret rotates, and client certificates that verify against that CA,
// are for client authentication and name an allowed client. Everything else fails the
// handshake. The same CA issues the serving certificates of every workspace's model pods, so
// the usage and the name matter as much as the chain.
func serverTLSConfig(store *certStore, allowed []string) *tls.Config {
	verify := verifyClient(allowed)
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := store.current()
			return &tls.Config{
				MinVersion:       tls.VersionTLS12,
				NextProtos:       nextProtos,
				Certificates:     []tls.Certificate{*cert},
				ClientAuth:       tls.RequireAndVerifyClientCert,
				ClientCAs:        pool,
				VerifyConnection: verify,
				// Every connection proves its client certificate against the current CA and
				// allow-list; a resumed session would skip a rotated CA.
				SessionTicketsDisabled: true,
			}, nil
		},
	}
}

// verifyClient accepts a verified client certificate that lists client authentication among
// its extended key usages and whose Subject common name is allowed.
func verifyClient(allowed []string) func(tls.ConnectionState) error {
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

// certStore holds the serving certificate and client CA read from PEM files, and re-reads
// them when a file changes, checking at most once per interval. The kubelet rotates a Secret
// volume by swapping a symlink to a new directory, so a stat (which follows the links) shows a
// different file. A rotation that cannot be read keeps the previous pair and is retried.
type certStore struct {
	certFile, keyFile, caFile string
	interval                  time.Duration
	clock                     clock.PassiveClock
	log                       *slog.Logger

	mu      sync.Mutex
	checked time.Time
	stats   []os.FileInfo
	cert    *tls.Certificate
	pool    *x509.CertPool
}

func newCertStore(certFile, keyFile, caFile string, interval time.Duration, clk clock.PassiveClock, log *slog.Logger) (*certStore, error) {
	s := &certStore{certFile: certFile, keyFile: keyFile, caFile: caFile, interval: interval, clock: clk, log: log}
	if err := s.reloadIfChanged(); err != nil {
		return nil, err
	}
	s.checked = clk.Now()
	return s, nil
}

// current is the certificate and CA pool for a new handshake.
func (s *certStore) current() (*tls.Certificate, *x509.CertPool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.clock.Now(); s.interval == 0 || now.Sub(s.checked) >= s.interval {
		s.checked = now
		if err := s.reloadIfChanged(); err != nil {
			s.log.Warn("keeping the previous TLS certificate and client CA", "err", err)
		}
	}
	return s.cert, s.pool
}

func (s *certStore) reloadIfChanged() error {
	files := []string{s.certFile, s.keyFile, s.caFile}
	stats := make([]os.FileInfo, len(files))
	for i, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		stats[i] = st
	}
	if s.stats != nil && slices.EqualFunc(s.stats, stats, sameFile) {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return fmt.Errorf("reading the serving certificate: %w", err)
	}
	caPEM, err := os.ReadFile(s.caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%s holds no PEM certificate", s.caFile)
	}
	if s.cert != nil {
		s.log.Info("loaded a rotated TLS certificate and client CA")
	}
	s.cert, s.pool, s.stats = &cert, pool, stats
	return nil
}

func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}
