package gateway

import (
	"context"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/apierror"
	"github.com/serverlessplane/operator/internal/caller"
	"github.com/serverlessplane/operator/internal/hs2"
	"github.com/serverlessplane/operator/internal/sqlwire"
)

// refusal is why a statement was not queued: the REST API answers it with status and code, the
// Thrift API as a statement error.
type refusal struct {
	status        int
	code, message string
	retryAfter    bool
}

func (r *refusal) statementError() *sqlwire.StatementError {
	code, state := sqlwire.CodeBadRequest, "42000"
	switch r.status {
	case http.StatusNotFound:
		state = "42S02" // the warehouse, not a table, but drivers show both the same way
	case http.StatusTooManyRequests:
		code, state = sqlwire.CodeResourceExhausted, "53000"
	case http.StatusServiceUnavailable:
		code, state = sqlwire.CodeUnavailable, "08000"
	}
	return &sqlwire.StatementError{ErrorCode: code, Message: r.message, SQLState: state}
}

// submitStatement queues a statement of the caller's on a warehouse of the caller's workspace,
// and pumps the warehouse's queue.
func (s *Server) submitStatement(ctx context.Context, c caller.Caller, warehouse string, req sqlwire.Request) (*statement, *refusal) {
	wh := &computev1.ServerlessWarehouse{}
	if err := s.o.Reader.Get(ctx, client.ObjectKey{Namespace: c.Workspace, Name: warehouse}, wh); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &refusal{status: http.StatusNotFound, code: apierror.ResourceDoesNotExist, message: fmt.Sprintf("warehouse %q does not exist in workspace %q", warehouse, c.Workspace)}
		}
		return nil, &refusal{status: http.StatusServiceUnavailable, code: apierror.TemporarilyUnavailable, message: "reading the warehouse: " + err.Error()}
	}
	if !wh.DeletionTimestamp.IsZero() {
		return nil, &refusal{status: http.StatusNotFound, code: apierror.ResourceDoesNotExist, message: fmt.Sprintf("warehouse %q is being deleted", warehouse)}
	}
	if len(req.Statement) > sqlwire.MaxStatementBytes {
		return nil, &refusal{status: http.StatusBadRequest, code: apierror.BadRequest, message: fmt.Sprintf(
			"statement is %d bytes, over the %d MiB a statement may be: send shorter text, or pass values as parameters", len(req.Statement), sqlwire.MaxStatementBytes>>20)}
	}
	if req.ChunkRows <= 0 {
		req.ChunkRows = s.o.ChunkRows
	}
	st := &statement{
		id: newStatementID(), namespace: c.Workspace, warehouse: wh.Name, user: c.User.Username, uid: c.User.UID,
		submitted: s.o.Clock.Now(), done: make(chan struct{}), state: StatePending, req: req,
	}
	text := int64(len(req.Statement))
	if !s.sql.admitText(text) {
		return nil, &refusal{status: http.StatusServiceUnavailable, code: apierror.TemporarilyUnavailable, retryAfter: true, message: fmt.Sprintf(
			"the gateway holds %d MiB of statements waiting or running, as much as it may; retry later", s.o.StatementTextBytes>>20)}
	}
	st.released = func() { s.sql.releaseText(text) }
	if err := s.sql.submit(st); err != nil {
		st.released()
		return nil, &refusal{status: http.StatusTooManyRequests, code: apierror.RequestLimitExceeded, retryAfter: true, message: fmt.Sprintf(
			"warehouse %q already queues %d statements, as many as it may; retry later", wh.Name, s.o.StatementCapacity)}
	}
	s.pump(ctx, c.Workspace, wh.Name)
	return st, nil
}

// ownedStatement is the caller's statement with that id, or nil: another user's or another
// workspace's is not found, whatever its id.
func (s *Server) ownedStatement(c caller.Caller, id string) *statement {
	st := s.sql.get(id)
	if st == nil || !c.Owns(caller.Caller{Workspace: st.namespace, User: st.owner()}) {
		return nil
	}
	return st
}

// Statements is the statement service for the Thrift API (internal/hs2): the Statement
// Execution API's own queue, limits and engines.
func (s *Server) Statements() hs2.Statements { return sqlService{s} }

type sqlService struct{ s *Server }

func (v sqlService) Submit(ctx context.Context, c caller.Caller, warehouse string, req sqlwire.Request) (string, *sqlwire.StatementError) {
	st, r := v.s.submitStatement(ctx, c, warehouse, req)
	if r != nil {
		return "", r.statementError()
	}
	return st.id, nil
}

func (v sqlService) Wait(ctx context.Context, id string, timeout time.Duration) {
	st := v.s.sql.get(id)
	if st == nil || timeout == 0 {
		return
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := v.s.o.Clock.NewTimer(timeout)
		defer t.Stop()
		expired = t.C()
	}
	select {
	case <-st.done:
	case <-expired:
	case <-ctx.Done():
	}
}

func (v sqlService) Get(c caller.Caller, id string) (hs2.Snapshot, bool) {
	st := v.s.ownedStatement(c, id)
	if st == nil {
		return hs2.Snapshot{}, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	snap := hs2.Snapshot{State: st.state, Error: st.err}
	if st.state == StateSucceeded {
		snap.Columns, snap.Chunks, snap.Rows = st.columns, st.chunks, st.rows
	}
	return snap, true
}

func (v sqlService) Cancel(c caller.Caller, id string) {
	if st := v.s.ownedStatement(c, id); st != nil {
		v.s.sql.cancel(st, v.s.o.Clock.Now())
	}
}

func (v sqlService) Close(c caller.Caller, id string) {
	if st := v.s.ownedStatement(c, id); st != nil {
		v.s.sql.close(st, v.s.o.Clock.Now())
	}
}
