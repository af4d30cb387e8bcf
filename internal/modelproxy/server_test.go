package modelproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/serverlessplane/operator/internal/apierror"
	"github.com/serverlessplane/operator/pkg/certs"
)

// seenRequest is what the model container received.
type seenRequest struct {
	Method, URI, Host string
	Header            http.Header
	Body              string
}

// A gateway's request reaches the model as sent, but for the X-Forwarded-* headers the proxy
// owns, and the model's answer comes back as the model wrote it, over HTTP/2 and HTTP/1.1.
func TestForwardsRequestAndResponseUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name      string
		http1     bool
		wantProto int
	}{
		{name: "HTTP/2", wantProto: 2},
		{name: "HTTP/1.1", http1: true, wantProto: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := make(chan seenRequest, 1)
			env := startProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				seen <- seenRequest{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: string(body)}
				w.Header().Set("Served-Model-Name", "churn-v3")
				w.Header()["X-Model-Multi"] = []string{"1", "2"}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, `{"predictions": [0.25, 0.75]}`)
			}), nil)
			c := env.gateway(t)
			if tc.http1 {
				tr := c.Transport.(*http.Transport)
				tr.ForceAttemptHTTP2 = false
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			const body = `{"dataframe_split": {"columns": ["a"], "data": [[1]]}}`
			req, err := http.NewRequest(http.MethodPost, env.url("/invocations?b=2&a=1&raw=%2F"), strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header["X-Custom"] = []string{"first", "second"}
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			req.Header.Set("X-Forwarded-Host", "attacker.example")
			req.Header.Set("X-Forwarded-Proto", "http")
			req.Header.Set("Forwarded", "for=203.0.113.9")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			gotBody, _ := io.ReadAll(resp.Body)

			got := <-seen
			want := seenRequest{Method: http.MethodPost, URI: "/invocations?b=2&a=1&raw=%2F", Host: env.scoring, Body: body}
			if diff := cmp.Diff(want, got, cmpIgnoreHeader); diff != "" {
				t.Errorf("upstream request (-want +got):\n%s", diff)
			}
			wantHeader := map[string][]string{
				"Content-Type": {"application/json"}, "X-Custom": {"first", "second"}, "X-Forwarded-Proto": {"https"},
				"X-Forwarded-For": nil, "X-Forwarded-Host": nil, "Forwarded": nil,
			}
			gotHeader := map[string][]string{}
			for name := range wantHeader {
				gotHeader[name] = got.Header.Values(name)
			}
			if diff := cmp.Diff(wantHeader, gotHeader); diff != "" {
				t.Errorf("upstream headers (-want +got):\n%s", diff)
			}

			if resp.ProtoMajor != tc.wantProto {
				t.Errorf("protocol: got %s, want major version %d", resp.Proto, tc.wantProto)
			}
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("status: got %d, want %d", resp.StatusCode, http.StatusCreated)
			}
			if diff := cmp.Diff(`{"predictions": [0.25, 0.75]}`, string(gotBody)); diff != "" {
				t.Errorf("response body (-want +got):\n%s", diff)
			}
			gotRespHeader := map[string][]string{
				"Served-Model-Name": resp.Header.Values("Served-Model-Name"),
				"X-Model-Multi":     resp.Header.Values("X-Model-Multi"),
				"Content-Type":      resp.Header.Values("Content-Type"),
			}
			wantRespHeader := map[string][]string{"Served-Model-Name": {"churn-v3"}, "X-Model-Multi": {"1", "2"}, "Content-Type": {"application/json"}}
			if diff := cmp.Diff(wantRespHeader, gotRespHeader); diff != "" {
				t.Errorf("response headers (-want +got):\n%s", diff)
			}
			if got := metricValue(t, env.srv.metrics.registry, "serverlessplane_model_requests_total", map[string]string{"code": "201"}); got != 1 {
				t.Errorf("requests_total{code=201}: got %v, want 1", got)
			}
			if got := metricValue(t, env.srv.metrics.registry, "serverlessplane_model_request_duration_seconds", nil); got != 1 {
				t.Errorf("request_duration_seconds count: got %v, want 1", got)
			}
		})
	}
}

var cmpIgnoreHeader = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Header" }, cmp.Ignore())

// Only the gateway's client certificate from the proxy's CA gets through the handshake; the
// same CA's serving certificates (other workspaces' model pods) and other names do not.
func TestHandshakeAdmitsOnlyGatewayClients(t *testing.T) {
	var hits atomic.Int32
	env := startProxy(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }), nil)
	otherCA := newPKI(t, "another-ca")
	for _, tc := range []struct {
		name string
		cert func() *tls.Certificate
		ok   bool
	}{
		{name: "gateway client certificate", ok: true, cert: func() *tls.Certificate { return ptr(env.pki.tlsCert(t, certs.Client, gatewayCN)) }},
		{name: "no client certificate", cert: func() *tls.Certificate { return nil }},
		{name: "gateway name from another CA", cert: func() *tls.Certificate { return ptr(otherCA.tlsCert(t, certs.Client, gatewayCN)) }},
		{name: "serving certificate with the gateway name", cert: func() *tls.Certificate { return ptr(env.pki.tlsCert(t, certs.Serving, gatewayCN)) }},
		{name: "another workspace's model serving certificate", cert: func() *tls.Certificate { return ptr(env.pki.tlsCert(t, certs.Serving, "ep.other-ws.svc")) }},
		{name: "client certificate with another name", cert: func() *tls.Certificate { return ptr(env.pki.tlsCert(t, certs.Client, "someone-else")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			resp, err := client(t, env.pki.pool, tc.cert()).Get(env.url("/invocations"))
			if err == nil {
				resp.Body.Close()
			}
			if tc.ok && (err != nil || resp.StatusCode != http.StatusOK) {
				t.Fatalf("want the request served, got %v", errOrStatus(resp, err))
			}
			if !tc.ok && err == nil {
				t.Fatalf("want the handshake refused, got status %d", resp.StatusCode)
			}
			if got, want := hits.Load()-before, map[bool]int32{true: 1, false: 0}[tc.ok]; got != want {
				t.Errorf("requests that reached the model: got %d, want %d", got, want)
			}
		})
	}
}

// With CONTAINER_CONCURRENCY=2 and QUEUE_DEPTH=3, two requests reach the blocked model, three
// wait and reach it in arrival order as slots free, and the sixth is refused with 503 at once.
func TestConcurrencyLimitQueuesInOrderAndRefusesBeyond(t *testing.T) {
	up := newGatedUpstream()
	env := startProxy(t, up, func(c *Config) { c.ContainerConcurrency, c.QueueDepth = 2, 3 })
	c := env.gateway(t)
	results := make(chan string, 10)
	send := func(id string) {
		go func() {
			resp, body, err := post(c, env.url("/invocations"), id)
			if err != nil {
				results <- id + ": " + err.Error()
				return
			}
			results <- id + ": " + resp.Status + " " + body
		}()
	}

	send("a")
	send("b")
	first := []string{receive(t, up.arrived), receive(t, up.arrived)}
	if !(first[0] == "a" && first[1] == "b" || first[0] == "b" && first[1] == "a") {
		t.Fatalf("first to reach the model: got %v, want a and b", first)
	}
	queued := []string{"q1", "q2", "q3"}
	for i, id := range queued {
		send(id)
		poll(t, id+" queued", func() bool { _, q := env.srv.limiter.load(); return q == i+1 })
	}

	resp, body, err := post(c, env.url("/invocations"), "beyond")
	if err != nil {
		t.Fatal(err)
	}
	var apiErr apierror.Body
	if err := json.Unmarshal([]byte(body), &apiErr); err != nil {
		t.Fatalf("503 body %q is not error JSON: %v", body, err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || apiErr.ErrorCode != "TEMPORARILY_UNAVAILABLE" || apiErr.Message == "" {
		t.Errorf("beyond the queue: got %d %+v, want 503 TEMPORARILY_UNAVAILABLE with a message", resp.StatusCode, apiErr)
	}
	reg := env.srv.metrics.registry
	for name, want := range map[string]float64{"serverlessplane_model_inflight_requests": 5, "serverlessplane_model_queued_requests": 3} {
		if got := metricValue(t, reg, name, nil); got != want {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}

	var order []string
	for range queued {
		up.release <- struct{}{}
		order = append(order, receive(t, up.arrived))
	}
	if diff := cmp.Diff(queued, order); diff != "" {
		t.Errorf("order in which queued requests reached the model (-want +got):\n%s", diff)
	}
	up.release <- struct{}{}
	up.release <- struct{}{}
	var got []string
	for range 5 {
		got = append(got, receive(t, results))
	}
	for _, r := range got {
		if !strings.Contains(r, "200 OK done ") {
			t.Errorf("want every admitted request served, got %q", r)
		}
	}
	if up.maxActive() != 2 {
		t.Errorf("most requests at the model at once: got %d, want 2", up.maxActive())
	}
	for code, want := range map[string]float64{"200": 5, "503": 1} {
		if got := metricValue(t, reg, "serverlessplane_model_requests_total", map[string]string{"code": code}); got != want {
			t.Errorf("requests_total{code=%s}: got %v, want %v", code, got, want)
		}
	}
	if got := metricValue(t, reg, "serverlessplane_model_rejected_requests_total", map[string]string{"reason": rejectQueueFull}); got != 1 {
		t.Errorf("rejected_requests_total{reason=queue_full}: got %v, want 1", got)
	}
}

// A queued request whose client gives up leaves the queue, and its place goes to others.
func TestQueuedRequestLeavesWhenClientGoes(t *testing.T) {
	up := newGatedUpstream()
	env := startProxy(t, up, func(c *Config) { c.ContainerConcurrency, c.QueueDepth = 1, 1 })
	c := env.gateway(t)
	go func() { _, _, _ = post(c, env.url("/invocations"), "holder") }()
	receive(t, up.arrived)

	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, env.url("/invocations"), nil)
		_, err := c.Do(req)
		gone <- err
	}()
	poll(t, "the request queued", func() bool { _, q := env.srv.limiter.load(); return q == 1 })
	cancel()
	if err := receive(t, gone); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: got %v, want context.Canceled", err)
	}
	poll(t, "the queue empty", func() bool { _, q := env.srv.limiter.load(); return q == 0 })

	next := make(chan string, 1)
	go func() {
		resp, body, err := post(c, env.url("/invocations"), "next")
		next <- errOrStatus(resp, err) + " " + body
	}()
	poll(t, "the next request queued", func() bool { _, q := env.srv.limiter.load(); return q == 1 })
	up.release <- struct{}{}
	if got := receive(t, up.arrived); got != "next" {
		t.Errorf("after the holder: got %q at the model, want next", got)
	}
	up.release <- struct{}{}
	if got := receive(t, next); got != "200 done next" {
		t.Errorf("next: got %q", got)
	}
	poll(t, "client_gone counted", func() bool {
		return metricValue(t, env.srv.metrics.registry, "serverlessplane_model_rejected_requests_total", map[string]string{"reason": rejectClientGone}) == 1
	})
}

// /readyz follows the model's /ping and turns off for good once draining; /healthz and
// /metrics answer throughout.
func TestReadinessFollowsPingAndDraining(t *testing.T) {
	var ping atomic.Int32
	ping.Store(http.StatusOK)
	clk := clocktesting.NewFakeClock(time.Now())
	env := startProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			w.WriteHeader(int(ping.Load()))
		}
	}), func(c *Config) { c.Clock, c.DrainGrace = clk, time.Minute })

	steps := []struct {
		name string
		do   func()
		want int
	}{
		{name: "model answers /ping", do: func() {}, want: 200},
		{name: "model not ready", do: func() { ping.Store(http.StatusServiceUnavailable) }, want: 503},
		{name: "model ready again", do: func() { ping.Store(http.StatusOK) }, want: 200},
		{name: "draining", do: func() { go func() { _ = env.srv.Drain(context.Background()) }() }, want: 503},
	}
	for _, step := range steps {
		step.do()
		poll(t, step.name, func() bool { return adminStatus(t, env, "/readyz") == step.want })
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		if got := adminStatus(t, env, path); got != http.StatusOK {
			t.Errorf("%s while draining: got %d, want 200", path, got)
		}
	}
	resp, err := http.Get("http://" + env.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	for _, name := range []string{"serverlessplane_model_inflight_requests 0", "serverlessplane_model_queued_requests 0"} {
		if !bytes.Contains(text, []byte(name)) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
	poll(t, "the grace timer", clk.HasWaiters)
	clk.Step(time.Minute) // end the grace, so that Drain returns
}

func TestReadinessFailsWhenModelIsDown(t *testing.T) {
	env := startProxy(t, http.NotFoundHandler(), nil)
	env.upstream.Close()
	if got := adminStatus(t, env, "/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the model down: got %d, want 503", got)
	}
	resp, body, err := post(env.gateway(t), env.url("/invocations"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, `"error_code":"TEMPORARILY_UNAVAILABLE"`) {
		t.Errorf("scoring with the model down: got %d %s, want 502 TEMPORARILY_UNAVAILABLE", resp.StatusCode, body)
	}
}

// On drain the proxy turns readiness off, still serves new connections for the grace, then
// stops accepting and returns only once the in-flight request has been answered.
func TestDrainFinishesInFlightRequests(t *testing.T) {
	up := newGatedUpstream()
	clk := clocktesting.NewFakeClock(time.Now())
	env := startProxy(t, up, func(c *Config) { c.Clock, c.DrainGrace = clk, 5*time.Second })
	inflight := make(chan string, 1)
	go func() {
		resp, body, err := post(env.gateway(t), env.url("/invocations"), "slow")
		inflight <- errOrStatus(resp, err) + " " + body
	}()
	receive(t, up.arrived)

	drained := make(chan error, 1)
	go func() { drained <- env.srv.Drain(context.Background()) }()
	poll(t, "/readyz failing", func() bool { return adminStatus(t, env, "/readyz") == http.StatusServiceUnavailable })

	resp, err := env.gateway(t).Get(env.url("/ping"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a new connection during the grace: got %v, want 200", errOrStatus(resp, err))
	}
	resp.Body.Close()

	poll(t, "the grace timer", clk.HasWaiters)
	clk.Step(5 * time.Second)
	poll(t, "the listener closed", func() bool {
		conn, err := net.Dial("tcp", env.scoring)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	select {
	case err := <-drained:
		t.Fatalf("Drain returned (%v) with a request in flight", err)
	default:
	}
	up.release <- struct{}{}
	if got := receive(t, inflight); got != "200 done slow" {
		t.Errorf("in-flight request: got %q, want 200 done slow", got)
	}
	if err := receive(t, drained); err != nil {
		t.Errorf("Drain: %v", err)
	}
}

// A request still running at DRAIN_TIMEOUT is cut and Drain says so.
func TestDrainGivesUpAtTimeout(t *testing.T) {
	up := newGatedUpstream()
	env := startProxy(t, up, func(c *Config) { c.DrainTimeout = 100 * time.Millisecond })
	go func() { _, _, _ = post(env.gateway(t), env.url("/invocations"), "stuck") }()
	receive(t, up.arrived)
	if err := env.srv.Drain(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Drain: got %v, want a deadline error", err)
	}
}

// After the Secret rotates, new handshakes present the new certificate and trust the new
// client CA, once the reload interval has passed; nothing restarts.
func TestCertificateRotation(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	env := startProxy(t, http.NotFoundHandler(), func(c *Config) { c.Clock, c.CertReloadInterval = clk, 2*time.Second })
	oldGateway := env.gateway(t)
	before := servedCert(t, oldGateway, env.url("/"))

	newCA := newPKI(t, "serverlessplane-ca-2")
	newServing := newCA.pair(t, certs.Serving, serverName, serverName)
	env.secret.write(t, secretFiles(newCA, newServing))
	if got := servedCert(t, env.gateway(t), env.url("/")); got != before {
		t.Errorf("within the reload interval: got serial %s, want the old %s", got, before)
	}

	clk.Step(2 * time.Second)
	wantSerial := mustSerial(t, newServing.Cert)
	newCert := newCA.tlsCert(t, certs.Client, gatewayCN)
	if got := servedCert(t, client(t, newCA.pool, &newCert), env.url("/")); got != wantSerial {
		t.Errorf("after the rotation: got serial %s, want the new %s", got, wantSerial)
	}
	bothRoots := newCA.pool.Clone()
	bothRoots.AppendCertsFromPEM(env.pki.ca.Cert)
	oldCert := env.pki.tlsCert(t, certs.Client, gatewayCN)
	if resp, err := client(t, bothRoots, &oldCert).Get(env.url("/")); err == nil {
		resp.Body.Close()
		t.Errorf("a client certificate of the replaced CA: got %d, want the handshake refused", resp.StatusCode)
	}
}

// Bodies above MAX_REQUEST_BYTES are refused with 413, declared or streamed.
func TestRequestBodyLimit(t *testing.T) {
	var hits atomic.Int32
	env := startProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
	}), func(c *Config) { c.MaxRequestBytes = 10 })
	c := env.gateway(t)
	for _, tc := range []struct {
		name string
		body io.Reader
		// A declared length is refused before the model sees anything; a streamed body is
		// cut once it passes the limit, after the request may have started.
		reachesModel bool
	}{
		{name: "declared length", body: strings.NewReader("01234567890")},
		{name: "streamed", body: io.MultiReader(strings.NewReader("012345"), strings.NewReader("67890")), reachesModel: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			resp, err := c.Post(env.url("/invocations"), "application/json", tc.body)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), `"error_code":"BAD_REQUEST"`) {
				t.Errorf("got %d %s, want 413 BAD_REQUEST", resp.StatusCode, body)
			}
			if !tc.reachesModel && hits.Load() != before {
				t.Errorf("the oversized body reached the model")
			}
		})
	}
}

// gatedUpstream is a model that holds every request until released, reporting arrivals (by
// the X-Request-Id header) in order.
type gatedUpstream struct {
	arrived chan string
	release chan struct{}
	done    chan struct{}

	mu          sync.Mutex
	active, max int
}

func newGatedUpstream() *gatedUpstream {
	g := &gatedUpstream{arrived: make(chan string, 100), release: make(chan struct{}), done: make(chan struct{})}
	return g
}

func (g *gatedUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ping" {
		return
	}
	id := r.Header.Get("X-Request-Id")
	g.mu.Lock()
	g.active++
	g.max = max(g.max, g.active)
	g.mu.Unlock()
	g.arrived <- id
	select {
	case <-g.release:
	case <-g.done:
	case <-r.Context().Done():
	}
	g.mu.Lock()
	g.active--
	g.mu.Unlock()
	_, _ = io.WriteString(w, "done "+id)
}

// stop lets every held request go; startProxy calls it before draining at cleanup.
func (g *gatedUpstream) stop() { close(g.done) }

func (g *gatedUpstream) maxActive() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.max
}

func post(c *http.Client, url, id string) (*http.Response, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"inputs": [1]}`))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("X-Request-Id", id)
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(eventually):
		t.Fatal("timed out waiting on a channel")
		panic("unreachable")
	}
}

func adminStatus(t *testing.T, env *proxyEnv, path string) int {
	t.Helper()
	resp, err := http.Get("http://" + env.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// servedCert is the serial of the certificate the proxy presents to a new connection.
func servedCert(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.TLS.PeerCertificates[0].SerialNumber.String()
}

func mustSerial(t *testing.T, pemCert []byte) string {
	t.Helper()
	cert, err := certs.ParseCert(pemCert)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber.String()
}

func errOrStatus(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status[:3]
}

// metricValue is the counter or gauge value, or the histogram's count, of the series of name
// whose labels include labels; 0 if there is none. It fails if name is not registered.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == k && lp.GetValue() == v
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
		return 0
	}
	t.Fatalf("metric %s is not registered", name)
	return 0
}

func ptr[T any](v T) *T { return &v }
