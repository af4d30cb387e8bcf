package stmtqueue

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)

func fill(t *testing.T, q *Queues, key string, n int) {
	t.Helper()
	for i := range n {
		if err := q.Enqueue(key, fmt.Sprintf("s%02d", i), t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		queued   int
		running  map[string]int
		clusters []Cluster
		want     []Assignment
	}{
		{name: "no cluster: everything waits", queued: 2},
		{name: "least loaded first, in order", queued: 3, running: map[string]int{"a": 1},
			clusters: []Cluster{{ID: "b"}, {ID: "a"}},
			want:     []Assignment{{"s00", "b"}, {"s01", "a"}, {"s02", "b"}}},
		{name: "never a draining cluster", queued: 2, clusters: []Cluster{{ID: "a", Draining: true}, {ID: "b"}},
			want: []Assignment{{"s00", "b"}, {"s01", "b"}}},
		{name: "at most the limit per cluster", queued: 5, running: map[string]int{"a": 2},
			clusters: []Cluster{{ID: "a"}, {ID: "b"}},
			want:     []Assignment{{"s00", "b"}, {"s01", "b"}, {"s02", "a"}, {"s03", "b"}}},
		{name: "only draining clusters: waits", queued: 1, clusters: []Cluster{{ID: "a", Draining: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := New(10)
			for c, n := range tc.running {
				q.get("w").running[c] = n
			}
			fill(t, q, "w", tc.queued)
			got := q.Dispatch("w", tc.clusters, 3)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if s := q.Stats("w", t0); s.Queued != tc.queued-len(tc.want) {
				t.Fatalf("queued %d, want %d", s.Queued, tc.queued-len(tc.want))
			}
		})
	}
}

func TestCapacityDoneAndStats(t *testing.T) {
	q := New(3)
	fill(t, q, "w", 3)
	if err := q.Enqueue("w", "x", t0); !errors.Is(err, ErrFull) {
		t.Fatalf("fourth statement: %v, want ErrFull", err)
	}
	if s := q.Stats("w", t0.Add(10*time.Second)); s.Queued != 3 || s.OldestWait != 10*time.Second {
		t.Fatalf("stats %+v", s)
	}
	if got := q.Dispatch("w", []Cluster{{ID: "a"}}, 1); !reflect.DeepEqual(got, []Assignment{{"s00", "a"}}) {
		t.Fatalf("dispatch %v", got)
	}
	if got := q.Dispatch("w", []Cluster{{ID: "a"}}, 1); got != nil {
		t.Fatalf("a full cluster took %v", got)
	}
	if !q.Remove("w", "s02") || q.Remove("w", "s02") {
		t.Fatal("Remove should take a queued statement out once")
	}
	q.Done("w", "a")
	if got := q.Dispatch("w", []Cluster{{ID: "a"}}, 1); !reflect.DeepEqual(got, []Assignment{{"s01", "a"}}) {
		t.Fatalf("after done: %v", got)
	}
	if s := q.Stats("w", t0); s.Queued != 0 || s.Running["a"] != 1 || s.OldestWait != 0 {
		t.Fatalf("stats %+v", s)
	}
	q.Done("w", "a")
	q.Done("w", "a") // an extra Done is ignored
	if keys := q.Keys(); len(keys) != 0 {
		t.Fatalf("an idle warehouse is kept: %v", keys)
	}
}

func TestDrain(t *testing.T) {
	q := New(10)
	fill(t, q, "w", 3)
	q.Dispatch("w", []Cluster{{ID: "a"}}, 1)
	if got := q.Drain("w"); !reflect.DeepEqual(got, []string{"s01", "s02"}) {
		t.Fatalf("drained %v, want the queued statements in order", got)
	}
	if s := q.Stats("w", t0); s.Queued != 0 || s.Running["a"] != 1 {
		t.Fatalf("after drain: %+v (the running statement stays counted until done)", s)
	}
	if got := q.Drain("nope"); got != nil {
		t.Fatalf("drained %v from an unknown warehouse", got)
	}
}
