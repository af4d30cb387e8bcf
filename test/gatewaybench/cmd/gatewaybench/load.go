package main

import (
	"context"
	"fmt"
	"github.com/serverlessplane/operator/test/gatewaybench/benchkit"
	"io"
	"net/http"
	"slices"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// scoringBody is one iris row in MLflow's dataframe_split shape.
const scoringBody = `{"dataframe_split":{"columns":["sepal_length","sepal_width","petal_length","petal_width"],"data":[[5.1,3.5,1.4,0.2]]}}`

// path is one way to the model server, with the client that takes it.
type path struct {
	name   string
	target vegeta.Target
	client *http.Client
}

// paths are the three configurations: straight to the model server, through the proxy with
// the gateway's certificate and transport settings, and through the gateway.
func (s *stack) paths() []path {
	header := http.Header{"Content-Type": {"application/json"}}
	target := func(url string, extra ...string) vegeta.Target {
		h := header.Clone()
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return vegeta.Target{Method: http.MethodPost, URL: url, Body: []byte(scoringBody), Header: h}
	}
	plain := func() *http.Client {
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second, DisableCompression: true,
		}}
	}
	// What the gateway's transport to a model pod is (internal/gateway transport()).
	mtls := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: s.pki.Gateway.ClientConfig(servingName), ForceAttemptHTTP2: true,
		MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 5 * time.Second,
	}}
	return []path{
		{name: "direct", target: target("http://" + s.model + "/invocations"), client: plain()},
		{name: "proxy", target: target("https://" + s.proxy + "/invocations"), client: mtls},
		{name: "gateway+proxy", target: target("http://"+s.gateway+"/workspaces/"+workspace+"/serving-endpoints/"+endpoint+"/invocations",
			"Authorization", "Bearer "+benchkit.UserToken), client: plain()},
	}
}

// check sends one request on each path and fails unless all answer 200 with the same body.
func check(ctx context.Context, paths []path) error {
	var want string
	for _, p := range paths {
		req, err := p.target.Request()
		if err != nil {
			return err
		}
		resp, err := p.client.Do(req.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %d: %s", p.name, resp.StatusCode, body)
		}
		if want == "" {
			want = string(body)
		} else if string(body) != want {
			return fmt.Errorf("%s answered %s, direct %s", p.name, body, want)
		}
	}
	return nil
}

// sample is what the requests of one path at one rate measured.
type sample struct {
	latencies []time.Duration
	// sent and ok count requests and 2xx answers; span is the attacks' send time, from each
	// one's first request to its last, summed.
	sent, ok int
	span     time.Duration
	// cpu is the process's CPU time (user and system) while the attacks ran: the load
	// generator's and every server's, of which the other paths idle meanwhile.
	cpu    time.Duration
	errors map[string]int
}

func (s *sample) add(r *vegeta.Result) {
	s.sent++
	s.latencies = append(s.latencies, r.Latency)
	if r.Code >= 200 && r.Code < 300 && r.Error == "" {
		s.ok++
		return
	}
	if s.errors == nil {
		s.errors = map[string]int{}
	}
	key := fmt.Sprintf("%d %s", r.Code, r.Error)
	s.errors[key]++
}

// attacker runs constant-rate attacks on one path. A vegeta.Attacker serves one attack, so each
// run makes its own around the path's client, whose connections stay warm from one round to
// the next as they would under steady traffic.
type attacker struct {
	path path
}

func newAttacker(p path) *attacker { return &attacker{path: p} }

// run sends rate requests per second for d and adds their results to into (nil: discarded).
func (a *attacker) run(rate int, d time.Duration, into *sample) {
	pacer := vegeta.ConstantPacer{Freq: rate, Per: time.Second}
	var first, last time.Time
	cpuBefore := processCPU()
	atk := vegeta.NewAttacker(vegeta.Client(a.path.client))
	for r := range atk.Attack(vegeta.NewStaticTargeter(a.path.target), pacer, d, a.path.name) {
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		if r.Timestamp.After(last) {
			last = r.Timestamp
		}
		if into != nil {
			into.add(r)
		}
	}
	if into != nil && !first.IsZero() {
		into.span += last.Sub(first)
		into.cpu += processCPU() - cpuBefore
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// measure warms each path up, then attacks them in rounds, rotating the order every round so
// that noise from other work on the machine falls on every path alike.
func measure(attackers []*attacker, rate int, warmup, duration time.Duration, rounds int, progress func(string)) []*sample {
	for _, a := range attackers {
		progress(fmt.Sprintf("%d req/s: warming up %s for %s", rate, a.path.name, warmup))
		a.run(rate, warmup, nil)
	}
	out := make([]*sample, len(attackers))
	for i := range out {
		out[i] = &sample{}
	}
	each := duration / time.Duration(rounds)
	for round := range rounds {
		progress(fmt.Sprintf("%d req/s: round %d/%d, %s per path", rate, round+1, rounds, each))
		for k := range attackers {
			i := (round + k) % len(attackers)
			attackers[i].run(rate, each, out[i])
		}
	}
	for _, s := range out {
		slices.Sort(s.latencies)
	}
	return out
}
