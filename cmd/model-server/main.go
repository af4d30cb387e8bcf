// Command model-server is the default model container of a served entity: MLflow's scoring
// protocol on PORT for an XGBoost or LightGBM model (the built-in iris sample unless
// MODEL_PATH names another), Prometheus metrics on METRICS_PORT. See docs/model-server.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/serverlessplane/operator/internal/modelserver"
)

// version is the server's version, set at build time with -ldflags "-X main.version=v1.2.3";
// without it, the module version Go recorded in the binary.
var version string

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("model server failed", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	cfg, err := modelserver.FromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	cfg.ServerVersion = serverVersion()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	api, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return err
	}
	metrics, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.MetricsPort))
	if err != nil {
		return err
	}
	return modelserver.Serve(ctx, cfg, api, metrics, log)
}

func serverVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		return info.Main.Version
	}
	return "unknown"
}
