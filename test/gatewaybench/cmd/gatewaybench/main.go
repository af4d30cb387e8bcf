// Command gatewaybench measures the latency the model proxy and the gateway add in front of the
// model server: at each offered rate it sends vegeta's constant-rate load (a) straight to the
// model server, (b) through the model proxy over mTLS and (c) through the gateway and the
// proxy, all on loopback in this process, and writes a markdown report to stdout with the
// added p50 and p99 checked against the targets. Progress goes to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

func run() error {
	rates := flag.String("rates", "1000,200", "offered rates in requests per second, comma-separated")
	targetRate := flag.Int("target-rate", 1000, "the rate at which the latency targets apply")
	duration := flag.Duration("duration", 10*time.Second, "measured time per configuration and rate")
	warmup := flag.Duration("warmup", 2*time.Second, "unmeasured load per configuration and rate before measuring")
	rounds := flag.Int("rounds", 10, "rounds the measured time is split into, the configurations interleaved")
	concurrency := flag.Int("concurrency", 64, "the model proxy's CONTAINER_CONCURRENCY")
	authTTL := flag.Duration("auth-ttl", 10*time.Minute, "how long the gateway caches token and access decisions")
	reader := flag.String("reader", readerCache, "what the gateway reads the ModelEndpoint and EndpointSlice from: cache (in memory, deep copies, as an informer cache) or fake (controller-runtime's fake client)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured runs to this file")
	flag.Parse()
	offered, err := parseRates(*rates)
	if err != nil {
		return err
	}
	if *rounds < 1 || *duration < time.Duration(*rounds)*100*time.Millisecond {
		return fmt.Errorf("-rounds %d with -duration %s leaves under 100ms per round", *rounds, *duration)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "gatewaybench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	s, err := startStack(ctx, dir, stackOptions{concurrency: *concurrency, authTTL: *authTTL, reader: *reader})
	if err != nil {
		return err
	}
	paths := s.paths()
	if err := check(ctx, paths); err != nil {
		return fmt.Errorf("a configuration does not score: %w", err)
	}
	attackers := make([]*attacker, len(paths))
	for i, p := range paths {
		attackers[i] = newAttacker(p)
	}
	progress := func(msg string) { fmt.Fprintln(os.Stderr, "gatewaybench:", msg) }

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	loadBefore := loadAverage()
	var rows []summary
	for _, rate := range offered {
		samples := measure(attackers, rate, *warmup, *duration, *rounds, progress)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for i, smp := range samples {
			rows = append(rows, summarize(paths[i].name, rate, smp))
		}
	}

	setup := []string{
		fmt.Sprintf("%s per configuration and rate after a %s warm-up, in %d interleaved rounds; one request body of one iris row (MLflow `dataframe_split`), POST /invocations.", *duration, *warmup, *rounds),
		fmt.Sprintf("Machine: %s/%s, %d CPUs, GOMAXPROCS %d, %s, load average %s before and %s after. The load generator, the gateway, the proxy and the model server share these CPUs in one process, and with whatever else runs there: a stall of the process shows in every configuration measured at that moment, which the interleaving spreads across them.", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadBefore, loadAverage()),
		"Model server: internal/modelserver with the embedded iris XGBoost model, plain HTTP on 127.0.0.1.",
		fmt.Sprintf("Model proxy: internal/modelproxy, CONTAINER_CONCURRENCY %d (queue %d), mTLS requiring the gateway's client certificate; (b)'s client uses the gateway's certificate and the gateway's transport settings (HTTP/2 over TLS, keep-alive).", *concurrency, *concurrency*10),
		"Gateway: internal/gateway's handler chain (authenticate, authorize, rate limits, route, least-loaded pick, mTLS reverse proxy) behind a plain HTTP front on 127.0.0.1; (a) and (c) use HTTP/1.1 keep-alive clients.",
		readerLine(*reader, s.readCost),
		fmt.Sprintf("The gateway reviews tokens and access with a client-go fake clientset. Decisions are cached for %s, so the run made %d TokenReview and %d SubjectAccessReview in all: in steady state authentication and authorization cost a hash and two map lookups per request, as they do in a cluster between TTL expiries.", *authTTL, s.reviews.Tokens.Load(), s.reviews.Access.Load()),
		"Latency is vegeta's, from sending a request to reading the whole response, for every request sent.",
	}
	writeReport(os.Stdout, setup, rows, *targetRate)
	return nil
}

func readerLine(reader string, cost map[string]time.Duration) string {
	us := func(name string) string {
		return fmt.Sprintf("%.1f µs", float64(cost[name])/float64(time.Microsecond))
	}
	what := "an in-memory reader that, like the gateway's informer cache, looks objects up and deep-copies them"
	if reader == readerFake {
		what = "controller-runtime's fake client, whose reads round-trip objects through JSON"
	}
	return fmt.Sprintf("The gateway reads the ModelEndpoint and its EndpointSlice (one Get and one List per request) from %s (`-reader=%s`). Those reads cost %s per request with `-reader=cache` and %s with `-reader=fake`, measured apart.", what, reader, us(readerCache), us(readerFake))
}

// loadAverage is the one-minute load average, or "unknown" off Linux.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if fields := strings.Fields(string(data)); err == nil && len(fields) > 0 {
		return fields[0]
	}
	return "unknown"
}

func parseRates(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-rates: %q is not a positive number of requests per second", f)
		}
		out = append(out, n)
	}
	return out, nil
}
