package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/gateway"
	"github.com/serverlessplane/operator/internal/modelproxy"
	"github.com/serverlessplane/operator/internal/sqlengine"
	"github.com/serverlessplane/operator/internal/sqlwire"
	"github.com/serverlessplane/operator/internal/tlsfiles"
	"github.com/serverlessplane/operator/pkg/certs"
	"github.com/serverlessplane/operator/pkg/podsecurity"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

// The SQL path on loopback: the gateway's statement API against the envtest API server (auth,
// warehouses the operator reconciles, warehouse pods), dispatching over real mTLS to real
// DuckDB engines (internal/sqlengine), or to engines that hold statements until released where
// the queue's order and limits are the point.
var _ = Describe("Statements", func() {
	It("answer within wait_timeout, or by polling, in chunks, with row limits, parameters and SQL errors", func(ctx SpecContext) {
		h := startGateway(ctx, func(o *gateway.Options) { o.ChunkRows = 10 })
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("sql-api")).Obj())
		Expect(k8s.Create(ctx, b.Warehouse(ns, "wh").AutoStop(0).Obj())).To(Succeed())
		h.enginePod(ctx, ns, "wh", "c1", true, h.realEngine())
		user := workspaceUser(ctx, ns)

		By("synchronously: a SUCCEEDED statement with its manifest and first chunk")
		r := h.statement(user, ns, map[string]any{"statement": "SELECT id, name FROM data.numbers ORDER BY id", "warehouse_id": "wh"})
		Expect(r.code).To(Equal(http.StatusOK), string(r.body))
		st := decodeStatement(r)
		Expect(st.Status.State).To(Equal("SUCCEEDED"), string(r.body))
		Expect(st.Manifest.Format).To(Equal("JSON_ARRAY"))
		Expect(st.Manifest.Schema.Columns).To(HaveLen(2))
		Expect(st.Manifest.Schema.Columns[0].Name).To(Equal("id"))
		Expect(st.Manifest.TotalRowCount).To(BeEquivalentTo(25))
		Expect(st.Manifest.TotalChunkCount).To(Equal(3))
		Expect(st.Result.DataArray).To(HaveLen(10))
		Expect(*st.Result.DataArray[0][1]).To(Equal("n0"))
		Expect(*st.Result.NextChunkIndex).To(Equal(1))
		Expect(st.Result.NextChunkInternalLink).To(Equal("/workspaces/" + ns + "/api/2.0/sql/statements/" + st.StatementID + "/result/chunks/1"))

		By("the other chunks, by their links")
		c := h.get(user, st.Result.NextChunkInternalLink)
		Expect(c.code).To(Equal(http.StatusOK), string(c.body))
		var chunk struct {
			ChunkIndex     int         `json:"chunk_index"`
			RowOffset      int         `json:"row_offset"`
			DataArray      [][]*string `json:"data_array"`
			NextChunkIndex *int        `json:"next_chunk_index"`
		}
		Expect(json.Unmarshal(c.body, &chunk)).To(Succeed())
		Expect(chunk.ChunkIndex).To(Equal(1))
		Expect(chunk.RowOffset).To(BeEquivalentTo(10))
		Expect(*chunk.DataArray[0][0]).To(Equal("10"))
		last := h.get(user, "/workspaces/"+ns+"/api/2.0/sql/statements/"+st.StatementID+"/result/chunks/2")
		chunk.NextChunkIndex = nil
		Expect(json.Unmarshal(last.body, &chunk)).To(Succeed())
		Expect(chunk.DataArray).To(HaveLen(5))
		Expect(chunk.NextChunkIndex).To(BeNil())
		expectAPIError(h.get(user, "/workspaces/"+ns+"/api/2.0/sql/statements/"+st.StatementID+"/result/chunks/3"), http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST")

		By("asynchronously: wait_timeout 0s answers at once, and polling finds the result")
		r = h.statement(user, ns, map[string]any{"statement": "SELECT count(*) AS n FROM data.numbers", "warehouse_id": "wh", "wait_timeout": "0s"})
		Expect(r.code).To(Equal(http.StatusOK), string(r.body))
		st = decodeStatement(r)
		Expect(st.Status.State).To(BeElementOf("PENDING", "RUNNING", "SUCCEEDED"))
		st = h.awaitState(user, ns, st.StatementID, "SUCCEEDED")
		Expect(*st.Result.DataArray[0][0]).To(Equal("25"))

		By("row_limit truncates, and named parameters are typed")
		st = decodeStatement(h.statement(user, ns, map[string]any{"statement": "SELECT id FROM data.numbers WHERE id >= :low ORDER BY id",
			"warehouse_id": "wh", "row_limit": 3, "parameters": []map[string]string{{"name": "low", "value": "20", "type": "INT"}}}))
		Expect(st.Status.State).To(Equal("SUCCEEDED"))
		Expect(st.Manifest.Truncated).To(BeTrue())
		Expect(st.Manifest.TotalRowCount).To(BeEquivalentTo(3))
		Expect(*st.Result.DataArray[0][0]).To(Equal("20"))

		By("a SQL error: FAILED with DuckDB's message and a SQL state")
		st = decodeStatement(h.statement(user, ns, map[string]any{"statement": "SELECT * FROM data.nowhere", "warehouse_id": "wh"}))
		Expect(st.Status.State).To(Equal("FAILED"))
		Expect(st.Status.Error.ErrorCode).To(Equal("BAD_REQUEST"))
		Expect(st.Status.Error.Message).To(ContainSubstring("nowhere"))
		Expect(st.Status.Error.SQLState).To(Equal("42P01"))
		expectAPIError(h.get(user, "/workspaces/"+ns+"/api/2.0/sql/statements/"+st.StatementID+"/result/chunks/0"), http.StatusBadRequest, "BAD_REQUEST")

		By("bad requests name the field")
		for field, body := range map[string]map[string]any{
			"wait_timeout":    {"statement": "SELECT 1", "warehouse_id": "wh", "wait_timeout": "3s"},
			"on_wait_timeout": {"statement": "SELECT 1", "warehouse_id": "wh", "on_wait_timeout": "STOP"},
			"disposition":     {"statement": "SELECT 1", "warehouse_id": "wh", "disposition": "EXTERNAL_LINKS"},
			"format":          {"statement": "SELECT 1", "warehouse_id": "wh", "format": "ARROW_STREAM"},
			"warehouse_id":    {"statement": "SELECT 1"},
			"statement":       {"warehouse_id": "wh"},
		} {
			r := h.statement(user, ns, body)
			expectAPIError(r, http.StatusBadRequest, "BAD_REQUEST")
			Expect(string(r.body)).To(ContainSubstring(field))
		}
	})

	It("cancel on wait timeout, and cancel while running, interrupt the engine", func(ctx SpecContext) {
		h := startGateway(ctx, nil)
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("sql-cancel")).Obj())
		Expect(k8s.Create(ctx, b.Warehouse(ns, "wh").AutoStop(0).Obj())).To(Succeed())
		engine := h.realEngine()
		h.enginePod(ctx, ns, "wh", "c1", true, engine)
		user := workspaceUser(ctx, ns)
		long := "SELECT count(*) FROM range(100000000000) t WHERE t.range % 7 = 3"

		By("on_wait_timeout CANCEL: CANCELED when the wait ends")
		done := make(chan reply, 1)
		go func() {
			defer GinkgoRecover()
			done <- h.statement(user, ns, map[string]any{"statement": long, "warehouse_id": "wh", "wait_timeout": "5s", "on_wait_timeout": "CANCEL"})
		}()
		Eventually(engine.Running).Should(BeEquivalentTo(1))
		var r reply
		Eventually(func() bool {
			h.clock.Step(time.Second)
			select {
			case r = <-done:
				return true
			default:
				return false
			}
		}).Should(BeTrue())
		Expect(decodeStatement(r).Status.State).To(Equal("CANCELED"), string(r.body))
		Eventually(engine.Running).Should(BeZero(), "the engine stops the statement")

		By("cancel while RUNNING")
		st := decodeStatement(h.statement(user, ns, map[string]any{"statement": long, "warehouse_id": "wh", "wait_timeout": "0s"}))
		h.awaitState(user, ns, st.StatementID, "RUNNING")
		c := h.post(user, "/workspaces/"+ns+"/api/2.0/sql/statements/"+st.StatementID+"/cancel", nil)
		Expect(c.code).To(Equal(http.StatusOK), string(c.body))
		h.awaitState(user, ns, st.StatementID, "CANCELED")
		Eventually(engine.Running).Should(BeZero())
	})

	It("queue in order, at most the limit per cluster, never on a draining cluster, 429 past capacity", func(ctx SpecContext) {
		h := startGateway(ctx, func(o *gateway.Options) { o.RunningPerCluster, o.StatementCapacity = 2, 3 })
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("sql-queue")).Obj())
		Expect(k8s.Create(ctx, b.Warehouse(ns, "wh").AutoStop(0).Obj())).To(Succeed())
		serving, draining := newHeldEngine(), newHeldEngine()
		h.enginePod(ctx, ns, "wh", "c1", true, serving)
		h.enginePod(ctx, ns, "wh", "c2", false, draining)
		user := workspaceUser(ctx, ns)

		var ids []string
		for i := range 5 {
			st := decodeStatement(h.statement(user, ns, map[string]any{"statement": fmt.Sprintf("SELECT %d", i), "warehouse_id": "wh", "wait_timeout": "0s"}))
			ids = append(ids, st.StatementID)
		}
		By("two run on the serving cluster, three wait")
		Eventually(serving.running.Load).Should(BeEquivalentTo(2))
		Consistently(serving.running.Load).Should(BeEquivalentTo(2), "never more than the per-cluster limit")
		Expect(h.gauge(gateway.MetricStatementsRunning, "workspace", ns, "warehouse", "wh", "cluster", "c1")).To(BeEquivalentTo(2))
		Expect(h.gauge(gateway.MetricStatementsQueued, "workspace", ns, "warehouse", "wh")).To(BeEquivalentTo(3))
		By("past capacity: 429")
		r := h.statement(user, ns, map[string]any{"statement": "SELECT 6", "warehouse_id": "wh", "wait_timeout": "0s"})
		expectAPIError(r, http.StatusTooManyRequests, "REQUEST_LIMIT_EXCEEDED")
		Expect(r.header.Get("Retry-After")).NotTo(BeEmpty())

		By("each finished statement lets the next one in the order they came, none on the draining cluster")
		Expect(serving.order()).To(ConsistOf("SELECT 0", "SELECT 1"))
		for i := 2; i < 5; i++ {
			serving.step <- struct{}{}
			Eventually(serving.order).Should(HaveLen(i + 1))
			Expect(serving.order()[i]).To(Equal(fmt.Sprintf("SELECT %d", i)))
		}
		serving.release()
		for _, id := range ids {
			h.awaitState(user, ns, id, "SUCCEEDED")
		}
		Expect(draining.order()).To(BeEmpty())
		// The gateway counts a statement as its run returns, just after the state it answers
		// with: the count may trail the last SUCCEEDED by a moment.
		Eventually(func() float64 {
			return h.counter(gateway.MetricStatements, "workspace", ns, "warehouse", "wh", "state", "SUCCEEDED")
		}).Should(BeEquivalentTo(5))
	})

	It("hold a statement for a stopped warehouse, start it at once, and run it", func(ctx SpecContext) {
		h := startGateway(ctx, func(o *gateway.Options) { o.Clock = env.Clock })
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("sql-start")).Obj())
		wh := b.Warehouse(ns, "adhoc").AutoStop(1).Obj()
		setLoad(wh, 0, 0)
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		expectState(wh, computev1.WarehouseRunning, 1)
		advance(65 * time.Second)
		expectState(wh, computev1.WarehouseStopped, 0)
		Eventually(func(g Gomega) {
			var list appsv1.DeploymentList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{computev1.LabelWarehouse: "adhoc"})).To(Succeed())
			g.Expect(list.Items).To(BeEmpty())
		}).Should(Succeed())
		user := workspaceUser(ctx, ns)

		st := decodeStatement(h.statement(user, ns, map[string]any{"statement": "SELECT 42 AS answer", "warehouse_id": "adhoc", "wait_timeout": "0s"}))
		Expect(st.Status.State).To(Equal("PENDING"))
		By("the operator hears of it and starts a cluster")
		cluster := startedCluster(ctx, ns, "adhoc")
		Expect(h.get(user, "/workspaces/"+ns+"/api/2.0/sql/statements/"+st.StatementID).body).To(ContainSubstring("PENDING"))
		By("its engine becomes ready: the statement runs")
		h.enginePod(ctx, ns, "adhoc", cluster, true, h.realEngine())
		st = h.awaitState(user, ns, st.StatementID, "SUCCEEDED")
		Expect(*st.Result.DataArray[0][0]).To(Equal("42"))
	})

	It("fail a waiting statement whose warehouse is deleted, rather than hold it forever", func(ctx SpecContext) {
		h := startGateway(ctx, nil)
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("sql-gone")).Obj())
		wh := b.Warehouse(ns, "doomed").AutoStop(0).Obj()
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		user := workspaceUser(ctx, ns)
		st := decodeStatement(h.statement(user, ns, map[string]any{"statement": "SELECT 1", "warehouse_id": "doomed", "wait_timeout": "0s"}))
		Expect(st.Status.State).To(Equal("PENDING"), "no engine is ready")
		Expect(k8s.Delete(ctx, wh)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(wh), wh)) }).Should(BeTrue())
		Eventually(func(g Gomega) {
			h.gw.Wake() // the gateway's one-second tick, which the fake clock does not give
			r := h.get(user, "/workspaces/"+ns+"/api/2.0/sql/statements/"+st.StatementID)
			g.Expect(string(r.body)).To(ContainSubstring(`"state":"FAILED"`))
			g.Expect(string(r.body)).To(ContainSubstring("was deleted"))
		}).Should(Succeed())
	})

	It("authenticate, authorize per warehouse, and show a statement to its owner only", func(ctx SpecContext) {
		h := startGateway(ctx, nil)
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("sql-auth")).Obj())
		other := readyWorkspace(ctx, b.Workspace(framework.Name("sql-auth-other")).Obj())
		Expect(k8s.Create(ctx, b.Warehouse(ns, "wh").AutoStop(0).Obj())).To(Succeed())
		engine := newHeldEngine()
		engine.release()
		addr := h.enginePod(ctx, ns, "wh", "c1", true, engine)
		user, colleague, stranger := workspaceUser(ctx, ns), workspaceUser(ctx, ns), workspaceUser(ctx, other)
		body := map[string]any{"statement": "SELECT 1", "warehouse_id": "wh"}

		expectAPIError(h.statement("", ns, body), http.StatusUnauthorized, "UNAUTHENTICATED")
		expectAPIError(h.statement("not-a-token", ns, body), http.StatusUnauthorized, "UNAUTHENTICATED")
		expectAPIError(h.statement(stranger, ns, body), http.StatusForbidden, "PERMISSION_DENIED")
		expectAPIError(h.statement(user, ns, map[string]any{"statement": "SELECT 1", "warehouse_id": "nope"}), http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST")
		Expect(engine.order()).To(BeEmpty(), "refused statements never reach an engine")

		st := decodeStatement(h.statement(user, ns, body))
		Expect(st.Status.State).To(Equal("SUCCEEDED"))
		By("without a token: 401 before anything else, whether the id exists or the body is valid")
		expectAPIError(h.get("", "/workspaces/"+ns+"/api/2.0/sql/statements/"+st.StatementID), http.StatusUnauthorized, "UNAUTHENTICATED")
		expectAPIError(h.get("", "/workspaces/"+ns+"/api/2.0/sql/statements/no-such-id"), http.StatusUnauthorized, "UNAUTHENTICATED")
		expectAPIError(h.statement("", ns, map[string]any{"wait_timeout": "3s"}), http.StatusUnauthorized, "UNAUTHENTICATED")
		By("another user of the workspace, or anyone in another, does not see it")
		expectAPIError(h.get(colleague, "/workspaces/"+ns+"/api/2.0/sql/statements/"+st.StatementID), http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST")
		expectAPIError(h.post(colleague, "/workspaces/"+ns+"/api/2.0/sql/statements/"+st.StatementID+"/cancel", nil), http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST")
		expectAPIError(h.get(stranger, "/workspaces/"+other+"/api/2.0/sql/statements/"+st.StatementID), http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST")
		Expect(h.get(user, "/workspaces/"+ns+"/api/2.0/sql/statements/"+st.StatementID).code).To(Equal(http.StatusOK))

		By("the engine takes statements from the gateway's client certificate only")
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(h.pki.ca.Cert)
		for name, certificates := range map[string][]tls.Certificate{
			"no client certificate":            nil,
			"a tenant's certificate of the CA": clientCertificate(h.pki.ca, "notebook"),
		} {
			c := &http.Client{Timeout: framework.Timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{
				RootCAs: roots, ServerName: "wh." + ns + ".svc", Certificates: certificates}}}
			_, err := c.Post("https://"+addr+sqlwire.Path, "application/json", strings.NewReader(`{"statement": "SELECT 1"}`))
			Expect(err).To(HaveOccurred(), name)
		}
		Expect(engine.order()).To(HaveLen(1), "only the gateway's statement reached the engine")
	})
})

func decodeStatement(r reply) sqlwire.Response {
	var st sqlwire.Response
	ExpectWithOffset(1, r.code).To(Equal(http.StatusOK), string(r.body))
	ExpectWithOffset(1, json.Unmarshal(r.body, &st)).To(Succeed())
	return st
}

func (h *gatewayHarness) statement(token, ns string, body map[string]any) reply {
	data, err := json.Marshal(body)
	Expect(err).NotTo(HaveOccurred())
	return h.post(token, "/workspaces/"+ns+"/api/2.0/sql/statements", data)
}

func (h *gatewayHarness) post(token, path string, body []byte) reply {
	return h.invokePath(token, path, body)
}

func (h *gatewayHarness) get(token, path string) reply {
	req, err := http.NewRequest(http.MethodGet, h.url+path, nil)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.client.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return reply{code: resp.StatusCode, header: resp.Header, body: data}
}

// awaitState polls a statement until it is in state.
func (h *gatewayHarness) awaitState(token, ns, id, state string) sqlwire.Response {
	var st sqlwire.Response
	EventuallyWithOffset(1, func(g Gomega) {
		r := h.get(token, "/workspaces/"+ns+"/api/2.0/sql/statements/"+id)
		g.Expect(r.code).To(Equal(http.StatusOK), string(r.body))
		g.Expect(json.Unmarshal(r.body, &st)).To(Succeed())
		g.Expect(st.Status.State).To(Equal(state), string(r.body))
		if state == "SUCCEEDED" {
			g.Expect(st.Result).NotTo(BeNil())
		}
	}).Should(Succeed())
	return st
}

// engineHandler is what an engine pod serves: a real engine, or one that holds statements.
type engineHandler interface{ handler() http.Handler }

type realEngine struct {
	*sqlengine.Engine
	srv *sqlengine.Server
}

func (e realEngine) handler() http.Handler { return e.srv.Handler() }

// realEngine opens a DuckDB engine whose data volume holds data.numbers (ids 0 to 24).
func (h *gatewayHarness) realEngine() realEngine {
	dir := GinkgoT().TempDir()
	db, err := sql.Open("duckdb", sqlengine.DSN)
	Expect(err).NotTo(HaveOccurred())
	_, err = db.Exec("COPY (SELECT range AS id, 'n' || range AS name FROM range(25)) TO '" + filepath.Join(dir, "numbers.parquet") + "' (FORMAT parquet)")
	Expect(err).NotTo(HaveOccurred())
	Expect(db.Close()).To(Succeed())
	e, err := sqlengine.Open(context.Background(), sqlengine.Options{DataDir: dir, TempDir: GinkgoT().TempDir()})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(e.Close)
	log := slog.New(slog.NewTextHandler(GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return realEngine{Engine: e, srv: sqlengine.NewServer(e, nil, nil, 16, log)}
}

// heldEngine answers every statement with one row once released, recording their order.
type heldEngine struct {
	running atomic.Int64
	gate    chan struct{}
	// step lets one held statement answer.
	step chan struct{}
	once sync.Once
	mu   sync.Mutex
	seen []string
}

func newHeldEngine() *heldEngine {
	return &heldEngine{gate: make(chan struct{}), step: make(chan struct{})}
}

func (e *heldEngine) release() { e.once.Do(func() { close(e.gate) }) }

func (e *heldEngine) order() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.seen...)
}

func (e *heldEngine) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req sqlwire.Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		e.seen = append(e.seen, req.Statement)
		e.mu.Unlock()
		e.running.Add(1)
		defer e.running.Add(-1)
		select {
		case <-e.gate:
		case <-e.step:
		case <-r.Context().Done():
			return
		}
		one := "1"
		w.Header().Set("Content-Type", sqlwire.ContentType)
		enc := json.NewEncoder(w)
		_ = enc.Encode(sqlwire.Frame{Columns: []sqlwire.Column{{Name: "x", TypeName: "INT", TypeText: "INTEGER"}}})
		_ = enc.Encode(sqlwire.Frame{Rows: [][]*string{{&one}}})
		_ = enc.Encode(sqlwire.Frame{End: &sqlwire.End{RowCount: 1}})
	})
}

// enginePod serves an engine over TLS with the warehouse's certificate, as a warehouse pod of
// the cluster, and writes the ready Pod the gateway reads; serving false is a draining cluster.
func (h *gatewayHarness) enginePod(ctx context.Context, ns, warehouse, cluster string, serving bool, engine engineHandler) string {
	name := warehouse + "." + ns + ".svc"
	pair, err := certs.Issue(h.pki.ca, certs.Serving, name, []string{name}, time.Now(), time.Hour)
	Expect(err).NotTo(HaveOccurred())
	f := h.pki.write(pair)
	files, err := tlsfiles.Load(f.cert, f.key, f.ca, 0, nil)
	Expect(err).NotTo(HaveOccurred())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	srv := &http.Server{Handler: engine.handler(), TLSConfig: files.ServerConfig([]string{modelproxy.DefaultAllowedClientNames}), ReadHeaderTimeout: framework.Timeout}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	DeferCleanup(srv.Close)

	h.mu.Lock()
	h.count++
	ip := fmt.Sprintf("192.0.2.%d", h.count)
	h.pods[net.JoinHostPort(ip, strconv.Itoa(podPort))] = ln.Addr().String()
	h.mu.Unlock()

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: warehouse + "-" + cluster + "-", Labels: map[string]string{
			computev1.LabelWarehouse: warehouse, computev1.LabelCluster: cluster, computev1.LabelWorkspace: ns,
			computev1.LabelManagedBy: computev1.ManagedByValue, "compute.serverlessplane.io/serving": strconv.FormatBool(serving),
		}},
		Spec: corev1.PodSpec{SecurityContext: podsecurity.Pod(), Containers: []corev1.Container{{Name: "engine", Image: "serverlessplane-sql-engine:dev",
			SecurityContext: podsecurity.Container(), Ports: []corev1.ContainerPort{{Name: "sql", ContainerPort: podPort}}}}},
	}
	Expect(k8s.Create(ctx, pod)).To(Succeed())
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	Expect(k8s.Status().Update(ctx, pod)).To(Succeed())
	// The gateway's pod informer does this in cmd/gateway.
	h.gw.Wake()
	return ln.Addr().String()
}

// clientCertificate is a client certificate of ca for cn.
func clientCertificate(ca certs.Pair, cn string) []tls.Certificate {
	pair, err := certs.Issue(ca, certs.Client, cn, nil, time.Now(), time.Hour)
	Expect(err).NotTo(HaveOccurred())
	c, err := tls.X509KeyPair(pair.Cert, pair.Key)
	Expect(err).NotTo(HaveOccurred())
	return []tls.Certificate{c}
}

// startedCluster waits for the operator to start the one cluster of a stopped warehouse and
// returns its id.
func startedCluster(ctx context.Context, ns, warehouse string) string {
	var d appsv1.Deployment
	EventuallyWithOffset(1, func(g Gomega) {
		var list appsv1.DeploymentList
		g.Expect(k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{computev1.LabelWarehouse: warehouse})).To(Succeed())
		g.Expect(list.Items).To(HaveLen(1))
		d = list.Items[0]
	}).Should(Succeed())
	return d.Labels[computev1.LabelCluster]
}
