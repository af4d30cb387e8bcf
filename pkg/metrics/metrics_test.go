package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
)

// podServer serves a pod's metrics page and returns its IP and port.
func podServer(t *testing.T, page string, status int) (string, int32) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		fmt.Fprint(w, page)
	}))
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	var p int32
	fmt.Sscan(port, &p)
	return host, p
}

func scrapeSource(port int32) *Scrape {
	c := configv1.Default()
	n := c.Metrics.Names
	return &Scrape{Client: NewScrapeClient(time.Second), WarehousePort: port, ModelPort: port,
		Running: n.RunningQueries, Queued: n.QueuedQueries, QueueWait: n.QueueWaitSeconds, InFlightName: n.InFlightRequests}
}

func TestScrapeSumsPerCluster(t *testing.T) {
	page := func(running, queued, wait float64) string {
		return fmt.Sprintf("# TYPE serverlessplane_warehouse_running_queries gauge\nserverlessplane_warehouse_running_queries %g\n"+
			"serverlessplane_warehouse_queued_queries %g\nserverlessplane_warehouse_queue_wait_seconds %g\n", running, queued, wait)
	}
	// The httptest servers share 127.0.0.1 and differ by port, so each pod is read on its own.
	ip1, port1 := podServer(t, page(3, 1, 2), http.StatusOK)
	got, err := scrapeSource(port1).Warehouse(context.Background(), Target{Pods: []Pod{{Name: "a", IP: ip1, Cluster: "c1"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := WarehouseLoad{Clusters: map[string]QueryLoad{"c1": {Running: 3, Queued: 1}}, QueueWait: 2 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("load (-want +got):\n%s", diff)
	}
	twice := Target{Pods: []Pod{{Name: "a", IP: ip1, Cluster: "c1"}, {Name: "b", IP: ip1, Cluster: "c2"}}}
	got, err = scrapeSource(port1).Warehouse(context.Background(), twice)
	if err != nil {
		t.Fatal(err)
	}
	if r, q := got.Total(); r != 6 || q != 2 {
		t.Fatalf("total = %g running, %g queued; want 6, 2", r, q)
	}
}

func TestScrapeFailsWholeWhenAPodFails(t *testing.T) {
	ip, port := podServer(t, "oops", http.StatusInternalServerError)
	_, err := scrapeSource(port).InFlight(context.Background(), Target{Pods: []Pod{{Name: "m-1", IP: ip}}})
	if err == nil || !strings.Contains(err.Error(), "m-1") {
		t.Fatalf("err = %v, want a failure naming pod m-1", err)
	}
	_, err = scrapeSource(port).InFlight(context.Background(), Target{Pods: []Pod{{Name: "m-2"}}})
	if err == nil || !strings.Contains(err.Error(), "no IP") {
		t.Fatalf("err = %v, want a failure for a pod without IP", err)
	}
}

// A workload image is the tenant's: a metrics page the parser cannot read (one that opens with
// "{" made it panic, and the operator with it) is an error naming the pod, never a crash.
func TestScrapeSurvivesMalformedPages(t *testing.T) {
	for _, page := range []string{"{}", "{", "x{"} {
		ip, port := podServer(t, page, http.StatusOK)
		_, err := scrapeSource(port).InFlight(context.Background(), Target{Pods: []Pod{{Name: "m-1", IP: ip}}})
		if err == nil || !strings.Contains(err.Error(), "m-1") {
			t.Errorf("page %q: err = %v, want a failure naming pod m-1", page, err)
		}
	}
}

// A pod's metrics page is the tenant's: it cannot send the operator elsewhere, cost it more than
// a bounded read, feed it load that is not a number, or put its own text into status.
func TestScrapeRefusesHostilePages(t *testing.T) {
	// What a redirect would reach: an address the pod cannot, but the operator can.
	internalHits := 0
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits++
		fmt.Fprint(w, "serverlessplane_model_inflight_requests 7\n")
	}))
	t.Cleanup(internal.Close)
	big := strings.Repeat("# padding\n", maxPage/10+1)
	many := strings.Builder{}
	for i := range maxSeries + 1 {
		fmt.Fprintf(&many, "x{i=\"%d\"} 1\n", i)
	}
	for _, c := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"a redirect is not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, internal.URL+"/metrics", http.StatusFound)
		}, "HTTP status 302"},
		{"a page over the size bound", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, big) }, "larger than"},
		{"a page over the sample bound", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, many.String()) }, "more than"},
		{"NaN load", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "serverlessplane_model_inflight_requests NaN\n")
		}, "finite"},
		{"infinite load", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "serverlessplane_model_inflight_requests +Inf\n")
		}, "finite"},
		{"negative load", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "serverlessplane_model_inflight_requests -3\n")
		}, "at least 0"},
		{"the page's text stays out of the error", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "secret-token-from-the-pod{ 1\n")
		}, "not in the Prometheus text format"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			t.Cleanup(srv.Close)
			host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
			var p int32
			fmt.Sscan(port, &p)
			_, err := scrapeSource(p).InFlight(context.Background(), Target{Pods: []Pod{{Name: "m-1", IP: host}}})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "m-1") {
				t.Fatalf("err = %v, want one naming pod m-1 and %q", err, c.want)
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Fatalf("err = %v carries the pod's text", err)
			}
		})
	}
	if internalHits != 0 {
		t.Fatalf("the redirect target was fetched %d times", internalHits)
	}
}

// At most Concurrency scrapes are in flight at once, however many pods there are.
func TestScrapeBoundsConcurrency(t *testing.T) {
	var mu sync.Mutex
	inFlight, peak := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // long enough for the others to pile up if unbounded
		mu.Lock()
		inFlight--
		mu.Unlock()
		fmt.Fprint(w, "serverlessplane_model_inflight_requests 1\n")
	}))
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	var p int32
	fmt.Sscan(port, &p)
	s := scrapeSource(p)
	s.Concurrency = 3
	var pods []Pod
	for i := range 12 {
		pods = append(pods, Pod{Name: fmt.Sprintf("m-%d", i), IP: host})
	}
	got, err := s.InFlight(context.Background(), Target{Pods: pods})
	if err != nil || got != 12 {
		t.Fatalf("in flight = %g, %v; want 12", got, err)
	}
	if peak > 3 {
		t.Fatalf("%d scrapes at once, want at most 3", peak)
	}
}

func TestPrometheusQueries(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		queries = append(queries, q)
		switch {
		case strings.Contains(q, "bad"):
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"parse error"}`)
		case strings.Contains(q, "running"):
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[`+
				`{"metric":{"cluster":"a"},"value":[1,"4"]},{"metric":{"cluster":"b"},"value":[1,"2"]}]}}`)
		case strings.Contains(q, "queued"):
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cluster":"a"},"value":[1,"7"]}]}}`)
		case strings.Contains(q, "wait"):
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"40"]}]}}`)
		default:
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}}`)
		}
	}))
	defer srv.Close()
	c := configv1.Default()
	q := c.Metrics.Queries
	p, err := NewPrometheus(srv.Client(), srv.URL, q.RunningQueries, q.QueuedQueries, q.QueueWaitSeconds, q.InFlightRequests)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Warehouse(context.Background(), Target{Namespace: "ws", Name: "bi"})
	if err != nil {
		t.Fatal(err)
	}
	want := WarehouseLoad{Clusters: map[string]QueryLoad{"a": {Running: 4, Queued: 7}, "b": {Running: 2}}, QueueWait: 40 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("load (-want +got):\n%s", diff)
	}
	if !strings.Contains(queries[0], `namespace="ws",warehouse="bi"`) {
		t.Fatalf("query %q is not rendered for the warehouse", queries[0])
	}
	inflight, err := p.InFlight(context.Background(), Target{Namespace: "ws", Name: "ep", Entity: "champion"})
	if err != nil || inflight != 3 {
		t.Fatalf("in flight = %g, %v; want 3", inflight, err)
	}
	if !strings.Contains(queries[len(queries)-1], `served_entity="champion"`) {
		t.Fatalf("query %q is not rendered for the entity", queries[len(queries)-1])
	}
	bad, _ := NewPrometheus(srv.Client(), srv.URL, "bad", "bad", "bad", "bad")
	if _, err := bad.InFlight(context.Background(), Target{}); err == nil || !strings.Contains(err.Error(), "parse error") {
		t.Fatalf("err = %v, want Prometheus's error", err)
	}
}

func TestFromConfig(t *testing.T) {
	for _, tc := range []struct {
		source configv1.MetricsSourceType
		want   string
	}{{configv1.MetricsScrape, "*metrics.Scrape"}, {configv1.MetricsPrometheus, "*metrics.Prometheus"}, {configv1.MetricsNone, "metrics.None"}} {
		c := configv1.Default()
		c.Metrics.Source, c.Metrics.PrometheusURL = tc.source, "http://prometheus:9090"
		s, err := FromConfig(c, nil)
		if err != nil || fmt.Sprintf("%T", s) != tc.want {
			t.Errorf("source %s: got %T, %v; want %s", tc.source, s, err, tc.want)
		}
	}
}
