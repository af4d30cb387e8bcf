package realnode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/sqlwire"
	"github.com/serverlessplane/operator/internal/tpch"
	"github.com/serverlessplane/operator/pkg/naming"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/clients"
	"github.com/serverlessplane/operator/test/localcluster"
)

// statement submits a statement to the warehouse and returns the gateway's answer.
func (s *scorer) statement(ctx context.Context, token string, body map[string]any) (int, sqlwire.Response, string) {
	data, _ := json.Marshal(body)
	return s.do(ctx, http.MethodPost, "/api/2.0/sql/statements", token, data)
}

func (s *scorer) do(ctx context.Context, method, path, token string, data []byte) (int, sqlwire.Response, string) {
	var st sqlwire.Response
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, bytes.NewReader(data))
	if err != nil {
		return 0, st, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, st, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &st)
	return resp.StatusCode, st, string(raw)
}

// await polls a statement until it leaves PENDING and RUNNING.
func (s *scorer) await(ctx context.Context, token, id string) (sqlwire.Response, string) {
	for {
		_, st, raw := s.do(ctx, http.MethodGet, "/api/2.0/sql/statements/"+id, token, nil)
		if st.Status.State != "PENDING" && st.Status.State != "RUNNING" {
			return st, raw
		}
		select {
		case <-ctx.Done():
			return st, raw
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// expectSQL proves the SQL path on the real node: TPC-H Q1 through the gateway and a DuckDB
// engine over mTLS; 40 concurrent statements that grow a warehouse of up to 3 clusters by its
// queue and all succeed; the warehouse stopping when idle; and a statement for the stopped
// warehouse that starts it and succeeds.
func (f *fixture) expectSQL(tm *timings) {
	t := f.t
	ns := f.nsA
	wh := b.Warehouse(ns, "tpch").Size(computev1.ClusterSize2XSmall).Clusters(1, 3).AutoStop(1).Obj()
	if err := f.k8s.Create(f.ctx, wh); err != nil {
		t.Fatal(err)
	}
	user := f.serviceAccountToken(ns, "analyst", true)
	f.waitPods(ns, computev1.LabelWarehouse+"=tpch", 1)
	s := f.gatewayScorer(ns)
	tm.mark("warehouse tpch Running (1 cluster)")

	code, st, raw := s.statement(f.ctx, user, map[string]any{"statement": tpch.Queries["q1"], "warehouse_id": "tpch", "wait_timeout": "50s"})
	if code != http.StatusOK || st.Status.State != "SUCCEEDED" || st.Result == nil || len(st.Result.DataArray) != 4 {
		t.Fatalf("TPC-H Q1 through the gateway: %d %s", code, raw)
	}
	t.Logf("TPC-H Q1, first row: %s", cells(st.Result.DataArray[0]))
	tm.mark("TPC-H Q1 through the gateway: 4 rows")
	f.expectSQLDriver(s, user, st.Result.DataArray)
	tm.mark("Databricks' Node SQL driver through the gateway's Thrift API")

	// Statements of about two core-seconds each, so that 40 of them queue long enough for the
	// autoscaler (a 15 s tick) to see the queue.
	n := f.calibrate(s, user)
	slow := fmt.Sprintf("SELECT sum(hash(range)) AS h FROM range(%d)", n)
	var wg sync.WaitGroup
	results := make([]string, 40)
	for i := range results {
		wg.Go(func() {
			code, st, raw := s.statement(f.ctx, user, map[string]any{"statement": slow, "warehouse_id": "tpch", "wait_timeout": "0s"})
			if code != http.StatusOK {
				results[i] = fmt.Sprintf("submit: %d %s", code, raw)
				return
			}
			st, raw = s.await(f.ctx, user, st.StatementID)
			if st.Status.State != "SUCCEEDED" {
				results[i] = raw
			}
		})
	}
	peak := int32(0)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
watch:
	for {
		got := &computev1.ServerlessWarehouse{}
		if err := f.k8s.Get(f.ctx, client.ObjectKeyFromObject(wh), got); err == nil && got.Status.ReadyClusters > peak {
			peak = got.Status.ReadyClusters
		}
		select {
		case <-done:
			break watch
		case <-time.After(500 * time.Millisecond):
		}
	}
	for i, r := range results {
		if r != "" {
			t.Errorf("statement %d of 40 did not succeed: %s", i, r)
		}
	}
	if peak < 2 {
		t.Errorf("40 queued statements left the warehouse at %d ready cluster(s), want it grown by the queue (max 3)", peak)
	}
	tm.mark(fmt.Sprintf("40 concurrent statements of %d rows each SUCCEEDED; the queue grew the warehouse to %d ready clusters", n, peak))

	f.eventually("warehouse tpch Stopped after autoStopMinutes idle", func() (bool, error) {
		got := &computev1.ServerlessWarehouse{}
		if err := f.k8s.Get(f.ctx, client.ObjectKeyFromObject(wh), got); err != nil {
			return false, nil
		}
		return got.Status.State == computev1.WarehouseStopped, nil
	})
	f.eventually("warehouse tpch's pods gone", func() (bool, error) {
		list, err := f.cs.CoreV1().Pods(ns).List(f.ctx, metav1.ListOptions{LabelSelector: computev1.LabelWarehouse + "=tpch"})
		return err == nil && len(list.Items) == 0, nil
	})
	tm.mark("warehouse tpch Stopped after 1 minute idle")

	// Databricks' SQL driver sends a statement to the stopped warehouse too, at the same time.
	driverDone := make(chan error, 1)
	var driverOut bytes.Buffer
	modules, env := f.driverEnv(user)
	if modules != "" {
		go func() { driverDone <- clients.Test(f.ctx, modules, "sqldriver-start.test.cjs", env, &driverOut) }()
	}
	start := time.Now()
	code, st, raw = s.statement(f.ctx, user, map[string]any{"statement": tpch.Queries["q6"], "warehouse_id": "tpch", "wait_timeout": "50s"})
	if code == http.StatusOK && (st.Status.State == "PENDING" || st.Status.State == "RUNNING") {
		st, raw = s.await(f.ctx, user, st.StatementID)
	}
	if st.Status.State != "SUCCEEDED" || st.Result == nil || len(st.Result.DataArray) != 1 {
		t.Fatalf("a statement for the stopped warehouse: %d %s", code, raw)
	}
	tm.mark(fmt.Sprintf("a statement for the stopped warehouse started it and SUCCEEDED: %.1fs from submit to first row (Q6 revenue %s)",
		time.Since(start).Seconds(), cells(st.Result.DataArray[0])))
	if modules != "" {
		if err := <-driverDone; err != nil {
			t.Fatalf("the SQL driver's statement for the stopped warehouse: %v\n%s", err, driverOut.String())
		}
		tm.mark(fmt.Sprintf("the SQL driver's statement for the stopped warehouse SUCCEEDED too, %.1fs after the start", time.Since(start).Seconds()))
	}
}

// calibrate finds a row count whose sum of hashes takes about two seconds on one engine.
func (f *fixture) calibrate(s *scorer, user string) int64 {
	n := int64(20_000_000)
	for {
		start := time.Now()
		code, st, raw := s.statement(f.ctx, user, map[string]any{"statement": "SELECT sum(hash(range)) FROM range(" + strconv.FormatInt(n, 10) + ")", "warehouse_id": "tpch", "wait_timeout": "50s"})
		if code != http.StatusOK || st.Status.State != "SUCCEEDED" {
			f.t.Fatalf("calibrating: %d %s", code, raw)
		}
		if d := time.Since(start); d > 500*time.Millisecond || n > 4_000_000_000 {
			return int64(float64(n) * 2 / d.Seconds())
		}
		n *= 4
	}
}

func cells(row []*string) string {
	out := ""
	for i, c := range row {
		if i > 0 {
			out += " | "
		}
		if c == nil {
			out += "NULL"
		} else {
			out += *c
		}
	}
	return out
}

// driverEnv is what Databricks' Node SQL driver (test/clients) needs to reach the warehouse
// tpch through a gateway pod, by the Service's name as its certificate has it: its installed
// modules and the scripts' environment; no modules where node is missing and CI does not ask
// for every tier.
func (f *fixture) driverEnv(user string) (string, map[string]string) {
	t := f.t
	modules, err := clients.Install(f.ctx, io.Discard)
	if errors.Is(err, clients.ErrNoNode) && os.Getenv("SERVERLESSPLANE_REQUIRE_REAL_NODE") == "" {
		t.Logf("skipping the SQL driver: %v", err)
		return "", nil
	}
	if err != nil {
		t.Fatal(err)
	}
	host := naming.GatewayService + "." + localcluster.OperatorNamespace + ".svc"
	addr, port, _ := net.SplitHostPort(f.gatewayAddr())
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, []byte(f.caBundle()), 0o600); err != nil {
		t.Fatal(err)
	}
	return modules, map[string]string{
		"SPL_HOST": host, "SPL_RESOLVE": host + "=" + addr, "SPL_PORT": port, "SPL_PATH": "/workspaces/" + f.nsA + "/sql/1.0/warehouses/tpch",
		"SPL_CA": ca, "SPL_TOKEN": user,
	}
}

// expectSQLDriver runs the integration tier's script of Databricks' Node SQL driver against
// the warehouse tpch, with the Q1 rows and the sums the REST API answered as what the driver
// must read.
func (f *fixture) expectSQLDriver(s *scorer, user string, q1 [][]*string) {
	t := f.t
	modules, env := f.driverEnv(user)
	if modules == "" {
		return
	}
	code, sums, raw := s.statement(f.ctx, user, map[string]any{"statement": clients.BigSums, "warehouse_id": "tpch", "wait_timeout": "50s"})
	if code != http.StatusOK || sums.Status.State != "SUCCEEDED" || sums.Result == nil || len(sums.Result.DataArray) != 1 {
		t.Fatalf("the driver's sums through the REST API: %d %s", code, raw)
	}
	q1JSON, _ := json.Marshal(q1)
	env["SPL_OTHER_TOKEN"] = f.serviceAccountToken(f.nsB, "driver-other", true)
	env["SPL_Q1_SQL"], env["SPL_Q1"] = tpch.Queries["q1"], string(q1JSON)
	env["SPL_BIG_SQL"], env["SPL_BIG_SUMS"] = clients.BigResult, clients.SumsJSON(sums.Result.DataArray[0])
	var out bytes.Buffer
	err := clients.Test(f.ctx, modules, "sqldriver.test.cjs", env, &out)
	t.Logf("Databricks' Node SQL driver through the gateway:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
}
