package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// apiServer counts the writes the API server answered, from its apiserver_request_total.
type apiServer struct {
	restConfig *rest.Config
	clientset  *kubernetes.Clientset
}

func (a *apiServer) init() error {
	var err error
	a.clientset, err = kubernetes.NewForConfig(a.restConfig)
	return err
}

// writeVerbs are the verbs of apiserver_request_total that change something.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true}

var labelRE = regexp.MustCompile(`(\w+)="([^"]*)"`)

// writeCounts are the writes answered so far by resource (resource/subresource, verb).
type writeCounts map[string]float64

func (w writeCounts) total() float64 {
	var sum float64
	for _, v := range w {
		sum += v
	}
	return sum
}

// minus is what w counted since before, without the keys that did not move.
func (w writeCounts) minus(before writeCounts) writeCounts {
	out := writeCounts{}
	for k, v := range w {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func (a *apiServer) writes(ctx context.Context) (writeCounts, error) {
	raw, err := a.clientset.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	out := writeCounts{}
	for _, line := range strings.Split(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		end := strings.LastIndex(rest, "}")
		if end < 0 {
			continue
		}
		labels := map[string]string{}
		for _, m := range labelRE.FindAllStringSubmatch(rest[:end], -1) {
			labels[m[1]] = m[2]
		}
		// The API server renews its own identity lease every few seconds; the operator runs
		// without leader election and writes no lease.
		if !writeVerbs[labels["verb"]] || labels["dry_run"] != "" || labels["resource"] == "leases" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest[end+1:]), 64)
		if err != nil {
			return nil, err
		}
		key := labels["resource"]
		if labels["subresource"] != "" {
			key += "/" + labels["subresource"]
		}
		key += " " + labels["verb"]
		if !strings.HasPrefix(labels["code"], "2") {
			key = "failed " + key
		}
		out[key] += v
	}
	return out, nil
}

// settle waits until no write is answered for quiet, and returns when the last write before
// that was seen and the counts then. After timeout it returns the counts as they are.
func (a *apiServer) settle(ctx context.Context, quiet, timeout time.Duration, log func(string, ...any)) (time.Time, writeCounts, error) {
	deadline := time.Now().Add(timeout)
	last, err := a.writes(ctx)
	if err != nil {
		return time.Time{}, nil, err
	}
	lastChange := time.Now()
	for time.Since(lastChange) < quiet && time.Now().Before(deadline) {
		time.Sleep(time.Second)
		now, err := a.writes(ctx)
		if err != nil {
			return time.Time{}, nil, err
		}
		if now.total() != last.total() {
			log("writes%s", breakdown(now.minus(last)))
			last, lastChange = now, time.Now()
		}
	}
	return lastChange, last, nil
}
