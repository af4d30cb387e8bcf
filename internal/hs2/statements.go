package hs2

import (
	"context"
	"time"

	"github.com/serverlessplane/operator/internal/caller"
	"github.com/serverlessplane/operator/internal/sqlwire"
)

// Statements is the warehouses' statement service, the one the Statement Execution API runs on
// too: the same queue per warehouse, the same running limit per cluster, the same start of a
// stopped warehouse by a waiting statement and the same engines. A Thrift operation is one of
// its statements.
type Statements interface {
	// Submit queues a statement of the caller's on a warehouse of the caller's workspace and
	// returns its id, or why it was refused (no such warehouse, a full queue).
	Submit(ctx context.Context, c caller.Caller, warehouse string, req sqlwire.Request) (string, *sqlwire.StatementError)
	// Wait returns once the statement has ended, after timeout, or when ctx ends; a negative
	// timeout waits for the end.
	Wait(ctx context.Context, id string, timeout time.Duration)
	// Get is the caller's statement as it is now: false for an id that is not the caller's.
	Get(c caller.Caller, id string) (Snapshot, bool)
	// Cancel ends the caller's statement if it has not ended: it leaves its queue, or its engine
	// stops it.
	Cancel(c caller.Caller, id string)
	// Close cancels the statement and lets its result go now rather than at the result TTL.
	Close(c caller.Caller, id string)
}

// Snapshot is a statement's state and, once it SUCCEEDED, its result.
type Snapshot struct {
	// State is the Statement Execution API's (sqlwire.StatePending ... sqlwire.StateClosed).
	State string
	// Error is why a FAILED statement failed.
	Error *sqlwire.StatementError
	// Columns and Chunks are a SUCCEEDED statement's result: the rows in the chunks the engine
	// sent them in. Neither changes once the statement has SUCCEEDED.
	Columns []sqlwire.Column
	Chunks  [][][]*string
	// Rows is the result's row count.
	Rows int64
}
