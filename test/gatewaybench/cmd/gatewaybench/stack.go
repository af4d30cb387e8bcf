package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/serverlessplane/operator/test/gatewaybench/benchkit"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serverlessplane/operator/internal/gateway"
	"github.com/serverlessplane/operator/internal/modelproxy"
	"github.com/serverlessplane/operator/internal/modelserver"
)

// stack is the serving path on loopback: the model server, the model proxy in front of it and
// the gateway in front of the proxy, each on its own listener in this process.
type stack struct {
	// model is the model server's plain HTTP address, proxy the proxy's mTLS address and
	// gateway the gateway's plain HTTP address; all host:port on 127.0.0.1.
	model, proxy, gateway string
	pki                   benchkit.PKI
	reviews               *benchkit.Reviews
	// readCost is the mean time of the gateway's per-request reads with each reader.
	readCost map[string]time.Duration
}

// stackOptions are the knobs of the system under test.
type stackOptions struct {
	// concurrency is the proxy's CONTAINER_CONCURRENCY; its queue is ten times as deep.
	concurrency int
	// authTTL is how long the gateway reuses a token's and an access decision.
	authTTL time.Duration
	// reader is what the gateway reads endpoints and slices from: readerCache or readerFake.
	reader string
}

// The readers the gateway can read from.
const (
	readerCache = "cache"
	readerFake  = "fake"
)

// startStack starts the three servers and waits until each answers; they run until the
// process exits.
func startStack(ctx context.Context, dir string, o stackOptions) (*stack, error) {
	quiet := slog.New(slog.DiscardHandler)
	s := &stack{reviews: &benchkit.Reviews{}}
	var err error
	if s.pki, err = benchkit.NewPKI(dir, servingName); err != nil {
		return nil, err
	}

	modelAPI, modelMetrics, err := listen2()
	if err != nil {
		return nil, err
	}
	s.model = modelAPI.Addr().String()
	go func() {
		cfg := modelserver.Config{MaxRequestBytes: modelserver.DefaultMaxRequestBytes, DrainTimeout: time.Second}
		if err := modelserver.Serve(ctx, cfg, modelAPI, modelMetrics, quiet); err != nil {
			slog.Error("model server stopped", "error", err)
		}
	}()

	proxyScoring, proxyAdmin, err := listen2()
	if err != nil {
		return nil, err
	}
	s.proxy = proxyScoring.Addr().String()
	proxy, err := modelproxy.New(modelproxy.Config{
		Port: modelproxy.DefaultPort, MetricsPort: modelproxy.DefaultMetricsPort,
		Upstream:    &url.URL{Scheme: "http", Host: s.model},
		TLSCertFile: s.pki.ServingCert, TLSKeyFile: s.pki.ServingKey, TLSClientCAFile: s.pki.CA,
		AllowedClientNames:   []string{benchkit.GatewayClientName},
		ContainerConcurrency: o.concurrency, QueueDepth: modelproxy.DefaultQueueDepthPerSlot * o.concurrency,
		DrainTimeout: time.Second, RequestTimeout: modelproxy.DefaultRequestTimeout,
		MaxRequestBytes: modelproxy.DefaultMaxRequestBytes, CertReloadInterval: modelproxy.DefaultCertReloadInterval,
		Logger: quiet,
	})
	if err != nil {
		return nil, fmt.Errorf("model proxy: %w", err)
	}
	go func() {
		if err := proxy.Serve(proxyScoring, proxyAdmin); err != nil {
			slog.Error("model proxy stopped", "error", err)
		}
	}()

	fakeClient, err := newFakeClient()
	if err != nil {
		return nil, err
	}
	readers := map[string]client.Reader{readerCache: newCacheReader(), readerFake: fakeClient}
	reader, ok := readers[o.reader]
	if !ok {
		return nil, fmt.Errorf("no reader %q: want %q or %q", o.reader, readerCache, readerFake)
	}
	s.readCost = map[string]time.Duration{}
	for name, r := range readers {
		if s.readCost[name], err = readerCost(ctx, r, 2000); err != nil {
			return nil, fmt.Errorf("reading with the %s reader: %w", name, err)
		}
	}
	podAddr := net.JoinHostPort(podIP, strconv.Itoa(podPort))
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	clk := clock.RealClock{}
	gw := gateway.New(gateway.Options{
		Reader: reader, Writer: fakeClient,
		Auth:     &gateway.Authorizer{Client: benchkit.NewClientset(s.reviews), Clock: clk, TTL: o.authTTL},
		Upstream: s.pki.Gateway, Domain: "serving.example",
		HoldCapacity: 100, HoldTimeout: 10 * time.Second, Clock: clk, Metrics: gateway.NewMetrics(),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != podAddr {
				return nil, fmt.Errorf("no pod at %s", addr)
			}
			return dialer.DialContext(ctx, network, s.proxy)
		},
		Log: logr.Discard(),
	})
	gatewayLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.gateway = gatewayLn.Addr().String()
	// The same timeouts as cmd/gateway, with a plain HTTP front: TLS termination at the front is
	// the load balancer's or the gateway's own, and not what this measures.
	front := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := front.Serve(gatewayLn); !errors.Is(err, http.ErrServerClosed) {
			slog.Error("gateway stopped", "error", err)
		}
	}()

	if err := waitOK(ctx, "http://"+s.model+"/ping"); err != nil {
		return nil, fmt.Errorf("model server: %w", err)
	}
	if err := waitOK(ctx, "http://"+proxyAdmin.Addr().String()+"/readyz"); err != nil {
		return nil, fmt.Errorf("model proxy: %w", err)
	}
	return s, nil
}

func listen2() (net.Listener, net.Listener, error) {
	a, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	b, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// waitOK polls url until it answers 200, for up to ten seconds.
func waitOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer 200: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}
