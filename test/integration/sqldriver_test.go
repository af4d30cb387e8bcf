package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/utils/clock"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/gateway"
	"github.com/serverlessplane/operator/internal/sqlengine"
	"github.com/serverlessplane/operator/internal/sqlwire"
	"github.com/serverlessplane/operator/internal/tpch"
	"github.com/serverlessplane/operator/pkg/certs"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/clients"
	"github.com/serverlessplane/operator/test/framework"
)

// Databricks' Node SQL driver, from npm, against the gateway's Thrift API on loopback: the
// gateway's authentication and authorization against envtest, its statement queue, and real
// DuckDB engines with TPC-H data behind real mTLS.
var _ = Describe("SQL drivers (Thrift)", Ordered, func() {
	var modules, tpchDir string
	BeforeAll(func(ctx SpecContext) {
		var err error
		modules, err = clients.Install(ctx, GinkgoWriter)
		if errors.Is(err, clients.ErrNoNode) {
			Skip(err.Error())
		}
		Expect(err).NotTo(HaveOccurred())
		tpchDir = filepath.Join(GinkgoT().TempDir(), "sf0.01")
		Expect(tpch.Generate(ctx, tpchDir, 0.01)).To(Succeed())
	})

	It("answer @databricks/sql: queries, fetches, async, cancel, parameters, catalog calls, errors and refusals", func(ctx SpecContext) {
		h := startGateway(ctx, func(o *gateway.Options) { o.Clock = clock.RealClock{} })
		port, ca := serveDriverTLS(h)
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("sql-driver")).Obj())
		other := readyWorkspace(ctx, b.Workspace(framework.Name("sql-driver-other")).Obj())
		Expect(k8s.Create(ctx, b.Warehouse(ns, "bi").AutoStop(0).Obj())).To(Succeed())
		engine := tpchEngine(tpchDir)
		h.enginePod(ctx, ns, "bi", "c1", true, engine)

		q1 := engineRows(ctx, engine.Engine, tpch.Queries["q1"])
		sums := engineRows(ctx, engine.Engine, clients.BigSums)[0]
		Expect(clients.Test(ctx, modules, "sqldriver.test.cjs", map[string]string{
			"SPL_HOST": "localhost", "SPL_PORT": strconv.Itoa(port), "SPL_PATH": "/workspaces/" + ns + "/sql/1.0/warehouses/bi",
			"SPL_CA": ca, "SPL_TOKEN": workspaceUser(ctx, ns), "SPL_OTHER_TOKEN": workspaceUser(ctx, other),
			"SPL_Q1_SQL": tpch.Queries["q1"], "SPL_Q1": mustJSON(q1), "SPL_BIG_SQL": clients.BigResult,
			"SPL_BIG_SUMS": clients.SumsJSON(sums),
		}, GinkgoWriter)).To(Succeed())

		By("the driver's cancel reached the engine: the statement ended CANCELED, and nothing runs on")
		Expect(h.counter(gateway.MetricStatements, "workspace", ns, "warehouse", "bi", "state", "CANCELED")).To(BeNumerically(">=", 1))
		Eventually(engine.Running).Should(BeZero())
	})

	It("start a stopped warehouse for a driver's statement, which then succeeds", func(ctx SpecContext) {
		h := startGateway(ctx, func(o *gateway.Options) { o.Clock = env.Clock })
		port, ca := serveDriverTLS(h)
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("sql-driver-start")).Obj())
		wh := b.Warehouse(ns, "adhoc").AutoStop(1).Obj()
		setLoad(wh, 0, 0)
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		expectState(wh, computev1.WarehouseRunning, 1)
		advance(65 * time.Second)
		expectState(wh, computev1.WarehouseStopped, 0)

		token := workspaceUser(ctx, ns)
		var out bytes.Buffer
		done := make(chan error, 1)
		go func() {
			done <- clients.Test(context.WithoutCancel(ctx), modules, "sqldriver-start.test.cjs", map[string]string{
				"SPL_HOST": "localhost", "SPL_PORT": strconv.Itoa(port), "SPL_PATH": "/workspaces/" + ns + "/sql/1.0/warehouses/adhoc",
				"SPL_CA": ca, "SPL_TOKEN": token,
			}, &out)
		}()
		By("the operator hears of the waiting statement and starts a cluster")
		cluster := startedCluster(ctx, ns, "adhoc")
		By("its engine becomes ready: the driver's statement runs")
		h.enginePod(ctx, ns, "adhoc", cluster, true, h.realEngine())
		var err error
		Eventually(done, 2*framework.Timeout).Should(Receive(&err))
		_, _ = GinkgoWriter.Write(out.Bytes())
		Expect(err).NotTo(HaveOccurred(), out.String())
	})
})

// serveDriverTLS serves the gateway over TLS on loopback as well, with a certificate for
// localhost from the harness's CA (the driver speaks only HTTPS), and returns the port and the
// CA's file.
func serveDriverTLS(h *gatewayHarness) (int, string) {
	pair, err := certs.Issue(h.pki.ca, certs.Serving, "localhost", []string{"localhost"}, time.Now(), time.Hour)
	Expect(err).NotTo(HaveOccurred())
	cert, err := tls.X509KeyPair(pair.Cert, pair.Key)
	Expect(err).NotTo(HaveOccurred())
	f := h.pki.write(pair)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	Expect(err).NotTo(HaveOccurred())
	srv := &http.Server{Handler: h.gw.Handler(), ReadHeaderTimeout: framework.Timeout}
	go func() { _ = srv.Serve(ln) }()
	DeferCleanup(srv.Close)
	return ln.Addr().(*net.TCPAddr).Port, f.ca
}

// tpchEngine is a real engine with TPC-H data as the schema tpch.
func tpchEngine(dir string) realEngine {
	e, err := sqlengine.Open(context.Background(), sqlengine.Options{TPCHDir: dir})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(e.Close)
	log := slog.New(slog.NewTextHandler(GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return realEngine{Engine: e, srv: sqlengine.NewServer(e, nil, nil, 16, log)}
}

// engineRows are a query's rows as the engine answers them, text or nil.
func engineRows(ctx context.Context, e *sqlengine.Engine, statement string) [][]*string {
	var rows [][]*string
	Expect(e.Run(ctx, sqlwire.Request{Statement: statement}, func(f sqlwire.Frame) error {
		rows = append(rows, f.Rows...)
		return nil
	})).To(Succeed())
	return rows
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}
