package modelserver

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

const (
	eventually = 10 * time.Second
	pollEvery  = 10 * time.Millisecond
)

// waitFor polls cond until it holds, failing the test after eventually.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventually)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func score(t *testing.T, req *http.Request) []any {
	t.Helper()
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer resp.Body.Close()
	var out struct{ Predictions []any }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, decoding: %v", resp.StatusCode, err)
	}
	return out.Predictions
}

func TestServeDrainsOnShutdown(t *testing.T) {
	const grace = 5 * time.Second
	clock := clocktesting.NewFakeClock(time.Now())
	api, metrics := listen(t), listen(t)
	cfg := Config{MaxRequestBytes: DefaultMaxRequestBytes, DrainGrace: grace, DrainTimeout: eventually, Clock: clock}
	ctx, shutdown := context.WithCancel(context.Background())
	defer shutdown()
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, cfg, api, metrics, slog.New(slog.DiscardHandler)) }()
	base, metricsURL := "http://"+api.Addr().String(), "http://"+metrics.Addr().String()+"/metrics"
	waitFor(t, "the model to load", func() bool { code, _ := get(base + "/ping"); return code == http.StatusOK })

	// A request in flight: its body is still arriving when SIGTERM comes.
	body, sendRest := io.Pipe()
	slow, err := http.NewRequest(http.MethodPost, base+"/invocations", body)
	if err != nil {
		t.Fatal(err)
	}
	slowDone := make(chan []any, 1)
	go func() { slowDone <- score(t, slow) }()
	if _, err := io.WriteString(sendRest, `{"instances": [[5.5, 3.5,`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request to be in flight", func() bool {
		_, m := get(metricsURL)
		return strings.Contains(m, "serverlessplane_model_server_inflight_requests 1\n")
	})

	shutdown()
	waitFor(t, "/ping to turn 503", func() bool { code, _ := get(base + "/ping"); return code == http.StatusServiceUnavailable })
	// Within the grace, requests still arrive and are answered.
	req, err := http.NewRequest(http.MethodPost, base+"/invocations", strings.NewReader(`{"instances": [[5.5, 3.5, 1.3, 0.2]]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := score(t, req); len(got) != 1 {
		t.Errorf("scoring in the grace: got %v, want one prediction", got)
	}

	waitFor(t, "the grace timer", clock.HasWaiters)
	clock.Step(grace)
	waitFor(t, "the listener to close", func() bool {
		conn, err := net.Dial("tcp", api.Addr().String())
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	default:
	}

	if _, err := io.WriteString(sendRest, ` 1.3, 0.2]]}`); err != nil {
		t.Fatal(err)
	}
	sendRest.Close()
	if got := <-slowDone; len(got) != 1 {
		t.Errorf("the request in flight: got %v, want one prediction", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestServeFailsWhenTheModelDoesNotLoad(t *testing.T) {
	cfg := Config{Model: Source{Path: "testdata/no-such-model.xgb"}, MaxRequestBytes: DefaultMaxRequestBytes, DrainTimeout: eventually}
	err := Serve(context.Background(), cfg, listen(t), listen(t), slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "loading the model from testdata/no-such-model.xgb: open testdata/no-such-model.xgb: no such file or directory") {
		t.Errorf("got %v", err)
	}
}
