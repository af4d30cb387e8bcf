// Command sql-engine is the engine of every warehouse worker pod: DuckDB, serving statements to
// the gateway over mTLS (docs/sql-engine.md). `sql-engine gen-tpch -scale S -out DIR` writes the
// TPC-H data of scale S as Parquet instead, which `make images` uses to put the demo data in the
// image.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/serverlessplane/operator/internal/sqlengine"
	"github.com/serverlessplane/operator/internal/tlsfiles"
	"github.com/serverlessplane/operator/internal/tpch"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(log)
	var err error
	if len(os.Args) > 1 && os.Args[1] == "gen-tpch" {
		err = genTPCH(os.Args[2:])
	} else {
		err = run(log)
	}
	if err != nil {
		log.Error("sql-engine failed", "err", err)
		os.Exit(1)
	}
}

func genTPCH(args []string) error {
	fs := flag.NewFlagSet("gen-tpch", flag.ContinueOnError)
	scale := fs.Float64("scale", 0.01, "TPC-H scale factor")
	out := fs.String("out", "", "directory to write <table>.parquet into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("gen-tpch: -out is required")
	}
	return tpch.Generate(context.Background(), *out, *scale)
}

func run(log *slog.Logger) error {
	cfg, err := sqlengine.FromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	tlsFiles, err := tlsfiles.Load(cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA, 5*time.Second, nil)
	if err != nil {
		return fmt.Errorf("loading the serving certificate: %w", err)
	}
	dir, generate := cfg.TPCHDir()
	if generate {
		start := time.Now()
		log.Info("generating TPC-H data: the image does not carry this scale", "scale", cfg.TPCHScale, "dir", dir)
		if err := tpch.Generate(ctx, dir, cfg.TPCHScale); err != nil {
			return fmt.Errorf("generating TPC-H data: %w", err)
		}
		log.Info("generated TPC-H data", "seconds", time.Since(start).Seconds())
	}
	engine, err := sqlengine.Open(ctx, sqlengine.Options{
		TPCHDir: dir, DataDir: cfg.DataDir, Threads: cfg.Threads, MemoryLimit: cfg.MemoryLimit,
		MaxTimeout: cfg.StatementTimeout, TempDir: cfg.TempDir, MaxTempSize: cfg.MaxTempSize,
	})
	if err != nil {
		return err
	}
	defer engine.Close()
	srv := sqlengine.NewServer(engine, tlsFiles, cfg.AllowedClients, cfg.MaxRunning, log)
	// Listening last: the readiness probe passes only once the data is shown.
	sqlL, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return err
	}
	adminL, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.MetricsPort)))
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sqlL, adminL) }()
	log.Info("serving", "port", cfg.Port, "metricsPort", cfg.MetricsPort, "tpch", dir, "data", cfg.DataDir, "maxRunning", cfg.MaxRunning)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stop()
	drain, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(drain); err != nil {
		log.Warn("drain timed out: statements still running were cut", "err", err)
	}
	log.Info("drained")
	return nil
}
