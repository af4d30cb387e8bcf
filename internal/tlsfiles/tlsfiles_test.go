package tlsfiles

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/serverlessplane/operator/pkg/certs"
)

// write puts pair and the CA into dir as tls.crt, tls.key and ca.crt, each replaced by a
// rename as the kubelet's swap replaces them: new files, never a rewrite in place.
func write(t *testing.T, dir string, pair, ca certs.Pair) {
	t.Helper()
	for name, data := range map[string][]byte{"tls.crt": pair.Cert, "tls.key": pair.Key, "ca.crt": ca.Cert} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path+".new", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
}

func load(t *testing.T, dir string, clk *clocktesting.FakeClock) *Files {
	t.Helper()
	f, err := Load(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt"), time.Second, clk)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// handshake connects a client with cc to a server with sc over a pipe and returns the client's
// and the server's errors.
func handshake(sc, cc *tls.Config) (clientErr, serverErr error) {
	a, b := net.Pipe()
	done := make(chan error, 1)
	go func() {
		s := tls.Server(a, sc)
		err := s.Handshake()
		if err == nil {
			// TLS 1.3: the server verifies the client after the client's handshake returns.
			_, err = s.Write([]byte("x"))
		}
		done <- err
		_ = a.Close()
	}()
	c := tls.Client(b, cc)
	clientErr = c.Handshake()
	if clientErr == nil {
		buf := make([]byte, 1)
		_, clientErr = c.Read(buf)
	}
	_ = b.Close()
	return clientErr, <-done
}

func TestClientAndServer(t *testing.T) {
	now := time.Now()
	ca, err := certs.NewCA("test-ca", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.NewCA("other-ca", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca certs.Pair, usage certs.Usage, cn string, names ...string) certs.Pair {
		p, err := certs.Issue(ca, usage, cn, names, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	clk := clocktesting.NewFakeClock(now)
	serverDir, gatewayDir, strangerDir, foreignDir := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	write(t, serverDir, issue(ca, certs.Serving, "model", "m-e.ws.svc"), ca)
	write(t, gatewayDir, issue(ca, certs.Client, "gateway"), ca)
	write(t, strangerDir, issue(ca, certs.Client, "stranger"), ca)
	write(t, foreignDir, issue(other, certs.Client, "gateway"), other)
	server, gateway, stranger, foreign := load(t, serverDir, clk), load(t, gatewayDir, clk), load(t, strangerDir, clk), load(t, foreignDir, clk)

	for _, c := range []struct {
		name       string
		client     *tls.Config
		wantServer string // "" for success
	}{
		{"the allowed client for the right name", gateway.ClientConfig("m-e.ws.svc"), ""},
		{"another common name", stranger.ClientConfig("m-e.ws.svc"), "not allowed"},
		{"another CA", foreign.ClientConfig("m-e.ws.svc"), "certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, serverErr := handshake(server.ServerConfig([]string{"gateway"}), c.client)
			if (serverErr == nil) != (c.wantServer == "") || (serverErr != nil && !strings.Contains(serverErr.Error(), c.wantServer)) {
				t.Errorf("server error = %v, want %q", serverErr, c.wantServer)
			}
		})
	}
	t.Run("the client refuses a server certificate for another name", func(t *testing.T) {
		clientErr, _ := handshake(server.ServerConfig([]string{"gateway"}), gateway.ClientConfig("other-e.ws.svc"))
		if clientErr == nil || !strings.Contains(clientErr.Error(), "other-e.ws.svc") {
			t.Errorf("client error = %v, want a name mismatch", clientErr)
		}
	})
	t.Run("a rotated CA is used once the interval passes", func(t *testing.T) {
		// The server now trusts only the other CA: the gateway's certificate stops working
		// after the next check, the foreign one starts.
		write(t, serverDir, issue(other, certs.Serving, "model", "m-e.ws.svc"), other)
		if _, err := handshake(server.ServerConfig([]string{"gateway"}), gateway.ClientConfig("m-e.ws.svc")); err != nil {
			t.Fatalf("before the interval the old files still serve: %v", err)
		}
		clk.Step(2 * time.Second)
		if _, err := handshake(server.ServerConfig([]string{"gateway"}), gateway.ClientConfig("m-e.ws.svc")); err == nil {
			t.Error("after rotation the old CA's client is still accepted")
		}
		if _, err := handshake(server.ServerConfig([]string{"gateway"}), foreign.ClientConfig("m-e.ws.svc")); err != nil {
			t.Errorf("after rotation the new CA's client is refused: %v", err)
		}
	})
}
