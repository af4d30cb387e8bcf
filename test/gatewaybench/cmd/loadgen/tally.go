package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// servedHeader names the entity that answered, as the gateway sets it.
const servedHeader = "served-model-name"

// tally is what the requests of one interval (or of the whole run) measured: vegeta's metrics
// plus the entities that answered.
type tally struct {
	metrics vegeta.Metrics
	served  map[string]int
}

func newTally() *tally { return &tally{served: map[string]int{}} }

func (t *tally) add(r *vegeta.Result) {
	t.metrics.Add(r)
	if name := r.Headers.Get(servedHeader); name != "" && r.Code == 200 {
		t.served[name]++
	}
}

// Summary is the run's result in -json form.
type Summary struct {
	Sent int `json:"sent"`
	OK   int `json:"ok"`
	// Codes counts answers by HTTP status ("0" is a request that got no answer).
	Codes map[string]int `json:"codes"`
	// Served counts 200 answers by the entity that gave them.
	Served map[string]int `json:"served"`
	// Errors counts distinct error texts of failed requests (vegeta's, the first 10).
	Errors  []string `json:"errors,omitempty"`
	Rate    float64  `json:"rate"`
	P50Ms   float64  `json:"p50_ms"`
	P99Ms   float64  `json:"p99_ms"`
	MaxMs   float64  `json:"max_ms"`
	Seconds float64  `json:"seconds"`
}

func (t *tally) summary() Summary {
	t.metrics.Close()
	m := &t.metrics
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	errs := m.Errors
	if len(errs) > 10 {
		errs = errs[:10]
	}
	return Summary{
		Sent: int(m.Requests), OK: int(m.StatusCodes["200"]), Codes: maps.Clone(m.StatusCodes), Served: t.served,
		Errors: errs, Rate: m.Rate, P50Ms: ms(m.Latencies.P50), P99Ms: ms(m.Latencies.P99), MaxMs: ms(m.Latencies.Max),
		Seconds: m.Duration.Seconds(),
	}
}

// line is one progress line: elapsed time, counts, latencies, codes and entities.
func (s Summary) line(elapsed time.Duration) string {
	return fmt.Sprintf("%6s  sent %6d  ok %6d  %7.1f req/s  p50 %7.2fms  p99 %7.2fms  codes %s  served %s",
		elapsed.Round(time.Second), s.Sent, s.OK, s.Rate, s.P50Ms, s.P99Ms, counts(s.Codes), counts(s.Served))
}

// counts prints a count map as key:n pairs in key order ("-" when empty).
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + strconv.Itoa(m[k])
	}
	return strings.Join(parts, " ")
}
