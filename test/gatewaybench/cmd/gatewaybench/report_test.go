package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestQuantile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{name: "none", sorted: nil, q: 0.5, want: 0},
		{name: "one", sorted: ms(7), q: 0.99, want: 7 * time.Millisecond},
		{name: "median of four is the second (nearest rank)", sorted: ms(1, 2, 3, 4), q: 0.5, want: 2 * time.Millisecond},
		{name: "p99 of 1..100", sorted: ms(hundred...), q: 0.99, want: 99 * time.Millisecond},
		{name: "max", sorted: ms(hundred...), q: 1, want: 100 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantile(tc.sorted, tc.q); got != tc.want {
				t.Errorf("quantile(%v) = %s, want %s", tc.q, got, tc.want)
			}
		})
	}
}

func TestAddedLatencies(t *testing.T) {
	row := func(path string, rate int, p50, p99 time.Duration, success float64) summary {
		return summary{path: path, rate: rate, achieved: float64(rate), success: success, p50: p50, p99: p99}
	}
	rows := []summary{
		row("direct", 1000, 400*time.Microsecond, 2*time.Millisecond, 1),
		row("proxy", 1000, 900*time.Microsecond, 3*time.Millisecond, 1),
		row("gateway+proxy", 1000, 1500*time.Microsecond, 9*time.Millisecond, 0.99),
		row("direct", 200, 300*time.Microsecond, time.Millisecond, 1),
		row("proxy", 200, 500*time.Microsecond, 2*time.Millisecond, 1),
	}
	want := []added{
		{path: "proxy", rate: 1000, p50: 500 * time.Microsecond, p99: time.Millisecond, keptUp: true},
		{path: "gateway+proxy", rate: 1000, p50: 1100 * time.Microsecond, p99: 7 * time.Millisecond, keptUp: false},
		{path: "proxy", rate: 200, p50: 200 * time.Microsecond, p99: time.Millisecond, keptUp: true},
	}
	if diff := cmp.Diff(want, addedLatencies(rows), cmp.AllowUnexported(added{})); diff != "" {
		t.Errorf("addedLatencies (-want +got):\n%s", diff)
	}
}

func TestVerdict(t *testing.T) {
	cases := []struct {
		name   string
		got    time.Duration
		keptUp bool
		want   string
	}{
		{name: "within", got: 800 * time.Microsecond, keptUp: true, want: "p50 +0.800 ms (target <= 1.000 ms): met"},
		{name: "at the target", got: time.Millisecond, keptUp: true, want: "p50 +1.000 ms (target <= 1.000 ms): met"},
		{name: "over", got: 1200 * time.Microsecond, keptUp: true, want: "p50 +1.200 ms (target <= 1.000 ms): NOT MET"},
		{name: "within but the rate was not sustained", got: 100 * time.Microsecond, keptUp: false,
			want: "p50 +0.100 ms (target <= 1.000 ms): NOT MET (the rate was not sustained or requests failed)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := verdict("p50", tc.got, time.Millisecond, tc.keptUp); got != tc.want {
				t.Errorf("verdict = %q, want %q", got, tc.want)
			}
		})
	}
}
