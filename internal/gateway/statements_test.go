package gateway

import (
	"strings"
	"testing"
	"time"
)

func TestParseExecute(t *testing.T) {
	ok := func(r executeRequest) executeRequest {
		if r.Statement == "" {
			r.Statement = "SELECT 1"
		}
		if r.WarehouseID == "" {
			r.WarehouseID = "wh"
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		req     executeRequest
		wait    time.Duration
		cancel  bool
		problem string
	}{
		{name: "defaults", req: ok(executeRequest{}), wait: 10 * time.Second},
		{name: "0s", req: ok(executeRequest{WaitTimeout: "0s"}), wait: 0},
		{name: "50s and CANCEL", req: ok(executeRequest{WaitTimeout: "50s", OnWaitTimeout: "CANCEL"}), wait: 50 * time.Second, cancel: true},
		{name: "4s", req: ok(executeRequest{WaitTimeout: "4s"}), problem: "wait_timeout"},
		{name: "51s", req: ok(executeRequest{WaitTimeout: "51s"}), problem: "wait_timeout"},
		{name: "not a duration", req: ok(executeRequest{WaitTimeout: "10"}), problem: "wait_timeout"},
		{name: "bad on_wait_timeout", req: ok(executeRequest{OnWaitTimeout: "WAIT"}), problem: "on_wait_timeout"},
		{name: "no statement", req: executeRequest{WarehouseID: "wh"}, problem: "statement is required"},
		{name: "no warehouse", req: executeRequest{Statement: "SELECT 1"}, problem: "warehouse_id is required"},
		{name: "external links", req: ok(executeRequest{Disposition: "EXTERNAL_LINKS"}), problem: "disposition"},
		{name: "arrow", req: ok(executeRequest{Format: "ARROW_STREAM"}), problem: "format"},
		{name: "negative row limit", req: ok(executeRequest{RowLimit: -1}), problem: "row_limit"},
		{name: "schema", req: ok(executeRequest{Schema: "tpch"}), problem: "qualify table names"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wait, cancel, problem := parseExecute(&tc.req)
			if tc.problem != "" {
				if !strings.Contains(problem, tc.problem) {
					t.Fatalf("problem %q, want it to name %q", problem, tc.problem)
				}
				return
			}
			if problem != "" || wait != tc.wait || cancel != tc.cancel {
				t.Fatalf("got %s, %v, %q; want %s, %v", wait, cancel, problem, tc.wait, tc.cancel)
			}
		})
	}
}

func TestResultsExpire(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	c := newSQLStore(Options{StatementCapacity: 10, RunningPerCluster: 10, ResultTTL: time.Hour, ResultBytes: 100})
	add := func(id string, finished time.Time, bytes int64) *statement {
		st := &statement{id: id, done: make(chan struct{}), state: StateRunning, chunks: [][][]*string{{}}, bytes: bytes}
		st.finish(StateSucceeded, nil, finished)
		c.byID[id] = st
		return st
	}
	old := add("old", t0, 10)
	a := add("a", t0.Add(50*time.Minute), 60)
	b := add("b", t0.Add(55*time.Minute), 60)
	running := &statement{id: "r", done: make(chan struct{}), state: StateRunning, bytes: 30}
	c.byID["r"] = running

	c.expire(t0.Add(61 * time.Minute))
	for st, want := range map[*statement]string{old: StateClosed, a: StateClosed, b: StateSucceeded, running: StateRunning} {
		if st.state != want {
			t.Errorf("%s: %s, want %s (past the TTL, then oldest first over the byte budget)", st.id, st.state, want)
		}
	}
	if a.chunks != nil || a.bytes != 0 {
		t.Error("a closed statement keeps its result")
	}
	c.expire(t0.Add(61*time.Minute + 2*time.Hour))
	if c.get("old") != nil || c.get("b") == nil && b.state != StateClosed {
		t.Error("a closed record is dropped a TTL after it closed; a succeeded one closes first")
	}
}

func TestPerClusterShare(t *testing.T) {
	for _, tc := range []struct{ limit, replicas, want int }{
		{10, 1, 10}, {10, 2, 5}, {10, 3, 3}, {10, 0, 10}, {10, 20, 1}, {1, 2, 1},
	} {
		if got := perClusterShare(tc.limit, tc.replicas); got != tc.want {
			t.Errorf("limit %d over %d replicas: %d each, want %d (together never above the limit, at least 1)", tc.limit, tc.replicas, got, tc.want)
		}
	}
}
