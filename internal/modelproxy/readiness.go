package modelproxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// pingTimeout bounds the readiness check of the model; it stays below the kubelet's default
// probe timeout of one second so a slow model reads as not ready, not as a failed probe.
const pingTimeout = 900 * time.Millisecond

// readiness answers /readyz: ready while the model answers GET /ping with 200 and the proxy is
// not draining. Each probe asks the model afresh, so readiness follows it without a cache.
type readiness struct {
	ping     string
	client   *http.Client
	draining atomic.Bool
}

func newReadiness(upstream *url.URL, transport http.RoundTripper) *readiness {
	return &readiness{ping: upstream.JoinPath("ping").String(), client: &http.Client{Transport: transport}}
}

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := rd.check(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

func (rd *readiness) check(ctx context.Context) error {
	if rd.draining.Load() {
		return fmt.Errorf("draining")
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rd.ping, nil)
	if err != nil {
		return err
	}
	resp, err := rd.client.Do(req)
	if err != nil {
		return fmt.Errorf("the model does not answer /ping: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the model answers /ping with %d", resp.StatusCode)
	}
	return nil
}
