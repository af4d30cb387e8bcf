// Package ratelimit enforces the gateway's Databricks-style rate limits, "calls per period"
// (spec.rateLimits: 100 calls per minute for an endpoint or for each user), as keyed token
// buckets. It has no client and no clock of its own: the caller injects the clock.
//
// A bucket holds at most calls tokens and refills continuously at calls/period, so a limit of
// 100 per minute admits a burst of exactly 100 and then one call every 600ms. Each call takes
// one token; a call that finds none is refused with the time until the next token.
//
// The arithmetic is exact: a bucket is kept as the time its debt is paid off (the generic cell
// rate algorithm), in nanoseconds plus a remainder in units of 1/calls ns, so no rounding ever
// admits an extra call or refuses a due one.
//
// A key's limit may change between calls (the spec was edited): the bucket keeps the whole
// tokens it had, never more than the new capacity, and refills at the new rate from then on.
//
// Memory stays bounded by the keys seen within a period: a full bucket is the same as no
// bucket, so full ones are dropped by a sweep that runs after as many calls as there are
// buckets (amortized constant work per call, and at most twice the buckets in use).
package ratelimit

import (
	"math/bits"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// minSweepInterval is the fewest calls between two sweeps, so that a small map is not swept
// on every call.
const minSweepInterval = 1024

// Limiter holds a token bucket per key. It is safe for concurrent use.
type Limiter struct {
	clk clock.PassiveClock

	mu      sync.Mutex
	buckets map[string]*bucket
	// sinceSweep counts the calls since the last sweep.
	sinceSweep int
}

// bucket is a token bucket kept as the time its debt is paid off: it is full at and after
// paidOff + rem/calls ns, and each token taken moves that time on by period/calls.
type bucket struct {
	calls   int64
	period  time.Duration
	paidOff time.Time
	// rem is the fraction of a nanosecond past paidOff, in units of 1/calls ns; 0 <= rem < calls.
	rem int64
}

// New returns a Limiter that reads the time from clk.
func New(clk clock.PassiveClock) *Limiter {
	return &Limiter{clk: clk, buckets: map[string]*bucket{}}
}

// Allow takes one token from key's bucket, a bucket of calls tokens that refills at calls per
// period. When none is left it returns false and how long until one is. A limit that admits
// nothing (calls < 1 or period <= 0) refuses every call, with retryAfter period (or 0).
func (l *Limiter) Allow(key string, calls int64, period time.Duration) (ok bool, retryAfter time.Duration) {
	if calls < 1 || period <= 0 {
		return false, max(period, 0)
	}
	now := l.clk.Now()

	l.mu.Lock()
	defer l.mu.Unlock()
	l.maybeSweep(now)

	b, found := l.buckets[key]
	if !found {
		b = &bucket{calls: calls, period: period, paidOff: now}
		l.buckets[key] = b
	} else if b.calls != calls || b.period != period {
		b.resize(now, calls, period)
	}
	return b.take(now)
}

// Return gives back the token a call to Allow took, as if that call had not been made: the
// gateway takes one before a TokenReview and gives it back when the token proves good. An
// unknown or full bucket is left as it is, so Return never adds capacity.
func (l *Limiter) Return(key string) {
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, found := l.buckets[key]; found && !b.full(now) {
		b.give(now)
	}
}

// Len returns how many buckets the limiter holds (for metrics).
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// maybeSweep drops the full buckets once as many calls as there are buckets have passed since
// the last sweep.
func (l *Limiter) maybeSweep(now time.Time) {
	l.sinceSweep++
	if l.sinceSweep < max(len(l.buckets), minSweepInterval) {
		return
	}
	l.sinceSweep = 0
	for k, b := range l.buckets {
		if b.full(now) {
			delete(l.buckets, k)
		}
	}
}

// full reports whether the bucket holds all its tokens at now.
func (b *bucket) full(now time.Time) bool {
	return !b.paidOff.After(now)
}

// take takes one token at now, or says how long until one is there.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	paidOff, rem := b.paidOff, b.rem
	if b.full(now) {
		paidOff, rem = now, 0
	}
	// Taking a token adds period/calls to the debt.
	p := int64(b.period)
	paidOff = paidOff.Add(time.Duration(p / b.calls))
	rem += p % b.calls
	if rem >= b.calls {
		paidOff = paidOff.Add(time.Nanosecond)
		rem -= b.calls
	}
	// The debt may reach the whole period (the bucket emptied), never more.
	debt := paidOff.Sub(now)
	if debt < b.period || (debt == b.period && rem == 0) {
		b.paidOff, b.rem = paidOff, rem
		return true, 0
	}
	wait := debt - b.period
	if rem > 0 {
		wait += time.Nanosecond
	}
	return false, wait
}

// give undoes one take: the debt shrinks by period/calls, exactly, and never below none.
func (b *bucket) give(now time.Time) {
	p := int64(b.period)
	b.paidOff = b.paidOff.Add(-time.Duration(p / b.calls))
	b.rem -= p % b.calls
	if b.rem < 0 {
		b.paidOff = b.paidOff.Add(-time.Nanosecond)
		b.rem += b.calls
	}
	if b.full(now) {
		b.paidOff, b.rem = now, 0
	}
}

// resize gives the bucket a new limit at now: it keeps the whole tokens it had, at most the
// new capacity, and its debt is what the missing tokens take to refill at the new rate.
func (b *bucket) resize(now time.Time, calls int64, period time.Duration) {
	tokens := b.tokens(now)
	tokens = min(tokens, calls)
	// debt = (calls - tokens) × period / calls, exactly: quotient in ns, remainder in 1/calls ns.
	hi, lo := bits.Mul64(uint64(calls-tokens), uint64(period))
	q, r := bits.Div64(hi, lo, uint64(calls))
	b.calls, b.period = calls, period
	b.paidOff, b.rem = now.Add(time.Duration(q)), int64(r)
}

// tokens returns the whole tokens in the bucket at now.
func (b *bucket) tokens(now time.Time) int64 {
	if b.full(now) {
		return b.calls
	}
	// debt = d + rem/calls ns; tokens = floor((period - debt) × calls / period).
	d := b.paidOff.Sub(now)
	if d >= b.period {
		return 0
	}
	hi, lo := bits.Mul64(uint64(b.period-d), uint64(b.calls))
	lo, borrow := bits.Sub64(lo, uint64(b.rem), 0)
	hi -= borrow
	q, _ := bits.Div64(hi, lo, uint64(b.period))
	return int64(q)
}
