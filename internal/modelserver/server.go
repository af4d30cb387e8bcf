package modelserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"
)

// Timeouts of both listeners. The scoring client is the model proxy on localhost, which keeps
// connections open between requests; a 16 MiB body arrives well within the read timeout.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
)

// Serve answers the scoring protocol on api and /metrics on metrics until ctx ends (SIGTERM),
// then drains: /ping turns 503, the server keeps accepting for cfg.DrainGrace, stops
// accepting and waits up to cfg.DrainTimeout for requests in flight. The model loads after
// the listeners are up, so /ping says 503 rather than refusing connections meanwhile. Serve
// returns nil after a clean drain, or the first error: a model that does not load, a
// listener that fails, or requests still in flight at the timeout.
func Serve(ctx context.Context, cfg Config, api, metrics net.Listener, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := NewHandler(VersionInfo{
		ModelName: cfg.ModelName, ModelVersion: cfg.ModelVersion,
		ModelSource: cfg.Model.String(), ServerVersion: cfg.ServerVersion,
	}, cfg.MaxRequestBytes, NewMetrics(reg), log)

	metricsMux := http.NewServeMux()
	metricsMux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	apiServer, metricsServer := newServer(h.Routes()), newServer(metricsMux)

	failed := make(chan error, 3)
	go func() { failed <- serve(apiServer, api, "scoring") }()
	go func() { failed <- serve(metricsServer, metrics, "metrics") }()
	go func() {
		start := time.Now()
		m, err := Load(cfg.Model)
		if err != nil {
			failed <- fmt.Errorf("loading the model from %s: %w", cfg.Model, err)
			return
		}
		h.SetModel(m)
		log.Info("model loaded", "source", cfg.Model.String(), "format", m.Format, "features", m.NumFeatures,
			"outputs", m.Outputs, "seconds", time.Since(start).Seconds())
	}()
	log.Info("serving", "scoring", api.Addr().String(), "metrics", metrics.Addr().String())

	var err error
	select {
	case err = <-failed:
	case <-ctx.Done():
		log.Info("draining", "grace", cfg.DrainGrace.String(), "timeout", cfg.DrainTimeout.String())
		h.Drain()
		select {
		case <-cfg.clock().After(cfg.DrainGrace):
		case err = <-failed:
		}
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	if shutdownErr := apiServer.Shutdown(drainCtx); shutdownErr != nil {
		err = errors.Join(err, fmt.Errorf("draining the scoring server: %w", shutdownErr))
	}
	// Metrics last, so the drain's requests are still scraped up to the end.
	if shutdownErr := metricsServer.Shutdown(drainCtx); shutdownErr != nil {
		err = errors.Join(err, fmt.Errorf("stopping the metrics server: %w", shutdownErr))
	}
	if err == nil {
		log.Info("drained")
	}
	return err
}

func (c Config) clock() clock.Clock {
	if c.Clock == nil {
		return clock.RealClock{}
	}
	return c.Clock
}

func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
	}
}

// serve runs s on ln; it returns nil once s is shut down.
func serve(s *http.Server, ln net.Listener, what string) error {
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s server: %w", what, err)
	}
	return nil
}
