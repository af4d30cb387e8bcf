package balance

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTracker(t *testing.T) {
	var tr Tracker
	var got []int
	got = append(got, tr.Get("a"), tr.Inc("a"), tr.Inc("a"), tr.Inc("b"), tr.Get("a"))
	got = append(got, tr.Dec("a"), tr.Dec("a"), tr.Dec("a"), tr.Get("a"), tr.Get("b"))
	if diff := cmp.Diff([]int{0, 1, 2, 1, 2, 1, 0, 0, 0, 1}, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	tr.Dec("b")
	if n := len(tr.inFlight); n != 0 {
		t.Errorf("tracker keeps %d addresses with nothing in flight, want 0", n)
	}
}

func TestTrackerConcurrent(t *testing.T) {
	var tr Tracker
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				tr.Inc("a")
				tr.Inc("b")
				tr.Dec("a")
				_ = tr.Backends([]string{"a", "b"})
			}
		})
	}
	wg.Wait()
	if diff := cmp.Diff([]int{0, 8000}, []int{tr.Get("a"), tr.Get("b")}); diff != "" {
		t.Errorf("in flight a, b (-want +got):\n%s", diff)
	}
}
