package holdqueue

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

// waitTimeout bounds how long a test waits for goroutines to block or return; it is never
// reached when the queue behaves.
const waitTimeout = 30 * time.Second

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// held is a request held by Wait in its own goroutine; err receives what Wait returned.
type held struct {
	id     int
	err    chan error
	cancel context.CancelFunc
}

// hold starts a Wait for key and waits until it is held (Held(key) == want after it), so that
// requests started one after the other arrive in that order.
func hold(t *testing.T, q *Queue, key string, id, want int, onFirst func(string)) *held {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &held{id: id, err: make(chan error, 1), cancel: cancel}
	go func() { h.err <- q.Wait(ctx, key, onFirst) }()
	waitHeld(t, q, key, want)
	return h
}

// waitHeld waits until Held(key) == n.
func waitHeld(t *testing.T, q *Queue, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for q.Held(key) != n {
		if time.Now().After(deadline) {
			t.Fatalf("Held(%q) = %d after %v, want %d", key, q.Held(key), waitTimeout, n)
		}
		runtime.Gosched()
	}
}

// result waits for h's Wait to return.
func result(t *testing.T, h *held) error {
	t.Helper()
	select {
	case err := <-h.err:
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("request %d still held after %v", h.id, waitTimeout)
		return nil
	}
}

// stillHeld reports whether h's Wait has not returned.
func stillHeld(h *held) bool {
	select {
	case err := <-h.err:
		h.err <- err
		return false
	default:
		return true
	}
}

func TestReleaseOrder(t *testing.T) {
	tests := []struct {
		name     string
		releases []int
		// want lists, per Release, the requests it let go (by arrival).
		want [][]int
	}{
		{
			name:     "one at a time, in arrival order",
			releases: []int{1, 1, 1, 1, 1, 1},
			want:     [][]int{{0}, {1}, {2}, {3}, {4}, {}},
		},
		{
			name:     "several at once take the oldest",
			releases: []int{2, 2, 2},
			want:     [][]int{{0, 1}, {2, 3}, {4}},
		},
		{
			name:     "n < 0 releases all",
			releases: []int{1, -1, -1},
			want:     [][]int{{0}, {1, 2, 3, 4}, {}},
		},
		{
			name:     "n = 0 releases none",
			releases: []int{0, 5},
			want:     [][]int{{}, {0, 1, 2, 3, 4}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := New(10, 5*time.Minute, clocktesting.NewFakeClock(t0))
			// Each request sends its id when its Wait returns nil.
			returned := make(chan int, 5)
			for i := range 5 {
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				go func() {
					if q.Wait(ctx, "ep/model-a", nil) == nil {
						returned <- i
					}
				}()
				waitHeld(t, q, "ep/model-a", i+1)
			}
			var got [][]int
			for _, n := range tc.releases {
				woke := q.Release("ep/model-a", n)
				ids := []int{}
				for range woke {
					select {
					case id := <-returned:
						ids = append(ids, id)
					case <-time.After(waitTimeout):
						t.Fatalf("Release(%d) woke %d, but only %v returned", n, woke, ids)
					}
				}
				slices.Sort(ids)
				got = append(got, ids)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("released (-want +got):\n%s", diff)
			}
			select {
			case id := <-returned:
				t.Errorf("request %d returned without a release", id)
			default:
			}
		})
	}
}

// ReleaseEach hands tokens oldest first and stops at the first waiter it has none for: the
// requests that arrived later stay held, in order, for the next release.
func TestReleaseEachHandsTokensInArrivalOrder(t *testing.T) {
	tests := []struct {
		name string
		// tokens lists, per ReleaseEach, the tokens next hands out before it says no more.
		tokens [][]string
		// want lists, per ReleaseEach, "request id=token" for each request it woke.
		want [][]string
	}{
		{
			name:   "one pod slot at a time",
			tokens: [][]string{{"pod-a"}, {"pod-a"}, {"pod-b"}},
			want:   [][]string{{"0=pod-a"}, {"1=pod-a"}, {"2=pod-b"}},
		},
		{
			name:   "more slots than requests wakes all, asks no more",
			tokens: [][]string{{"a", "b"}, {"c", "d", "e", "f", "g"}},
			want:   [][]string{{"0=a", "1=b"}, {"2=c", "3=d"}},
		},
		{
			name:   "no slot wakes none",
			tokens: [][]string{{}, {"x", "y", "z", "w"}},
			want:   [][]string{{}, {"0=x", "1=y", "2=z", "3=w"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := New(10, 5*time.Minute, clocktesting.NewFakeClock(t0))
			type woken struct {
				id    int
				token string
			}
			returned := make(chan woken, 4)
			for i := range 4 {
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				go func() {
					if token, err := q.WaitToken(ctx, "ep/a", nil); err == nil {
						returned <- woken{i, token}
					}
				}()
				waitHeld(t, q, "ep/a", i+1)
			}
			var got [][]string
			for _, tokens := range tc.tokens {
				asked := 0
				woke := q.ReleaseEach("ep/a", func() (string, bool) {
					if asked == len(tokens) {
						return "", false
					}
					asked++
					return tokens[asked-1], true
				})
				ids := []woken{}
				for range woke {
					select {
					case w := <-returned:
						ids = append(ids, w)
					case <-time.After(waitTimeout):
						t.Fatalf("ReleaseEach woke %d, but only %v returned", woke, ids)
					}
				}
				slices.SortFunc(ids, func(a, b woken) int { return a.id - b.id })
				line := []string{}
				for _, w := range ids {
					line = append(line, fmt.Sprintf("%d=%s", w.id, w.token))
				}
				got = append(got, line)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("woken (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCapacity(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	q := New(1000, 5*time.Minute, clk)
	for range 1000 {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go func() { _ = q.Wait(ctx, "ep/a", nil) }()
	}
	waitHeld(t, q, "ep/a", 1000)

	// The 1001st is refused at once, from this goroutine: no clock step, no release.
	if err := q.Wait(context.Background(), "ep/a", func(string) { t.Error("onFirst called for a full queue") }); !errors.Is(err, ErrFull) {
		t.Fatalf("1001st Wait = %v, want ErrFull", err)
	}
	if got := q.Held("ep/a"); got != 1000 {
		t.Fatalf("Held after the refused request = %d, want 1000", got)
	}

	// Another key has its own queue.
	other := hold(t, q, "ep/b", 0, 1, nil)
	if diff := cmp.Diff([]string{"ep/a", "ep/b"}, q.Keys()); diff != "" {
		t.Errorf("Keys (-want +got):\n%s", diff)
	}

	if got := q.Release("ep/a", -1); got != 1000 {
		t.Fatalf("Release(all) = %d, want 1000", got)
	}
	if got := q.Release("ep/b", 1); got != 1 {
		t.Fatalf("Release(ep/b) = %d, want 1", got)
	}
	if err := result(t, other); err != nil {
		t.Fatalf("ep/b: Wait = %v, want nil", err)
	}
	if got := q.Keys(); len(got) != 0 {
		t.Errorf("Keys after releasing all = %v, want none", got)
	}
}

func TestNoCapacity(t *testing.T) {
	q := New(0, time.Minute, clocktesting.NewFakeClock(t0))
	if err := q.Wait(context.Background(), "ep/a", nil); !errors.Is(err, ErrFull) {
		t.Fatalf("Wait with capacity 0 = %v, want ErrFull", err)
	}
}

func TestTimeout(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	q := New(10, 5*time.Minute, clk)
	a := hold(t, q, "ep/a", 0, 1, nil)
	b := hold(t, q, "ep/a", 1, 2, nil)
	clk.Step(2 * time.Minute)
	c := hold(t, q, "ep/a", 2, 3, nil)

	clk.Step(3*time.Minute - time.Nanosecond)
	for _, h := range []*held{a, b, c} {
		if !stillHeld(h) {
			t.Fatalf("request %d returned before its timeout", h.id)
		}
	}

	clk.Step(time.Nanosecond)
	for _, h := range []*held{a, b} {
		if err := result(t, h); !errors.Is(err, ErrTimeout) {
			t.Fatalf("request %d: Wait = %v, want ErrTimeout", h.id, err)
		}
	}
	waitHeld(t, q, "ep/a", 1)

	// Timed-out requests are gone: the next release lets c go and counts only c.
	if got := q.Release("ep/a", -1); got != 1 {
		t.Fatalf("Release after two timeouts = %d, want 1", got)
	}
	if err := result(t, c); err != nil {
		t.Fatalf("request 2: Wait = %v, want nil", err)
	}
	if clk.HasWaiters() {
		t.Errorf("%d timers left running after every Wait returned", clk.Waiters())
	}
}

func TestNoTimeout(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	q := New(10, 0, clk)
	h := hold(t, q, "ep/a", 0, 1, nil)
	clk.Step(24 * time.Hour)
	if !stillHeld(h) {
		t.Fatalf("request returned with no timeout set: %v", <-h.err)
	}
	q.Release("ep/a", 1)
	if err := result(t, h); err != nil {
		t.Fatalf("Wait = %v, want nil", err)
	}
}

func TestContextEnds(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	q := New(10, 5*time.Minute, clk)
	a := hold(t, q, "ep/a", 0, 1, nil)
	b := hold(t, q, "ep/a", 1, 2, nil)
	c := hold(t, q, "ep/a", 2, 3, nil)

	b.cancel()
	if err := result(t, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled request: Wait = %v, want context.Canceled", err)
	}
	waitHeld(t, q, "ep/a", 2)

	// The canceled request is skipped and not counted.
	for _, want := range []*held{a, c} {
		if got := q.Release("ep/a", 1); got != 1 {
			t.Fatalf("Release = %d, want 1", got)
		}
		if err := result(t, want); err != nil {
			t.Fatalf("request %d: Wait = %v, want nil", want.id, err)
		}
	}
	if got := q.Release("ep/a", 1); got != 0 {
		t.Fatalf("Release with none held = %d, want 0", got)
	}

	// A context that has already ended is not queued.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Wait(ctx, "ep/a", func(string) { t.Error("onFirst called for an ended context") }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with an ended context = %v, want context.Canceled", err)
	}
	if got := q.Held("ep/a"); got != 0 {
		t.Fatalf("Held = %d, want 0", got)
	}
	if clk.HasWaiters() {
		t.Errorf("%d timers left running after every Wait returned", clk.Waiters())
	}
}

func TestOnFirst(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	q := New(10, 5*time.Minute, clk)
	var mu sync.Mutex
	var calls []string
	onFirst := func(key string) {
		mu.Lock()
		defer mu.Unlock()
		// Called synchronously once the request is held, and free to use the queue.
		calls = append(calls, fmt.Sprintf("%s held=%d", key, q.Held(key)))
	}
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(calls)
	}

	a := hold(t, q, "ep/a", 0, 1, onFirst)
	// The call runs once the request is held, and reads Held: wait for it before the next
	// request joins, or it may count that one too.
	waitCalls(t, got, 1)
	hold(t, q, "ep/a", 1, 2, onFirst)
	hold(t, q, "ep/b", 2, 1, onFirst)
	waitCalls(t, got, 2)
	q.Release("ep/a", 1)
	if err := result(t, a); err != nil {
		t.Fatal(err)
	}
	// ep/a is still non-empty: no call.
	hold(t, q, "ep/a", 3, 2, onFirst)

	// Emptied by a release, then by a timeout: each refill is a new transition.
	q.Release("ep/a", -1)
	waitHeld(t, q, "ep/a", 0)
	hold(t, q, "ep/a", 4, 1, onFirst)
	waitCalls(t, got, 3)
	clk.Step(5 * time.Minute)
	waitHeld(t, q, "ep/a", 0)
	waitHeld(t, q, "ep/b", 0)
	hold(t, q, "ep/a", 5, 1, onFirst)
	waitCalls(t, got, 4)

	want := []string{"ep/a held=1", "ep/b held=1", "ep/a held=1", "ep/a held=1"}
	if diff := cmp.Diff(want, got()); diff != "" {
		t.Errorf("onFirst calls (-want +got):\n%s", diff)
	}
}

// waitCalls waits until got returns n calls. onFirst runs after the request is held, so a
// test that saw it held waits for the call too.
func waitCalls(t *testing.T, got func() []string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for len(got()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("onFirst calls = %v after %v, want %d", got(), waitTimeout, n)
		}
		runtime.Gosched()
	}
}

func TestConcurrent(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	q := New(50, time.Minute, clk)
	keys := []string{"ep/a", "ep/b", "ep/c"}
	const requests = 600

	var nilReturns, released, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if i%7 == 0 {
				cancel()
			}
			switch err := q.Wait(ctx, keys[i%len(keys)], func(string) {}); {
			case err == nil:
				nilReturns.Add(1)
			case errors.Is(err, ErrFull), errors.Is(err, ErrTimeout), errors.Is(err, context.Canceled):
				failed.Add(1)
			default:
				t.Errorf("Wait = %v", err)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Release and time out concurrently with the waits until every request has returned.
	for i := 0; ; i++ {
		select {
		case <-done:
			if got, want := released.Load(), nilReturns.Load(); got != want {
				t.Fatalf("Release counted %d, but %d Waits returned nil", got, want)
			}
			if got := nilReturns.Load() + failed.Load(); got != requests {
				t.Fatalf("%d Waits returned, want %d", got, requests)
			}
			if got := q.Keys(); len(got) != 0 {
				t.Fatalf("Keys after every Wait returned = %v, want none", got)
			}
			if clk.HasWaiters() {
				t.Fatalf("%d timers left running after every Wait returned", clk.Waiters())
			}
			return
		default:
		}
		released.Add(int64(q.Release(keys[i%len(keys)], 1+i%3)))
		if i%50 == 0 {
			clk.Step(time.Minute)
		}
		runtime.Gosched()
	}
}
