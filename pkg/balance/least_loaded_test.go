package balance

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func backends(inFlight ...int) []Backend {
	bs := make([]Backend, len(inFlight))
	for i, n := range inFlight {
		bs[i] = Backend{Address: string(rune('a' + i)), InFlight: n}
	}
	return bs
}

func TestLeastLoaded(t *testing.T) {
	tests := []struct {
		name     string
		backends []Backend
		start    int
		want     int
	}{
		{name: "none", start: 0, want: -1},
		{name: "one", backends: backends(7), start: 3, want: 0},
		{name: "the fewest in flight", backends: backends(3, 1, 2), start: 0, want: 1},
		{name: "the fewest in flight wherever start is", backends: backends(3, 1, 2), start: 2, want: 1},
		{name: "a tie goes to the first at start", backends: backends(2, 1, 1, 1), start: 2, want: 2},
		{name: "a tie wraps around from start", backends: backends(1, 2, 2, 1), start: 2, want: 3},
		{name: "a tie wraps past the end", backends: backends(1, 3, 3), start: 1, want: 0},
		{name: "start beyond the length is taken modulo", backends: backends(0, 0, 0), start: 7, want: 1},
		{name: "negative start is taken modulo", backends: backends(0, 0, 0), start: -1, want: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := LeastLoaded(tc.backends, tc.start); got != tc.want {
				t.Errorf("LeastLoaded(%v, %d) = %d, want %d", tc.backends, tc.start, got, tc.want)
			}
		})
	}
}

func TestLeastLoadedRoundRobin(t *testing.T) {
	// Equal backends, start moved on per request: each is used in turn.
	bs := backends(4, 4, 4)
	var got []int
	for start := range 6 {
		got = append(got, LeastLoaded(bs, start))
	}
	if diff := cmp.Diff([]int{0, 1, 2, 0, 1, 2}, got); diff != "" {
		t.Errorf("picks (-want +got):\n%s", diff)
	}
}

func TestLeastLoadedWithTracker(t *testing.T) {
	// Requests that never finish spread evenly over the pods.
	var tr Tracker
	addrs := []string{"10.0.0.1:8443", "10.0.0.2:8443", "10.0.0.3:8443"}
	for start := range 9 {
		i := LeastLoaded(tr.Backends(addrs), start)
		tr.Inc(addrs[i])
	}
	// One finishes: the next request goes where it finished.
	tr.Dec(addrs[1])
	if i := LeastLoaded(tr.Backends(addrs), 0); i != 1 {
		t.Errorf("after a request to %s finished, LeastLoaded = %d, want 1", addrs[1], i)
	}
	want := []Backend{{Address: addrs[0], InFlight: 3}, {Address: addrs[1], InFlight: 2}, {Address: addrs[2], InFlight: 3}}
	if diff := cmp.Diff(want, tr.Backends(addrs)); diff != "" {
		t.Errorf("backends (-want +got):\n%s", diff)
	}
}
