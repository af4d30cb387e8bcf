package modelproxy

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Waiters get freed slots in arrival order; a full line refuses at once; releasing twice is
// harmless.
func TestLimiterServesWaitersInOrder(t *testing.T) {
	l := newLimiter(1, 3)
	first, err := l.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	granted := make(chan int, 3)
	releases := make(chan func(), 3)
	for i := 1; i <= 3; i++ {
		go func() {
			release, err := l.acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			granted <- i
			releases <- release
		}()
		poll(t, "waiter queued", func() bool { _, q := l.load(); return q == i })
	}
	if _, err := l.acquire(context.Background()); !errors.Is(err, errQueueFull) {
		t.Fatalf("beyond the queue: got %v, want errQueueFull", err)
	}

	first()
	first()
	var order []int
	for range 3 {
		order = append(order, receive(t, granted))
		if active, _ := l.load(); active != 1 {
			t.Fatalf("active: got %d, want 1", active)
		}
		release := receive(t, releases)
		release()
	}
	if diff := cmp.Diff([]int{1, 2, 3}, order); diff != "" {
		t.Errorf("order of slots (-want +got):\n%s", diff)
	}
	if active, queued := l.load(); active != 0 || queued != 0 {
		t.Errorf("after all released: got %d active %d queued, want none", active, queued)
	}
}

// A waiter whose context ends leaves the line, freeing its place, and never gets a slot.
func TestLimiterCancelledWaiterLeaves(t *testing.T) {
	l := newLimiter(1, 1)
	holder, err := l.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() {
		_, err := l.acquire(ctx)
		cancelled <- err
	}()
	poll(t, "waiter queued", func() bool { _, q := l.load(); return q == 1 })
	cancel()
	if err := receive(t, cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: got %v, want context.Canceled", err)
	}
	if _, q := l.load(); q != 0 {
		t.Fatalf("queued after cancel: got %d, want 0", q)
	}

	next := make(chan error, 1)
	go func() {
		release, err := l.acquire(context.Background())
		if err == nil {
			release()
		}
		next <- err
	}()
	poll(t, "next waiter queued", func() bool { _, q := l.load(); return q == 1 })
	holder()
	if err := receive(t, next); err != nil {
		t.Errorf("next waiter: %v", err)
	}
	if active, queued := l.load(); active != 0 || queued != 0 {
		t.Errorf("after all released: got %d active %d queued, want none", active, queued)
	}
}

// Without a queue, the request beyond capacity is refused and a freed slot is taken again.
func TestLimiterWithoutQueue(t *testing.T) {
	l := newLimiter(2, 0)
	a, errA := l.acquire(context.Background())
	_, errB := l.acquire(context.Background())
	_, errC := l.acquire(context.Background())
	if errA != nil || errB != nil || !errors.Is(errC, errQueueFull) {
		t.Fatalf("got %v, %v, %v; want two slots and errQueueFull", errA, errB, errC)
	}
	a()
	if _, err := l.acquire(context.Background()); err != nil {
		t.Errorf("after a release: %v", err)
	}
}
