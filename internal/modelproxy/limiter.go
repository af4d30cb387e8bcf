package modelproxy

import (
	"container/list"
	"context"
	"errors"
	"sync"
)

// errQueueFull is acquire's answer when every slot is taken and the queue is full.
var errQueueFull = errors.New("every slot is taken and the queue is full")

// limiter admits at most capacity holders at once and lets at most depth more wait for a
// slot, first in first out (the role of Knative's breaker). A freed slot passes straight to
// the oldest waiter, so a newcomer never overtakes the queue.
type limiter struct {
	capacity, depth int

	mu      sync.Mutex
	active  int
	waiting list.List // of *waiter, oldest first
}

type waiter struct {
	ready   chan struct{}
	granted bool // set under mu when a slot is handed over
}

func newLimiter(capacity, depth int) *limiter {
	return &limiter{capacity: capacity, depth: depth}
}

// acquire takes a slot, waiting in line if none is free; the caller calls release exactly
// once when done. It fails at once with errQueueFull when the line is full, and with ctx's
// error when ctx ends before a slot is free; the caller then holds nothing and has left the
// line.
func (l *limiter) acquire(ctx context.Context) (release func(), err error) {
	l.mu.Lock()
	if l.active < l.capacity && l.waiting.Len() == 0 {
		l.active++
		l.mu.Unlock()
		return sync.OnceFunc(l.release), nil
	}
	if l.waiting.Len() >= l.depth {
		l.mu.Unlock()
		return nil, errQueueFull
	}
	w := &waiter{ready: make(chan struct{})}
	elem := l.waiting.PushBack(w)
	l.mu.Unlock()

	select {
	case <-w.ready:
		return sync.OnceFunc(l.release), nil
	case <-ctx.Done():
		l.mu.Lock()
		granted := w.granted
		if !granted {
			l.waiting.Remove(elem)
		}
		l.mu.Unlock()
		if granted {
			// The slot arrived as ctx ended: pass it on.
			l.release()
		}
		return nil, ctx.Err()
	}
}

func (l *limiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if front := l.waiting.Front(); front != nil {
		w := l.waiting.Remove(front).(*waiter)
		w.granted = true
		close(w.ready)
		return
	}
	l.active--
}

// load is the number of holders and of waiters.
func (l *limiter) load() (active, queued int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active, l.waiting.Len()
}
