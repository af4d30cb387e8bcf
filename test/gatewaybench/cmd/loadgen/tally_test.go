package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestTallyCountsCodesAndServingEntities(t *testing.T) {
	at := time.Unix(0, 0)
	result := func(code uint16, served, errText string, latency time.Duration) *vegeta.Result {
		at = at.Add(100 * time.Millisecond)
		h := http.Header{}
		if served != "" {
			h.Set(servedHeader, served)
		}
		return &vegeta.Result{Code: code, Headers: h, Error: errText, Latency: latency, Timestamp: at}
	}
	for _, c := range []struct {
		name    string
		results []*vegeta.Result
		want    Summary
	}{
		{"nothing sent", nil, Summary{Codes: map[string]int{}, Served: map[string]int{}, Errors: []string{}}},
		{
			"answers by two entities, a 429 and a request that got no answer",
			[]*vegeta.Result{
				result(200, "champion", "", 2*time.Millisecond), result(200, "champion", "", 4*time.Millisecond),
				result(200, "challenger", "", 6*time.Millisecond),
				// A rate-limited answer names no entity; one that names one is not counted as served.
				result(429, "", "429 Too Many Requests", time.Millisecond), result(503, "champion", "503 Service Unavailable", time.Millisecond),
				result(0, "", "dial tcp: connection refused", 0),
			},
			Summary{
				Sent: 6, OK: 3, Codes: map[string]int{"200": 3, "429": 1, "503": 1, "0": 1},
				Served: map[string]int{"champion": 2, "challenger": 1},
				Errors: []string{"429 Too Many Requests", "503 Service Unavailable", "dial tcp: connection refused"},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			tl := newTally()
			for _, r := range c.results {
				tl.add(r)
			}
			got := tl.summary()
			// Rates and latencies are vegeta's arithmetic; the counts are this command's.
			got.Rate, got.P50Ms, got.P99Ms, got.MaxMs, got.Seconds = 0, 0, 0, 0, 0
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCountsPrintsInKeyOrder(t *testing.T) {
	if got := counts(map[string]int{"b": 2, "a": 1}); got != "a:1 b:2" {
		t.Errorf("counts = %q", got)
	}
	if got := counts(nil); got != "-" {
		t.Errorf("counts(nil) = %q", got)
	}
}
