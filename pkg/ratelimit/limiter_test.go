package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// step advances the clock by after, then makes tries calls for key under calls per period.
type step struct {
	after  time.Duration
	key    string
	calls  int64
	period time.Duration
	tries  int
}

// outcome is what a step's calls got: how many were allowed, and the retryAfter of the last
// one (0 when it was allowed).
type outcome struct {
	Allowed    int
	RetryAfter time.Duration
}

func TestAllow(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  []outcome
	}{
		{
			name: "100 per minute allows exactly 100 in a burst, then 1 per 600ms",
			steps: []step{
				{key: "u", calls: 100, period: time.Minute, tries: 101},
				{after: 599 * time.Millisecond, key: "u", calls: 100, period: time.Minute, tries: 1},
				{after: time.Millisecond, key: "u", calls: 100, period: time.Minute, tries: 2},
				{after: 600 * time.Millisecond, key: "u", calls: 100, period: time.Minute, tries: 2},
				{after: 6 * time.Second, key: "u", calls: 100, period: time.Minute, tries: 11},
			},
			want: []outcome{
				{Allowed: 100, RetryAfter: 600 * time.Millisecond},
				{Allowed: 0, RetryAfter: time.Millisecond},
				{Allowed: 1, RetryAfter: 600 * time.Millisecond},
				{Allowed: 1, RetryAfter: 600 * time.Millisecond},
				{Allowed: 10, RetryAfter: 600 * time.Millisecond},
			},
		},
		{
			name: "a full minute after the burst refills exactly the capacity",
			steps: []step{
				{key: "u", calls: 100, period: time.Minute, tries: 100},
				{after: time.Minute, key: "u", calls: 100, period: time.Minute, tries: 101},
			},
			want: []outcome{
				{Allowed: 100},
				{Allowed: 100, RetryAfter: 600 * time.Millisecond},
			},
		},
		{
			name: "idle longer than a period grants no more than the capacity",
			steps: []step{
				{key: "u", calls: 5, period: time.Minute, tries: 1},
				{after: time.Hour, key: "u", calls: 5, period: time.Minute, tries: 6},
			},
			want: []outcome{
				{Allowed: 1},
				{Allowed: 5, RetryAfter: 12 * time.Second},
			},
		},
		{
			name: "7 per minute: the interval is not a whole ns, no token is lost or gained",
			steps: []step{
				{key: "u", calls: 7, period: time.Minute, tries: 8},
				{after: time.Minute - time.Nanosecond, key: "u", calls: 7, period: time.Minute, tries: 7},
				{after: time.Minute, key: "u", calls: 7, period: time.Minute, tries: 7},
				{after: time.Minute + time.Nanosecond, key: "u", calls: 7, period: time.Minute, tries: 8},
			},
			want: []outcome{
				// 60s/7 = 8571428571.43ns, rounded up.
				{Allowed: 7, RetryAfter: 8571428572},
				// 1ns short of the minute the 7th token is 1ns away.
				{Allowed: 6, RetryAfter: time.Nanosecond},
				{Allowed: 7},
				{Allowed: 7, RetryAfter: 8571428572},
			},
		},
		{
			name: "keys are independent",
			steps: []step{
				{key: "alice", calls: 2, period: time.Minute, tries: 3},
				{key: "bob", calls: 2, period: time.Minute, tries: 2},
				{after: 30 * time.Second, key: "alice", calls: 2, period: time.Minute, tries: 2},
				{key: "bob", calls: 2, period: time.Minute, tries: 2},
			},
			want: []outcome{
				{Allowed: 2, RetryAfter: 30 * time.Second},
				{Allowed: 2},
				{Allowed: 1, RetryAfter: 30 * time.Second},
				{Allowed: 1, RetryAfter: 30 * time.Second},
			},
		},
		{
			name: "a lower limit keeps at most the new capacity",
			steps: []step{
				{key: "u", calls: 100, period: time.Minute, tries: 20},
				{key: "u", calls: 10, period: time.Minute, tries: 11},
			},
			want: []outcome{
				{Allowed: 20},
				{Allowed: 10, RetryAfter: 6 * time.Second},
			},
		},
		{
			name: "a higher limit keeps the tokens left and refills faster, without a burst",
			steps: []step{
				{key: "u", calls: 10, period: time.Minute, tries: 4},
				{key: "u", calls: 100, period: time.Minute, tries: 7},
				{after: 6 * time.Second, key: "u", calls: 100, period: time.Minute, tries: 11},
			},
			want: []outcome{
				{Allowed: 4},
				{Allowed: 6, RetryAfter: 600 * time.Millisecond},
				{Allowed: 10, RetryAfter: 600 * time.Millisecond},
			},
		},
		{
			name: "an emptied bucket stays empty under a higher limit",
			steps: []step{
				{key: "u", calls: 10, period: time.Minute, tries: 10},
				{key: "u", calls: 1000, period: time.Minute, tries: 1},
			},
			want: []outcome{
				{Allowed: 10},
				{Allowed: 0, RetryAfter: 60 * time.Millisecond},
			},
		},
		{
			name: "a longer period keeps the tokens and refills slower",
			steps: []step{
				{key: "u", calls: 60, period: time.Minute, tries: 30},
				{key: "u", calls: 60, period: time.Hour, tries: 31},
			},
			want: []outcome{
				{Allowed: 30},
				{Allowed: 30, RetryAfter: time.Minute},
			},
		},
		{
			name: "a partly refilled token is not granted by a resize",
			steps: []step{
				{key: "u", calls: 10, period: time.Minute, tries: 10},
				// 5.9s of 6s: 0.98 of a token.
				{after: 5900 * time.Millisecond, key: "u", calls: 20, period: time.Minute, tries: 1},
			},
			want: []outcome{
				{Allowed: 10},
				{Allowed: 0, RetryAfter: 3 * time.Second},
			},
		},
		{
			name: "a limit that admits nothing refuses every call",
			steps: []step{
				{key: "u", calls: 0, period: time.Minute, tries: 1},
				{key: "u", calls: -1, period: time.Minute, tries: 1},
				{key: "u", calls: 10, period: 0, tries: 1},
			},
			want: []outcome{
				{RetryAfter: time.Minute},
				{RetryAfter: time.Minute},
				{RetryAfter: 0},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakePassiveClock(t0)
			l := New(clk)
			var got []outcome
			for _, s := range tc.steps {
				clk.SetTime(clk.Now().Add(s.after))
				var o outcome
				for range s.tries {
					ok, retry := l.Allow(s.key, s.calls, s.period)
					if ok {
						o.Allowed++
					}
					o.RetryAfter = retry
				}
				got = append(got, o)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllowDropsFullBuckets(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(t0)
	l := New(clk)
	const users = 3000
	for i := range users {
		if ok, _ := l.Allow(fmt.Sprintf("user-%d", i), 100, time.Minute); !ok {
			t.Fatalf("first call of user-%d refused", i)
		}
	}
	if got := l.Len(); got != users {
		t.Fatalf("Len after %d users = %d, want %d", users, got, users)
	}

	// One call takes 600ms to refill: a ns earlier, no bucket is full and none is dropped.
	clk.SetTime(t0.Add(600*time.Millisecond - time.Nanosecond))
	for range users {
		l.Allow("alice", 100, time.Minute)
	}
	if got := l.Len(); got != users+1 {
		t.Fatalf("Len before the buckets refill = %d, want %d", got, users+1)
	}

	clk.SetTime(t0.Add(600 * time.Millisecond))
	for range users + 1 {
		l.Allow("alice", 100, time.Minute)
	}
	if got := l.Len(); got != 1 {
		t.Fatalf("Len once the users' buckets are full = %d, want 1 (alice, in use)", got)
	}

	// A user whose bucket was dropped gets a full bucket, as if it had been kept.
	allowed := 0
	for range 101 {
		if ok, _ := l.Allow("user-7", 100, time.Minute); ok {
			allowed++
		}
	}
	if allowed != 100 {
		t.Fatalf("user-7 allowed %d after its bucket was dropped, want 100", allowed)
	}
}

func TestAllowConcurrent(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(t0)
	l := New(clk)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 50 {
				if ok, _ := l.Allow("endpoint", 100, time.Minute); ok {
					allowed.Add(1)
				}
				l.Allow(fmt.Sprintf("user-%d", g), 10, time.Minute)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 100 {
		t.Fatalf("allowed %d of 400 concurrent calls under 100 per minute, want 100", got)
	}
}

func TestReturn(t *testing.T) {
	tests := []struct {
		name string
		// taken calls are allowed, then returned are given back, then the test counts how many
		// more calls are allowed at the same instant.
		calls, taken, returned int64
		period                 time.Duration
		wantAllowed            int64
	}{
		{name: "a returned token is taken again", calls: 3, taken: 3, returned: 1, period: time.Minute, wantAllowed: 1},
		{name: "every token returned refills the bucket", calls: 3, taken: 3, returned: 3, period: time.Minute, wantAllowed: 3},
		{name: "returning to a full bucket adds no capacity", calls: 3, taken: 0, returned: 2, period: time.Minute, wantAllowed: 3},
		{name: "returning more than was taken adds no capacity", calls: 3, taken: 1, returned: 5, period: time.Minute, wantAllowed: 3},
		{name: "a period that does not divide evenly is given back exactly", calls: 7, taken: 7, returned: 7, period: time.Second, wantAllowed: 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New(clocktesting.NewFakePassiveClock(t0))
			for range tc.taken {
				if ok, _ := l.Allow("k", tc.calls, tc.period); !ok {
					t.Fatal("a call of the first burst was refused")
				}
			}
			for range tc.returned {
				l.Return("k")
			}
			var allowed int64
			for ok := true; ok; {
				if ok, _ = l.Allow("k", tc.calls, tc.period); ok {
					allowed++
				}
			}
			if allowed != tc.wantAllowed {
				t.Fatalf("%d calls allowed after the returns, want %d", allowed, tc.wantAllowed)
			}
		})
	}
}
