package realnode

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/serverlessplane/operator/test/dashboard"
	"github.com/serverlessplane/operator/test/framework"
	"github.com/serverlessplane/operator/test/localcluster"
)

// scrapeInterval is Prometheus' scrape interval, and rateInterval what the dashboard's
// $__rate_interval becomes (Grafana's rule: at least four scrape intervals).
const (
	scrapeInterval = 2 * time.Second
	rateInterval   = "30s"
	queryStep      = 5 * time.Second
)

// promServer is a real Prometheus on this machine's loopback, built from its module
// (hack/kubebins/build.sh --node), scraping the operator's and the gateway's pods.
type promServer struct {
	base    string
	started time.Time
	cmd     *exec.Cmd
	done    chan error
}

// startPrometheus runs Prometheus scraping every operator and gateway pod's metrics port.
func (f *fixture) startPrometheus() *promServer {
	t := f.t
	operators := f.waitPods(localcluster.OperatorNamespace, "app.kubernetes.io/name=serverlessplane-operator", 2)
	gateways := f.waitPods(localcluster.OperatorNamespace, "app.kubernetes.io/name=serverlessplane-gateway", 2)
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: 1s
scrape_configs:
- job_name: operator
  static_configs: [{targets: %s}]
- job_name: gateway
  static_configs: [{targets: %s}]
`, scrapeInterval, targets(operators, 8080), targets(gateways, 9090))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeLoopbackPort(t)
	cmd := exec.Command(filepath.Join(f.binDir, "prometheus"), "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus (hack/kubebins/build.sh --node builds it): %v", err)
	}
	p := &promServer{base: "http://" + addr, started: time.Now(), cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); _ = log.Close() }()
	t.Cleanup(p.stop)
	f.eventually("prometheus scraping every target", func() (bool, error) {
		series, err := p.query("up", time.Now())
		if err != nil || len(series) != len(operators)+len(gateways) {
			return false, nil
		}
		for _, s := range series {
			if s.last() != 1 {
				return false, nil
			}
		}
		return true, nil
	})
	return p
}

// targets is a static_configs target list: every pod's IP at port.
func targets(pods []corev1.Pod, port int) string {
	quoted := make([]string, len(pods))
	for i, p := range pods {
		quoted[i] = strconv.Quote(net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port)))
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// stop ends Prometheus by its process id and waits for it.
func (p *promServer) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// series is one series of a query's answer: its samples' values.
type series struct {
	values []float64
}

func (s series) last() float64 {
	if len(s.values) == 0 {
		return math.NaN()
	}
	return s.values[len(s.values)-1]
}

// query evaluates expr at one instant.
func (p *promServer) query(expr string, at time.Time) ([]series, error) {
	return p.api("/api/v1/query", url.Values{"query": {expr}, "time": {unixSeconds(at)}})
}

// queryRange evaluates expr from start to end at step, as a dashboard panel does.
func (p *promServer) queryRange(expr string, start, end time.Time, step time.Duration) ([]series, error) {
	return p.api("/api/v1/query_range", url.Values{"query": {expr}, "start": {unixSeconds(start)}, "end": {unixSeconds(end)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}})
}

func (p *promServer) api(path string, params url.Values) ([]series, error) {
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value  []any   `json:"value"`
				Values [][]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("%s: %s", params.Get("query"), out.Error)
	}
	var result []series
	for _, r := range out.Data.Result {
		var s series
		samples := r.Values
		if r.Value != nil {
			samples = [][]any{r.Value}
		}
		for _, v := range samples {
			if len(v) == 2 {
				text, _ := v[1].(string)
				f, _ := strconv.ParseFloat(text, 64)
				s.values = append(s.values, f)
			}
		}
		result = append(result, s)
	}
	return result, nil
}

// expectDashboard evaluates every query of the Grafana dashboard over the tier's run, as
// Grafana would with every workspace selected, and expects each to chart data: at least one
// sample that is a number.
func (f *fixture) expectDashboard(p *promServer, tm *timings) {
	t := f.t
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	queries, err := dashboard.Queries(filepath.Join(root, "config", "grafana", "serverlessplane-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	grafana := strings.NewReplacer("$namespace", ".*", "$__rate_interval", rateInterval)
	end := time.Now()
	charted := 0
	for _, q := range queries {
		expr := grafana.Replace(q.Expr)
		got, err := p.queryRange(expr, p.started, end, queryStep)
		if err != nil {
			t.Errorf("panel %q: %v", q.Panel, err)
			continue
		}
		if numbers(got) == 0 {
			t.Errorf("panel %q charts no data over the run: %s", q.Panel, expr)
			continue
		}
		charted++
	}
	tm.mark(fmt.Sprintf("Prometheus (scraping 2 operator and 2 gateway pods every %s): %d of %d dashboard queries chart data over %s",
		scrapeInterval, charted, len(queries), end.Sub(p.started).Round(time.Second)))
}

// numbers counts the samples of an answer that are numbers (histogram_quantile of no requests
// is NaN, which a panel draws as nothing).
func numbers(result []series) int {
	n := 0
	for _, s := range result {
		for _, v := range s.values {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				n++
			}
		}
	}
	return n
}

func unixSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// freeLoopbackPort is a loopback address no one listens on.
func freeLoopbackPort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
