// Command loadgen sends real scoring requests to a serving endpoint through the gateway, as
// many clients of a workspace would, and prints what they got: requests, answers by status code,
// the entities that answered (the served-model-name header) and latency percentiles, every
// -every and for the whole run. It is the load of `make run` and of the real-node tier's
// scale-up and scale-down.
//
// Closed loop (the default): -concurrency clients, each sending its next request when the last
// is answered, so the gateway sees about that many requests in flight. Open loop: -rate requests
// per second whatever the answers take.
//
//	TOKEN=$(kubectl create token scorer -n ml-platform)
//	go run ./cmd/loadgen -gateway $GW:8443 -cacert ../../.local/ca.crt \
//	    -workspace ml-platform -endpoint churn -concurrency 12 -duration 2m
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// irisRow is one flower of the sample model's data, in MLflow's dataframe_split format.
const irisRow = `{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "data": [[5.1, 3.5, 1.4, 0.2]]}}`

type options struct {
	gateway, serverName, caFile string
	workspace, endpoint, entity string
	token, body                 string
	rate, concurrency           int
	duration, every, timeout    time.Duration
	json                        bool
}

func main() {
	var o options
	flag.StringVar(&o.gateway, "gateway", "", "host:port of a gateway (a pod address and 8443 on the real node)")
	flag.StringVar(&o.serverName, "server-name", "serverlessplane-gateway.serverlessplane-system.svc", "the gateway's name, verified against its certificate and sent as the host")
	flag.StringVar(&o.caFile, "cacert", "", "the operator CA bundle (ConfigMap serverlessplane-ca-bundle, key ca.crt)")
	flag.StringVar(&o.workspace, "workspace", "", "the workspace (namespace) of the endpoint")
	flag.StringVar(&o.endpoint, "endpoint", "", "the serving endpoint")
	flag.StringVar(&o.entity, "entity", "", "a served entity to call by name (default: the endpoint's traffic split)")
	flag.StringVar(&o.token, "token", os.Getenv("TOKEN"), "bearer token (default $TOKEN)")
	flag.StringVar(&o.body, "body", irisRow, "request body (default: one iris row for the sample model)")
	flag.IntVar(&o.rate, "rate", 0, "requests per second, open loop (0: closed loop of -concurrency clients)")
	flag.IntVar(&o.concurrency, "concurrency", 8, "clients of the closed loop; with -rate, the most requests in flight")
	flag.DurationVar(&o.duration, "duration", time.Minute, "how long to send")
	flag.DurationVar(&o.every, "every", 5*time.Second, "progress line interval")
	flag.DurationVar(&o.timeout, "timeout", 6*time.Minute, "limit on one request (a request held at zero may wait 5 minutes)")
	flag.BoolVar(&o.json, "json", false, "print the whole run's summary as JSON on stdout (progress goes to stderr)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func (o options) validate() error {
	var errs []error
	for _, f := range []struct{ name, value string }{
		{"-gateway", o.gateway}, {"-cacert", o.caFile}, {"-workspace", o.workspace}, {"-endpoint", o.endpoint},
		{"-token (or $TOKEN)", o.token},
	} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("%s is required", f.name))
		}
	}
	if _, _, err := net.SplitHostPort(o.gateway); o.gateway != "" && err != nil {
		errs = append(errs, fmt.Errorf("-gateway %q: want host:port (%v)", o.gateway, err))
	}
	if o.rate < 0 || o.concurrency < 1 || o.duration <= 0 || o.every <= 0 {
		errs = append(errs, errors.New("-rate must be >= 0, -concurrency >= 1, -duration and -every > 0"))
	}
	return errors.Join(errs...)
}

// target is the scoring request every client sends.
func (o options) target() vegeta.Target {
	path := "/workspaces/" + url.PathEscape(o.workspace) + "/serving-endpoints/" + url.PathEscape(o.endpoint)
	if o.entity != "" {
		path += "/served-models/" + url.PathEscape(o.entity)
	}
	return vegeta.Target{
		Method: http.MethodPost, URL: "https://" + o.serverName + path + "/invocations", Body: []byte(o.body),
		Header: http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + o.token}},
	}
}

// client dials the gateway's address whatever the URL's host, and verifies the gateway's
// certificate against the operator CA for the server name.
func (o options) client() (*http.Client, error) {
	pem, err := os.ReadFile(o.caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", o.caFile)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Timeout: o.timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: o.serverName, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, o.gateway)
		},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: o.concurrency,
		TLSHandshakeTimeout: 5 * time.Second,
	}}, nil
}

func run(o options) error {
	if err := o.validate(); err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	workers := uint64(o.concurrency)
	atk := vegeta.NewAttacker(vegeta.Client(c), vegeta.Workers(workers), vegeta.MaxWorkers(workers))
	pacer := vegeta.ConstantPacer{} // zero: as fast as the workers go
	mode := fmt.Sprintf("closed loop, %d clients", o.concurrency)
	if o.rate > 0 {
		pacer = vegeta.ConstantPacer{Freq: o.rate, Per: time.Second}
		mode = fmt.Sprintf("open loop, %d req/s, at most %d in flight", o.rate, o.concurrency)
	}
	target := o.target()
	fmt.Fprintf(os.Stderr, "loadgen: %s for %s to %s (via %s)\n", mode, o.duration, target.URL, o.gateway)

	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	go func() { <-interrupt; atk.Stop() }()

	total, window := newTally(), newTally()
	start := time.Now()
	tick := time.NewTicker(o.every)
	defer tick.Stop()
	results := atk.Attack(vegeta.NewStaticTargeter(target), pacer, o.duration, "loadgen")
	for done := false; !done; {
		select {
		case r, ok := <-results:
			if !ok {
				done = true
				break
			}
			total.add(r)
			window.add(r)
		case <-tick.C:
			fmt.Fprintln(os.Stderr, window.summary().line(time.Since(start)))
			window = newTally()
		}
	}
	s := total.summary()
	fmt.Fprintln(os.Stderr, "total "+s.line(time.Since(start)))
	for _, e := range s.Errors {
		fmt.Fprintln(os.Stderr, "  error:", e)
	}
	if o.json {
		return json.NewEncoder(os.Stdout).Encode(s)
	}
	return nil
}
