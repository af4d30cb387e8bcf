// Command sqlbench measures what the SQL path costs: TPC-H queries through the gateway and a
// warehouse engine over mTLS on loopback, against the same queries on an embedded DuckDB in this
// process, and the statements per second a one-cluster warehouse sustains. It prints a Markdown
// report (make bench-sql writes it to docs/sql-benchmark.md).
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/gateway"
	"github.com/serverlessplane/operator/internal/sqlengine"
	"github.com/serverlessplane/operator/internal/sqlwire"
	"github.com/serverlessplane/operator/internal/tpch"
	"github.com/serverlessplane/operator/test/gatewaybench/benchkit"
)

const (
	workspace = "bench"
	warehouse = "wh"
	// podAddr is the engine pod's address as the gateway reads it; the dialer maps it to the
	// engine's loopback listener.
	podAddr = "192.0.2.10:8443"
)

func main() {
	scale := flag.Float64("scale", 0.1, "TPC-H scale factor")
	data := flag.String("data", "bin/tpch", "directory of generated TPC-H scales (kept between runs)")
	runs := flag.Int("runs", 30, "timed runs of each query on each path")
	queries := flag.String("queries", "q1,q6,q3", "TPC-H queries to time")
	duration := flag.Duration("duration", 10*time.Second, "how long the throughput run lasts")
	clients := flag.Int("clients", 32, "concurrent clients of the throughput run")
	flag.Parse()
	if err := run(*scale, *data, *runs, strings.Split(*queries, ","), *duration, *clients); err != nil {
		fmt.Fprintln(os.Stderr, "sqlbench:", err)
		os.Exit(1)
	}
}

type stats struct{ median, p90 time.Duration }

func measure(d []time.Duration) stats {
	slices.Sort(d)
	return stats{median: d[len(d)/2], p90: d[len(d)*9/10]}
}

func run(scale float64, dataDir string, runs int, queries []string, duration time.Duration, clients int) error {
	ctx := context.Background()
	dir := filepath.Join(dataDir, tpch.ScaleDirName(scale))
	genStart := time.Now()
	// The generator reports its progress on standard output, which is the report's.
	stdout := os.Stdout
	os.Stdout = os.Stderr
	err := tpch.Generate(ctx, dir, scale)
	os.Stdout = stdout
	if err != nil {
		return err
	}
	gen := time.Since(genStart)

	direct, err := sql.Open("duckdb", sqlengine.DSN)
	if err != nil {
		return err
	}
	defer direct.Close()
	direct.SetMaxOpenConns(1)
	for _, s := range tpch.Views(dir) {
		if _, err := direct.Exec(s); err != nil {
			return err
		}
	}
	gw, stop, err := startStack(ctx, dir)
	if err != nil {
		return err
	}
	defer stop()
	arrowDriver, columnsDriver, stopDrivers, driverErr := startDrivers(ctx, gw.handler, gw.dir)
	if driverErr == nil {
		defer stopDrivers()
	}

	var rows []string
	for _, q := range queries {
		text, ok := tpch.Queries[q]
		if !ok {
			return fmt.Errorf("no TPC-H query %q", q)
		}
		var d, g, va, vc, sv []time.Duration
		for i := -3; i < runs; i++ { // three warm-up runs of each
			t0 := time.Now()
			n, err := runDirect(direct, text)
			if err != nil {
				return fmt.Errorf("%s direct: %w", q, err)
			}
			t1 := time.Now()
			m, err := gw.statement(text)
			if err != nil {
				return fmt.Errorf("%s through the gateway: %w", q, err)
			}
			t2 := time.Now()
			if n != m {
				return fmt.Errorf("%s: %d rows direct, %d through the gateway", q, n, m)
			}
			if i >= 0 {
				d, g = append(d, t1.Sub(t0)), append(g, t2.Sub(t1))
			}
			if arrowDriver != nil {
				for _, p := range []struct {
					drv   *driver
					times *[]time.Duration
					name  string
				}{{arrowDriver, &va, "Arrow"}, {columnsDriver, &vc, "column-based"}} {
					serverTimes.take()
					took, k, err := p.drv.statement(text)
					if err != nil {
						return fmt.Errorf("%s through the SQL driver (%s): %w", q, p.name, err)
					}
					if k != n {
						return fmt.Errorf("%s: %d rows direct, %d through the SQL driver (%s)", q, n, k, p.name)
					}
					if i >= 0 {
						*p.times = append(*p.times, took)
						sv = append(sv, serverTimes.take()...)
					}
				}
			}
		}
		ds, gs := measure(d), measure(g)
		row := fmt.Sprintf("| %s | %s | %s | %s | %s | %+.1f%% (%s) |", strings.ToUpper(q), ms(ds.median), ms(ds.p90), ms(gs.median), ms(gs.p90),
			100*(gs.median.Seconds()/ds.median.Seconds()-1), ms(gs.median-ds.median))
		for _, v := range [][]time.Duration{va, vc} {
			if len(v) == 0 {
				row += " – | – | – |"
				continue
			}
			vs := measure(v)
			row += fmt.Sprintf(" %s | %s | %+.1f%% (%s) |", ms(vs.median), ms(vs.p90), 100*(vs.median.Seconds()/ds.median.Seconds()-1), ms(vs.median-ds.median))
		}
		if len(sv) > 0 {
			row += fmt.Sprintf(" %s |", ms(measure(sv).median))
		} else {
			row += " – |"
		}
		rows = append(rows, row)
	}
	driverNote := "Databricks' Node SQL driver (`@databricks/sql` 2.1.0, test/clients) on one session of `POST /sql/1.0/warehouses/{id}` over TLS on loopback, " +
		"`executeStatement` (direct results, one Thrift call a statement) and `fetchAll`, timed by the driver's process; one driver reads Arrow batches (its default), one column-based sets; " +
		"the gateway's time in the driver's Thrift calls (from request to answer, both formats) is in the last column: the driver's time less it is spent in the driver's process"
	if driverErr != nil {
		driverNote = "not measured: " + driverErr.Error()
	}

	done, failed, elapsed := throughput(gw, "SELECT 1", duration, clients)
	q6done, q6failed, q6elapsed := throughput(gw, tpch.Queries["q6"], duration, clients)

	fmt.Printf(`# SQL path benchmark

`+"`make bench-sql`"+` on %d cores (GOMAXPROCS %d), TPC-H scale %g (go-tpc dbgen to Parquet, made in %s or
reused from %s). Each query runs %d times on each path, alternating, after three warm-up runs:

- **direct**: DuckDB embedded in this process, the same Parquet views, every row read;
- **gateway**: `+"`POST /api/2.0/sql/statements`"+` (wait 50s) to the gateway's handler on loopback
  (token and access reviews cached, as between TTL expiries), the statement queue, mTLS to a
  real engine (internal/sqlengine) on loopback, the result streamed back and answered as JSON;
- **driver**: %s.

| query | direct median | direct p90 | gateway median | gateway p90 | gateway overhead (median) | driver Arrow median | driver Arrow p90 | driver Arrow overhead (median) | driver columns median | driver columns p90 | driver columns overhead (median) | gateway's time in a driver call (median) |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
%s

A one-cluster warehouse (one engine, at most 10 statements at once), %d clients submitting for %s:

| statement | succeeded | failed | statements/s |
|---|---|---|---|
| SELECT 1 | %d | %d | %.0f |
| TPC-H Q6 | %d | %d | %.1f |
`, runtime.NumCPU(), runtime.GOMAXPROCS(0), scale, gen.Round(time.Millisecond), dir, runs, driverNote, strings.Join(rows, "\n"),
		clients, duration, done, failed, float64(done)/elapsed.Seconds(), q6done, q6failed, float64(q6done)/q6elapsed.Seconds())
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func runDirect(db *sql.DB, q string) (int, error) {
	rows, err := db.Query(q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// throughput runs clients that submit the statement back to back for d.
func throughput(gw *gatewayClient, statement string, d time.Duration, clients int) (done, failed int64, elapsed time.Duration) {
	var ok, bad atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if _, err := gw.statement(statement); err != nil {
					bad.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return ok.Load(), bad.Load(), time.Since(start)
}

type gatewayClient struct {
	url    string
	client *http.Client
	// handler is the gateway's, for the SQL driver's TLS front; dir holds the stack's files.
	handler http.Handler
	dir     string
}

// statement submits a statement, waits for it and returns its row count.
func (g *gatewayClient) statement(text string) (int, error) {
	body, _ := json.Marshal(map[string]any{"statement": text, "warehouse_id": warehouse, "wait_timeout": "50s"})
	req, _ := http.NewRequest(http.MethodPost, g.url+"/workspaces/"+workspace+"/api/2.0/sql/statements", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+benchkit.UserToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var st sqlwire.Response
	if err := json.Unmarshal(raw, &st); err != nil || st.Status.State != "SUCCEEDED" || st.Manifest == nil {
		return 0, fmt.Errorf("%d %s", resp.StatusCode, raw)
	}
	return int(st.Manifest.TotalRowCount), nil
}

// startStack starts an engine over mTLS and the gateway in front of it, reading a warehouse and
// its one ready pod from controller-runtime's fake client.
func startStack(ctx context.Context, tpchDir string) (*gatewayClient, func(), error) {
	tmp, err := os.MkdirTemp("", "sqlbench-")
	if err != nil {
		return nil, nil, err
	}
	servingName := warehouse + "." + workspace + ".svc"
	pki, err := benchkit.NewPKI(tmp, servingName)
	if err != nil {
		return nil, nil, err
	}
	engine, err := sqlengine.Open(ctx, sqlengine.Options{TPCHDir: tpchDir, TempDir: tmp})
	if err != nil {
		return nil, nil, err
	}
	files, err := pki.ServingFiles()
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := sqlengine.NewServer(engine, files, []string{benchkit.GatewayClientName}, 64, log)
	engineLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	go func() { _ = srv.Serve(engineLn, adminLn) }()

	scheme := k8sruntime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = computev1.AddToScheme(scheme)
	wh := &computev1.ServerlessWarehouse{ObjectMeta: metav1.ObjectMeta{Namespace: workspace, Name: warehouse}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: workspace, Name: warehouse + "-c1-0", Labels: map[string]string{
			computev1.LabelWarehouse: warehouse, computev1.LabelCluster: "c1", computev1.LabelManagedBy: computev1.ManagedByValue,
			"compute.serverlessplane.io/serving": "true",
		}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "engine", Ports: []corev1.ContainerPort{{Name: "sql", ContainerPort: 8443}}}}},
		Status: corev1.PodStatus{PodIP: "192.0.2.10", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(wh, pod).WithStatusSubresource(pod).Build()
	clk := clock.RealClock{}
	g := gateway.New(gateway.Options{
		Reader: reader, Writer: reader, Upstream: pki.Gateway, Domain: "sql.example",
		Auth:  &gateway.Authorizer{Client: benchkit.NewClientset(&benchkit.Reviews{}), Clock: clk, TTL: time.Hour},
		Clock: clk, Metrics: gateway.NewMetrics(), Log: logr.Discard(),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != podAddr {
				return nil, fmt.Errorf("no engine at %s", addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, engineLn.Addr().String())
		},
	})
	runCtx, cancel := context.WithCancel(ctx)
	go g.Run(runCtx)
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return nil, nil, err
	}
	hs := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(front) }()
	stop := func() {
		cancel()
		_ = hs.Close()
		_ = srv.Shutdown(context.Background())
		_ = engine.Close()
		_ = os.RemoveAll(tmp)
	}
	return &gatewayClient{url: "http://" + front.Addr().String(), client: &http.Client{Timeout: time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 256}}, handler: hs.Handler, dir: tmp}, stop, nil
}
