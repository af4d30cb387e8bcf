package modelproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/serverlessplane/operator/pkg/certs"
)

// Shared test timings: deadlines are generous because they only bound a failure.
const (
	eventually = 10 * time.Second
	pollEvery  = 5 * time.Millisecond
	// serverName is the DNS name of the proxy's serving certificate.
	serverName = "ep.ws.svc"
	gatewayCN  = "serverlessplane-gateway"
)

// pki is a CA with helpers to issue certificates in the shapes the operator issues.
type pki struct {
	ca   certs.Pair
	pool *x509.CertPool
}

func newPKI(t *testing.T, name string) pki {
	t.Helper()
	ca, err := certs.NewCA(name, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.Cert)
	return pki{ca: ca, pool: pool}
}

func (p pki) pair(t *testing.T, usage certs.Usage, cn string, dns ...string) certs.Pair {
	t.Helper()
	pair, err := certs.Issue(p.ca, usage, cn, dns, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func (p pki) tlsCert(t *testing.T, usage certs.Usage, cn string) tls.Certificate {
	t.Helper()
	pair := p.pair(t, usage, cn)
	cert, err := tls.X509KeyPair(pair.Cert, pair.Key)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// secretDir lays files out as the kubelet does for a Secret volume: name -> ..data/name, with
// ..data a symlink to a versioned directory that a rotation replaces atomically.
type secretDir struct {
	dir     string
	version int
}

func newSecretDir(t *testing.T, files map[string][]byte) *secretDir {
	t.Helper()
	s := &secretDir{dir: t.TempDir()}
	s.write(t, files)
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(s.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *secretDir) path(name string) string { return filepath.Join(s.dir, name) }

// write puts files in a new version directory and swaps ..data to it.
func (s *secretDir) write(t *testing.T, files map[string][]byte) {
	t.Helper()
	s.version++
	version := fmt.Sprintf("..v%d", s.version)
	if err := os.Mkdir(filepath.Join(s.dir, version), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(s.dir, version, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

func secretFiles(ca pki, serving certs.Pair) map[string][]byte {
	return map[string][]byte{"tls.crt": serving.Cert, "tls.key": serving.Key, "ca.crt": ca.ca.Cert}
}

// proxyEnv is a running proxy in front of an httptest upstream, on loopback listeners.
type proxyEnv struct {
	srv      *Server
	pki      pki
	secret   *secretDir
	scoring  string // host:port
	admin    string // host:port
	served   chan error
	upstream *httptest.Server
}

// startProxy starts the proxy in front of upstream; edit adjusts the config first.
func startProxy(t *testing.T, upstream http.Handler, edit func(*Config)) *proxyEnv {
	t.Helper()
	env := &proxyEnv{pki: newPKI(t, "serverlessplane-ca"), served: make(chan error, 1)}
	env.upstream = httptest.NewServer(upstream)
	t.Cleanup(env.upstream.Close)
	env.secret = newSecretDir(t, secretFiles(env.pki, env.pki.pair(t, certs.Serving, serverName, serverName)))
	u, err := url.Parse(env.upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Port: DefaultPort, MetricsPort: DefaultMetricsPort, Upstream: u,
		TLSCertFile: env.secret.path("tls.crt"), TLSKeyFile: env.secret.path("tls.key"), TLSClientCAFile: env.secret.path("ca.crt"),
		AllowedClientNames: []string{gatewayCN}, ContainerConcurrency: 4, QueueDepth: 40,
		DrainTimeout: eventually, RequestTimeout: time.Minute, MaxRequestBytes: DefaultMaxRequestBytes,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	env.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	scoring, admin := listen(t), listen(t)
	env.scoring, env.admin = scoring.Addr().String(), admin.Addr().String()
	go func() { env.served <- env.srv.Serve(scoring, admin) }()
	t.Cleanup(func() {
		// A cancelled context skips the grace; after a test's own Drain this is a no-op.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = env.srv.Drain(ctx)
		if err := <-env.served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	if s, ok := upstream.(interface{ stop() }); ok {
		// Runs before the drain above: held requests are let go first.
		t.Cleanup(s.stop)
	}
	return env
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// client is a gateway-like HTTPS client presenting cert (none if nil), trusting roots.
func client(t *testing.T, roots *x509.CertPool, cert *tls.Certificate) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: eventually}
}

// gateway is a client with the gateway's certificate from the proxy's CA.
func (env *proxyEnv) gateway(t *testing.T) *http.Client {
	t.Helper()
	cert := env.pki.tlsCert(t, certs.Client, gatewayCN)
	return client(t, env.pki.pool, &cert)
}

func (env *proxyEnv) url(path string) string { return "https://" + env.scoring + path }

// poll waits until cond holds, failing after the shared deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pollEvery)
	}
}
