// Package modelproxy is the sidecar of every model pod (the role Knative's queue-proxy plays):
// it terminates mTLS for the gateway alone, holds the model to its concurrency with a bounded
// first-in-first-out queue, exports the in-flight count the autoscaler reads, and forwards to
// the model container on localhost. On SIGTERM it turns readiness off, keeps serving for a
// grace, then finishes in-flight and queued requests.
package modelproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"

	"github.com/serverlessplane/operator/internal/tlsfiles"
)

// Timeouts of the metrics and probe listener, whose answers are small and quick.
const (
	adminReadTimeout  = 10 * time.Second
	adminWriteTimeout = 30 * time.Second
	idleTimeout       = 90 * time.Second
	readHeaderTimeout = 10 * time.Second
	// writeSlack lets a request that ends at RequestTimeout still write its error.
	writeSlack = 5 * time.Second
	// adminShutdownTimeout bounds the metrics listener's close after the drain.
	adminShutdownTimeout = 5 * time.Second
)

// Server is the proxy: the scoring listener and the metrics and probe listener.
type Server struct {
	cfg     Config
	clock   clock.Clock
	log     *slog.Logger
	limiter *limiter
	metrics *metrics
	ready   *readiness
	scoring *http.Server
	admin   *http.Server
}

// New builds the proxy from cfg; it reads the TLS files once and fails if they are unusable.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	store, err := tlsfiles.Load(cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSClientCAFile, cfg.CertReloadInterval, clk)
	if err != nil {
		return nil, err
	}
	store.OnReloadError = func(err error) { log.Warn("keeping the previous TLS certificate and client CA", "err", err) }
	l := newLimiter(cfg.ContainerConcurrency, cfg.QueueDepth)
	m := newMetrics(l)
	transport := newTransport(cfg.ContainerConcurrency)
	s := &Server{cfg: cfg, clock: clk, log: log, limiter: l, metrics: m, ready: newReadiness(cfg.Upstream, transport)}
	errorLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	s.scoring = &http.Server{
		Handler:           scoringHandler(cfg, clk, l, m, transport, log),
		TLSConfig:         store.ServerConfig(cfg.AllowedClientNames),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       cfg.RequestTimeout,
		WriteTimeout:      cfg.RequestTimeout + writeSlack,
		IdleTimeout:       idleTimeout,
		ErrorLog:          errorLog,
	}
	s.admin = &http.Server{
		Handler:           s.adminHandler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          errorLog,
	}
	return s, nil
}

func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.Handle("GET /readyz", s.ready)
	return mux
}

// Serve serves scoring traffic over TLS on scoring and metrics and probes on admin until Drain
// (then it returns nil) or until a listener fails (then it closes both and returns the error).
func (s *Server) Serve(scoring, admin net.Listener) error {
	errc := make(chan error, 2)
	go func() { errc <- s.scoring.ServeTLS(scoring, "", "") }()
	go func() { errc <- s.admin.Serve(admin) }()
	var first error
	for range 2 {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && first == nil {
			first = err
			_ = s.scoring.Close()
			_ = s.admin.Close()
		}
	}
	return first
}

// Drain is the answer to SIGTERM: /readyz fails at once; the scoring listener keeps accepting
// for DrainGrace while endpoints stop routing here, then closes and waits up to DrainTimeout
// for in-flight and queued requests; last the metrics listener closes. It returns an error if
// requests were still running at the timeout (they are cut). ctx ending cuts the grace short.
func (s *Server) Drain(ctx context.Context) error {
	s.ready.draining.Store(true)
	active, queued := s.limiter.load()
	s.log.Info("draining", "grace", s.cfg.DrainGrace.String(), "timeout", s.cfg.DrainTimeout.String(), "inflight", active, "queued", queued)
	if s.cfg.DrainGrace > 0 {
		select {
		case <-s.clock.After(s.cfg.DrainGrace):
		case <-ctx.Done():
		}
	}
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DrainTimeout)
	defer cancel()
	err := s.scoring.Shutdown(drainCtx)
	if err != nil {
		active, queued := s.limiter.load()
		err = fmt.Errorf("%d requests in flight and %d queued after %s: %w", active, queued, s.cfg.DrainTimeout, err)
		_ = s.scoring.Close()
	}
	adminCtx, cancelAdmin := context.WithTimeout(context.WithoutCancel(ctx), adminShutdownTimeout)
	defer cancelAdmin()
	if adminErr := s.admin.Shutdown(adminCtx); adminErr != nil {
		_ = s.admin.Close()
	}
	return err
}
