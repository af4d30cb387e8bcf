// Command ledger measures the regional quota ledger at the scale of a large region against a
// real kube-apiserver and etcd (envtest): it reserves capacity for N warehouses of one region
// through warehouse.Ledger, several at once, and prints, as Markdown, the bytes and writes each
// change sent to the API server for the first and the last warehouses (a change must cost the
// same in a region of 10 or 10,000 warehouses), the time per change, the largest ledger
// object, and whether the total equals the sum of the reservations and stays within the quota
// when more is asked than fits.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/controllers/warehouse"
	"github.com/serverlessplane/operator/pkg/quota"
	"github.com/serverlessplane/operator/test/framework"
)

func main() {
	n := flag.Int("warehouses", 10000, "warehouses reserving capacity in one region")
	workers := flag.Int("workers", 8, "changes under way at once")
	sample := flag.Int("sample", 500, "changes measured at the start and at the end")
	flag.Parse()
	if err := run(context.Background(), *n, *workers, *sample); err != nil {
		fmt.Fprintln(os.Stderr, "ledger:", err)
		os.Exit(1)
	}
}

// counter counts the writes a client sends and the bytes of their bodies.
type counter struct {
	next          http.RoundTripper
	writes, bytes atomic.Int64
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
		c.writes.Add(1)
		c.bytes.Add(int64(len(body)))
	} else if req.Method == http.MethodDelete {
		c.writes.Add(1)
	}
	return c.next.RoundTrip(req)
}

// phase is what a run of changes cost.
type phase struct {
	changes        int
	writes, bytes  int64
	elapsed        time.Duration
	first, ofTotal int
}

func run(ctx context.Context, n, workers, sample int) error {
	root, err := framework.RepoRoot()
	if err != nil {
		return err
	}
	assets, err := framework.BinaryAssets(root)
	if err != nil {
		return err
	}
	scheme := framework.NewScheme()
	env := &envtest.Environment{
		CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets, Scheme: scheme,
	}
	restConfig, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting envtest: %w", err)
	}
	defer func() { _ = env.Stop() }()
	restConfig.QPS, restConfig.Burst = 1000, 2000
	count := &counter{}
	restConfig.Wrap(func(rt http.RoundTripper) http.RoundTripper { count.next = rt; return count })
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	cfg := configv1.Default()
	const region, step = "bench-1", 12
	// Room for every warehouse but the last 10: the last changes ask for more than fits.
	quotaDBU := int64(n-10) * step
	cfg.Regions = append(cfg.Regions, configv1.Region{Name: region, Serverless: true, ServerlessQuotaDBU: quotaDBU})
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.OperatorNamespace}}); err != nil {
		return err
	}
	l := &warehouse.Ledger{Client: c, Reader: c, Namespace: cfg.OperatorNamespace, Config: cfg}

	// The region's total, as the operator's first repair makes it. (A later repair would release
	// every reservation below: they are of warehouses that do not exist.)
	if err := l.Repair(ctx, region); err != nil {
		return err
	}
	reserve := func(i int) error {
		key := quota.Key(fmt.Sprintf("team-%d", i%100), fmt.Sprintf("wh-%d", i))
		_, err := l.Update(ctx, region, key, func(others, own int64) int64 {
			return own + int64(quota.Fit(quotaDBU, others, own, step, 1))*step
		})
		return err
	}
	measure := func(from, to int) (phase, error) {
		w0, b0, start := count.writes.Load(), count.bytes.Load(), time.Now()
		if err := parallel(from, to, workers, reserve); err != nil {
			return phase{}, err
		}
		return phase{changes: to - from, writes: count.writes.Load() - w0, bytes: count.bytes.Load() - b0,
			elapsed: time.Since(start), first: from}, nil
	}
	fmt.Fprintf(os.Stderr, "reserving for %d warehouses, %d at a time\n", n, workers)
	first, err := measure(0, sample)
	if err != nil {
		return err
	}
	if _, err := measure(sample, n-sample); err != nil {
		return err
	}
	last, err := measure(n-sample, n)
	if err != nil {
		return err
	}
	total, ok, held, err := warehouse.Snapshot(ctx, c, cfg.OperatorNamespace, region)
	if err != nil {
		return err
	}
	largest, err := largestLedgerObject(ctx, c, cfg.OperatorNamespace)
	if err != nil {
		return err
	}

	p := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	p("# Quota ledger benchmark")
	p("")
	p("<!-- Generated by `make bench-ledger` (test/scalebench/ledger): %d warehouses, %d at a time, %d CPUs. -->", n, workers, runtime.NumCPU())
	p("")
	p("%d warehouses of one region each reserve one Small cluster (%d DBU/h) through the operator's ledger "+
		"(`warehouse.Ledger`), %d at a time, against a real kube-apiserver and etcd (envtest). The quota leaves room for all "+
		"but the last 10. Writes and bytes are what the client sent (request bodies of every create, update and delete).", n, step, workers)
	p("")
	p("| Changes | Warehouses in the region before | Writes per change | Bytes sent per change | Time per change |")
	p("|---|---:|---:|---:|---:|")
	for _, ph := range []phase{first, last} {
		p("| %d to %d | %d | %.2f | %.0f | %s |", ph.first+1, ph.first+ph.changes, ph.first,
			float64(ph.writes)/float64(ph.changes), float64(ph.bytes)/float64(ph.changes), (ph.elapsed / time.Duration(ph.changes)).Round(10*time.Microsecond))
	}
	p("")
	p("- Bytes per change, last %d against first %d: %.2f×.", sample, sample, (float64(last.bytes)/float64(last.changes))/(float64(first.bytes)/float64(first.changes)))
	p("- Largest ledger object in etcd: %d bytes (the API server refuses objects over 1 MiB).", largest)
	p("- Reservations granted: %d of %d asked (the quota holds %d); held %d DBU/h of a %d DBU/h quota.", len(held), n, n-10, held.Used(""), quotaDBU)
	p("- The region's total: %d DBU/h (parses: %v), the sum of the %d reservations: %d DBU/h.", total, ok, len(held), held.Used(""))
	if !ok || total != held.Used("") || total > quotaDBU || len(held) != n-10 {
		return fmt.Errorf("the ledger is inconsistent: total %d (ok %v), reservations %d DBU/h, quota %d, granted %d of %d that fit", total, ok, held.Used(""), quotaDBU, len(held), n-10)
	}
	return nil
}

func parallel(from, to, workers int, do func(int) error) error {
	var g errgroup.Group
	g.SetLimit(workers)
	for i := from; i < to; i++ {
		g.Go(func() error { return do(i) })
	}
	return g.Wait()
}

// largestLedgerObject is the size of the largest ConfigMap of the operator namespace, encoded
// as the API server stores it (protobuf).
func largestLedgerObject(ctx context.Context, c client.Client, namespace string) (int, error) {
	list := &corev1.ConfigMapList{}
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return 0, err
	}
	sizes := []int{0}
	for _, cm := range list.Items {
		sizes = append(sizes, cm.Size())
	}
	return slices.Max(sizes), nil
}
