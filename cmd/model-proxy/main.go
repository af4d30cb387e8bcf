// Command model-proxy is the sidecar of every model pod: mTLS for the gateway, a concurrency
// limit with a bounded queue, in-flight metrics, and a reverse proxy to the model container on
// localhost. It is configured by environment variables (docs/model-proxy.md).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/serverlessplane/operator/internal/modelproxy"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(log)
	if err := run(log); err != nil {
		log.Error("model-proxy failed", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	cfg, err := modelproxy.FromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	cfg.Logger = log
	srv, err := modelproxy.New(cfg)
	if err != nil {
		return err
	}
	scoring, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return err
	}
	admin, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.MetricsPort)))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(scoring, admin) }()
	log.Info("serving", "port", cfg.Port, "metricsPort", cfg.MetricsPort, "upstream", cfg.Upstream.String(),
		"concurrency", cfg.ContainerConcurrency, "queueDepth", cfg.QueueDepth)

	select {
	case err := <-served:
		if err != nil {
			return fmt.Errorf("serving: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	stop() // a second signal ends the process at once
	if err := srv.Drain(context.Background()); err != nil {
		// The pod is going away either way; the cut requests are logged, not an exit code.
		log.Warn("drain timed out", "err", err)
	}
	if err := <-served; err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	log.Info("drained")
	return nil
}
