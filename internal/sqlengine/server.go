package sqlengine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/serverlessplane/operator/internal/apierror"
	"github.com/serverlessplane/operator/internal/sqlwire"
	"github.com/serverlessplane/operator/internal/tlsfiles"
)

// maxRequestBytes bounds a statement request: the text and its parameters.
const maxRequestBytes = 4 << 20

// Server serves the engine's statements over mTLS and its metrics and health in plain HTTP.
type Server struct {
	engine     *Engine
	maxRunning int64
	log        *slog.Logger
	sql, admin *http.Server

	registry *prometheus.Registry
	finished *prometheus.CounterVec
	duration prometheus.Histogram
}

// NewServer serves engine; tls presents the pod's certificate and admits only the allowed
// client names (the gateway). maxRunning bounds the statements run at once (past it 503).
func NewServer(engine *Engine, tls *tlsfiles.Files, allowedClients []string, maxRunning int, log *slog.Logger) *Server {
	s := &Server{engine: engine, maxRunning: int64(maxRunning), log: log, registry: prometheus.NewRegistry()}
	s.finished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "serverlessplane_sql_statements_total",
		Help: "Statements the engine finished, by final state (SUCCEEDED, FAILED, CANCELED).",
	}, []string{"state"})
	s.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "serverlessplane_sql_statement_duration_seconds", Help: "Time from a statement's arrival to the end of its result.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
	})
	s.registry.MustRegister(s.finished, s.duration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: sqlwire.RunningMetric, Help: "Statements the engine runs now."},
			func() float64 { return float64(engine.Running()) }))
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+sqlwire.Path, s.statement)
	s.sql = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if tls != nil {
		s.sql.TLSConfig = tls.ServerConfig(allowedClients)
	}
	admin := http.NewServeMux()
	admin.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	admin.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	admin.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	s.admin = &http.Server{Handler: admin, ReadHeaderTimeout: 10 * time.Second}
	return s
}

// Handler is the statement API, for tests that serve it themselves.
func (s *Server) Handler() http.Handler { return s.sql.Handler }

// Serve serves statements over TLS on sqlL and metrics on adminL until Shutdown.
func (s *Server) Serve(sqlL, adminL net.Listener) error {
	errc := make(chan error, 2)
	go func() { errc <- s.sql.ServeTLS(sqlL, "", "") }()
	go func() { errc <- s.admin.Serve(adminL) }()
	err := <-errc
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting statements and waits for those running to finish, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.sql.Shutdown(ctx)
	_ = s.admin.Shutdown(context.Background())
	return err
}

// statement runs one statement and streams its frames.
func (s *Server) statement(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req sqlwire.Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apierror.Write(w, http.StatusBadRequest, apierror.BadRequest, "the statement request is not valid JSON: "+err.Error())
		return
	}
	if s.maxRunning > 0 && s.engine.Running() >= s.maxRunning {
		apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable, fmt.Sprintf("the engine runs %d statements, as many as it may", s.maxRunning))
		return
	}
	w.Header().Set("Content-Type", sqlwire.ContentType)
	w.WriteHeader(http.StatusOK)
	out := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(out)
	flusher, _ := w.(http.Flusher)
	emit := func(f sqlwire.Frame) error {
		if err := enc.Encode(f); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	err := s.engine.Run(r.Context(), req, emit)
	state := "SUCCEEDED"
	var se *sqlwire.StatementError
	switch {
	case errors.As(err, &se):
		state = "FAILED"
		if se.ErrorCode == sqlwire.CodeCancelled {
			state = "CANCELED"
		}
		_ = emit(sqlwire.Frame{Error: se})
	case err != nil:
		state = "CANCELED" // the gateway left: it canceled the statement
	}
	s.finished.WithLabelValues(state).Inc()
	s.duration.Observe(time.Since(start).Seconds())
}
