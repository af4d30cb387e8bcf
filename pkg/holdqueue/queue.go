// Package holdqueue holds the activator's requests while their served entity has no ready
// pod (scaled to zero, or still starting), and lets them go when one is ready. It has no
// client and no HTTP code; the gateway wraps it in its hold handler.
//
// Each key (a served entity) has its own bounded FIFO queue:
//   - a request that finds the queue full is refused at once with ErrFull (the gateway
//     answers 503 and counts the drop), so memory and goroutines stay bounded;
//   - the request that makes a key's queue non-empty calls onFirst synchronously, so that the
//     gateway tells the operator to scale from zero without waiting for a metrics scrape;
//   - Release lets waiters go strictly in arrival order, as many as the new pods can take;
//     ReleaseEach hands each waiter it lets go a token (the gateway's: the pod it was given),
//     and stops at the first waiter it has no token for, so a backlog leaves at the pace of
//     the capacity that frees up, oldest first;
//   - a waiter whose timeout passes (ErrTimeout) or whose context ends leaves the queue, and is
//     never counted by Release: a request is either released or it failed, never both.
//
// Timeouts run on the injected clock, so tests drive them with a fake clock and no sleeps.
package holdqueue

import (
	"container/list"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

var (
	// ErrFull is returned by Wait when the key's queue already holds capacity requests.
	ErrFull = errors.New("holdqueue: queue full")
	// ErrTimeout is returned by Wait when the request was held for the whole timeout.
	ErrTimeout = errors.New("holdqueue: timed out waiting for a ready pod")
)

// Queue holds requests per key until they are released. It is safe for concurrent use.
type Queue struct {
	capacity int
	timeout  time.Duration
	clk      clock.Clock

	mu sync.Mutex
	// waiters holds, per key with waiters, its *waiter in arrival order. A key whose queue
	// empties is deleted, so only keys with held requests take memory.
	waiters map[string]*list.List
}

// waiter is one held request. released and token are set, and done closed, under Queue.mu.
type waiter struct {
	done     chan struct{}
	released bool
	token    string
}

// New returns a Queue that holds at most capacity requests per key (none when capacity < 1),
// each for at most timeout (no limit when timeout <= 0), timed by clk.
func New(capacity int, timeout time.Duration, clk clock.Clock) *Queue {
	return &Queue{capacity: capacity, timeout: timeout, clk: clk, waiters: map[string]*list.List{}}
}

// Wait holds the caller until key is released (nil), and returns at once with ErrFull when
// key's queue is full. Otherwise it returns ErrTimeout once the timeout passes, or ctx.Err()
// when ctx ends first. When this request makes key's queue go from empty to non-empty, Wait
// calls onFirst(key) (if not nil) synchronously before it blocks, outside the queue's lock.
func (q *Queue) Wait(ctx context.Context, key string, onFirst func(key string)) error {
	_, err := q.WaitToken(ctx, key, onFirst)
	return err
}

// WaitToken is Wait, returning the token ReleaseEach handed the request ("" from Release).
func (q *Queue) WaitToken(ctx context.Context, key string, onFirst func(key string)) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	w := &waiter{done: make(chan struct{})}

	q.mu.Lock()
	l := q.waiters[key]
	if l == nil {
		l = list.New()
	}
	if l.Len() >= q.capacity {
		q.mu.Unlock()
		return "", ErrFull
	}
	first := l.Len() == 0
	if first {
		q.waiters[key] = l
	}
	e := l.PushBack(w)
	// The timer exists before the waiter is visible to Held, so that a test that sees it
	// held can advance a fake clock past its timeout.
	var expired <-chan time.Time
	if q.timeout > 0 {
		timer := q.clk.NewTimer(q.timeout)
		defer timer.Stop()
		expired = timer.C()
	}
	q.mu.Unlock()

	if first && onFirst != nil {
		onFirst(key)
	}

	var err error
	select {
	case <-w.done:
		return w.token, nil
	case <-expired:
		err = ErrTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	if w.released {
		// Release counted this waiter in the meantime: it was released, not failed (and owns
		// its token).
		return w.token, nil
	}
	q.remove(key, l, e)
	return "", err
}

// Release wakes up to n of key's waiters (all of them when n < 0) in arrival order, and
// returns how many it woke.
func (q *Queue) Release(key string, n int) int {
	woke := 0
	return q.ReleaseEach(key, func() (string, bool) {
		if n >= 0 && woke >= n {
			return "", false
		}
		woke++
		return "", true
	})
}

// ReleaseEach wakes key's waiters in arrival order, handing each the token next returns, until
// next returns false or none is left, and returns how many it woke. next is called under the
// queue's lock, once per waiter it may wake (so a token is never handed to nobody): it must not
// call the Queue. A woken waiter's WaitToken returns its token and nil, whatever else happened
// to it meanwhile.
func (q *Queue) ReleaseEach(key string, next func() (token string, ok bool)) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.waiters[key]
	woke := 0
	for l != nil && l.Len() > 0 {
		token, ok := next()
		if !ok {
			break
		}
		e := l.Front()
		w := e.Value.(*waiter)
		w.released, w.token = true, token
		close(w.done)
		q.remove(key, l, e)
		woke++
	}
	return woke
}

// Held returns how many requests wait for key.
func (q *Queue) Held(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if l := q.waiters[key]; l != nil {
		return l.Len()
	}
	return 0
}

// Keys returns the keys with held requests, sorted (for metrics).
func (q *Queue) Keys() []string {
	q.mu.Lock()
	keys := make([]string, 0, len(q.waiters))
	for k := range q.waiters {
		keys = append(keys, k)
	}
	q.mu.Unlock()
	slices.Sort(keys)
	return keys
}

// remove takes e out of key's queue l, and the key out of the map when l empties. The caller
// holds q.mu.
func (q *Queue) remove(key string, l *list.List, e *list.Element) {
	l.Remove(e)
	if l.Len() == 0 {
		delete(q.waiters, key)
	}
}
