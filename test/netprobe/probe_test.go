package netprobe

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseTarget(t *testing.T) {
	cases := []struct {
		in      string
		want    Target
		wantErr bool
	}{
		{in: "tcp:10.0.0.1:80", want: Target{Proto: "tcp", Host: "10.0.0.1", Port: 80}},
		{in: "udp:10.0.0.1:53", want: Target{Proto: "udp", Host: "10.0.0.1", Port: 53}},
		{in: "sctp:10.0.0.1:80", wantErr: true},
		{in: "tcp:10.0.0.1", wantErr: true},
		{in: "tcp:10.0.0.1:0", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseTarget(c.in)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, c.wantErr)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestLineRoundTrip(t *testing.T) {
	r := Result{Target: Target{Proto: "tcp", Host: "10.0.0.1", Port: 8443}, Detail: "i/o timeout"}
	got, err := ParseLine(r.Line())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// freePort returns a loopback port with nothing listening on it.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestServeAndConnect(t *testing.T) {
	tcpPort, udpPort := freePort(t, "tcp"), freePort(t, "udp")
	closedTCP, closedUDP := freePort(t, "tcp"), freePort(t, "udp")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, []int{tcpPort}, []int{udpPort}) }()
	targets := []Target{
		{Proto: "tcp", Host: "127.0.0.1", Port: tcpPort},
		{Proto: "udp", Host: "127.0.0.1", Port: udpPort},
		{Proto: "tcp", Host: "127.0.0.1", Port: closedTCP},
		{Proto: "udp", Host: "127.0.0.1", Port: closedUDP},
	}
	want := []bool{true, true, false, false}
	deadline := time.Now().Add(30 * time.Second)
	for {
		results := ConnectAll(context.Background(), targets, time.Second)
		got := make([]bool, len(results))
		for i, r := range results {
			got[i] = r.Allowed
		}
		if cmp.Equal(want, got) {
			break
		}
		if time.Now().After(deadline) { // the listeners are up well before this
			t.Fatalf("allowed (-want +got)\n%s", cmp.Diff(want, got))
		}
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

func TestEnvPorts(t *testing.T) {
	env := []string{"PORT=8443", "METRICS_PORT=9090", "SERVERLESSPLANE_SQL_PORT=8080", "KUBERNETES_SERVICE_PORT=443",
		"HOME=/", "BAD_PORT=http", "HUGE_PORT=70000", "REPORT=1"}
	want := []int{443, PeerPort, 8080, 8443, 9090}
	if diff := cmp.Diff(want, EnvPorts(env)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// A TLS server that demands a client certificate, an HTTP server and the probe's own HTTP answer
// all count as answering; a closed port does not.
func TestApplicationTargets(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	httpSrv := httptest.NewServer(http.NotFoundHandler())
	defer httpSrv.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	_ = closed.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	probePort := freePort(t, "tcp")
	go func() { _ = Serve(ctx, []int{probePort}, nil) }()

	target := func(proto, addr string) Target {
		tgt, err := ParseTarget(proto + ":" + addr)
		if err != nil {
			t.Fatal(err)
		}
		return tgt
	}
	probeAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(probePort))
	waitListening(t, probeAddr)
	for _, c := range []struct {
		target Target
		want   bool
	}{
		{target("tls", tlsSrv.Listener.Addr().String()), true},
		{target("http", httpSrv.Listener.Addr().String()), true},
		{target("http", probeAddr), true},
		{target("tcp", probeAddr), true},
		{target("tls", closedAddr), false},
		{target("http", closedAddr), false},
		{target("tls", httpSrv.Listener.Addr().String()), false},
	} {
		got := ConnectAll(ctx, []Target{c.target}, 5*time.Second)[0]
		if got.Allowed != c.want {
			t.Errorf("%s: allowed = %t, want %t (%s)", c.target, got.Allowed, c.want, got.Detail)
		}
	}
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never listened", addr)
}
