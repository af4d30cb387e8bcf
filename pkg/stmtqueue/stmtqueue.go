// Package stmtqueue is a warehouse's statement queue: statements wait in arrival order, up to a
// capacity, and are dispatched to the least-loaded serving cluster that runs fewer than a
// per-cluster limit, never to a draining one. It holds ids only; the caller runs them and says
// when each is done. Safe for concurrent use.
package stmtqueue

import (
	"errors"
	"sort"
	"sync"
	"time"
)

// ErrFull is returned by Enqueue when the warehouse's queue holds its capacity.
var ErrFull = errors.New("the warehouse's statement queue is full")

// Cluster is a warehouse cluster as the dispatcher sees it.
type Cluster struct {
	ID string
	// Draining clusters finish what they run and are sent nothing new.
	Draining bool
}

// Assignment is a statement sent to a cluster.
type Assignment struct {
	Statement, Cluster string
}

// Stats is a warehouse's load.
type Stats struct {
	Queued int
	// Running maps clusters to the statements they run.
	Running map[string]int
	// OldestWait is how long the head of the queue has waited; 0 when empty.
	OldestWait time.Duration
}

type entry struct {
	id string
	at time.Time
}

type warehouse struct {
	queue   []entry
	running map[string]int
}

// Queues are the queues of every warehouse, keyed by the caller (namespace/name).
type Queues struct {
	capacity int

	mu         sync.Mutex
	warehouses map[string]*warehouse
}

// New returns queues of capacity statements each.
func New(capacity int) *Queues {
	return &Queues{capacity: capacity, warehouses: map[string]*warehouse{}}
}

func (q *Queues) get(key string) *warehouse {
	w := q.warehouses[key]
	if w == nil {
		w = &warehouse{running: map[string]int{}}
		q.warehouses[key] = w
	}
	return w
}

// forget drops a warehouse with nothing queued or running.
func (q *Queues) forget(key string, w *warehouse) {
	if len(w.queue) == 0 && len(w.running) == 0 {
		delete(q.warehouses, key)
	}
}

// Enqueue appends a statement that arrived at at.
func (q *Queues) Enqueue(key, id string, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.get(key)
	if len(w.queue) >= q.capacity {
		q.forget(key, w)
		return ErrFull
	}
	w.queue = append(w.queue, entry{id: id, at: at})
	return nil
}

// Remove takes a queued statement out (it was canceled); false if it is not queued.
func (q *Queues) Remove(key, id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.warehouses[key]
	if w == nil {
		return false
	}
	for i, e := range w.queue {
		if e.id == id {
			w.queue = append(w.queue[:i], w.queue[i+1:]...)
			q.forget(key, w)
			return true
		}
	}
	return false
}

// Drain takes every queued statement of the warehouse out, in order (its warehouse is gone).
func (q *Queues) Drain(key string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.warehouses[key]
	if w == nil {
		return nil
	}
	ids := make([]string, 0, len(w.queue))
	for _, e := range w.queue {
		ids = append(ids, e.id)
	}
	w.queue = nil
	q.forget(key, w)
	return ids
}

// Dispatch pops queued statements, in order, onto the clusters that can take them: each goes
// to the serving cluster that runs the fewest (ties to the lowest id), while one runs fewer
// than perCluster.
func (q *Queues) Dispatch(key string, clusters []Cluster, perCluster int) []Assignment {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.warehouses[key]
	if w == nil {
		return nil
	}
	serving := make([]string, 0, len(clusters))
	for _, c := range clusters {
		if !c.Draining {
			serving = append(serving, c.ID)
		}
	}
	sort.Strings(serving)
	var out []Assignment
	for len(w.queue) > 0 {
		best := ""
		for _, id := range serving {
			if w.running[id] < perCluster && (best == "" || w.running[id] < w.running[best]) {
				best = id
			}
		}
		if best == "" {
			break
		}
		out = append(out, Assignment{Statement: w.queue[0].id, Cluster: best})
		w.queue = w.queue[1:]
		w.running[best]++
	}
	return out
}

// Done records that a dispatched statement finished on its cluster.
func (q *Queues) Done(key, cluster string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.warehouses[key]
	if w == nil || w.running[cluster] == 0 {
		return
	}
	if w.running[cluster]--; w.running[cluster] == 0 {
		delete(w.running, cluster)
	}
	q.forget(key, w)
}

// Stats is a warehouse's load at now.
func (q *Queues) Stats(key string, now time.Time) Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Stats{Running: map[string]int{}}
	w := q.warehouses[key]
	if w == nil {
		return s
	}
	s.Queued = len(w.queue)
	if len(w.queue) > 0 {
		s.OldestWait = max(0, now.Sub(w.queue[0].at))
	}
	for c, n := range w.running {
		s.Running[c] = n
	}
	return s
}

// Keys are the warehouses with statements queued or running.
func (q *Queues) Keys() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	keys := make([]string, 0, len(q.warehouses))
	for k := range q.warehouses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
