package hs2

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/serverlessplane/operator/internal/caller"
	"github.com/serverlessplane/operator/internal/sqlwire"
	tcli "github.com/serverlessplane/operator/internal/thrift/tcliservice"
)

// operation is a statement of a session's, or a result the server answers itself (the type
// table, empty key lists).
type operation struct {
	handle    *tcli.THandleIdentifier
	typ       tcli.TOperationType
	owner     caller.Caller
	session   string
	statement string    // its id in Statements; "" for a static result
	static    *Snapshot // the answer of a static operation
	// arrow: the driver reads Arrow batches, and its results are sent so.
	arrow bool

	mu     sync.Mutex
	cursor int64 // the next row FetchResults answers
}

// handleOf is the operation's handle as the client keeps it.
func (op *operation) handleOf() *tcli.TOperationHandle {
	return &tcli.TOperationHandle{OperationId: op.handle, OperationType: op.typ, HasResultSet: true}
}

// guidOf is a statement id's UUID as the 16 bytes of a handle identifier.
func guidOf(id string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(b) != 16 {
		return newID()
	}
	return b
}

// addOperation registers an operation in its session, within the session's bound.
func (s *Server) addOperation(ss *session, op *operation) *tcli.TStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ss.ops) >= s.o.OpsPerSession {
		return errorStatus("53000", fmt.Sprintf("the session has %d open operations, as many as it may: close some (CloseOperation)", len(ss.ops)))
	}
	id := string(op.handle.GUID)
	op.session = string(ss.handle.GUID)
	ss.ops[id] = struct{}{}
	s.ops[id] = op
	return nil
}

// operation is the caller's operation with that handle; the status says why there is none.
func (s *Server) operation(ctx context.Context, h *tcli.TOperationHandle) (*operation, *tcli.TStatus) {
	sc := scopeOf(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	var op *operation
	if h != nil && h.OperationId != nil {
		op = s.ops[string(h.OperationId.GUID)]
	}
	if op == nil || !bytes.Equal(op.handle.Secret, h.OperationId.Secret) || !sc.caller.Owns(op.owner) {
		return nil, invalidHandle("the operation does not exist: it was closed, its result expired, or it is another user's")
	}
	if ss := s.sessions[op.session]; ss != nil {
		ss.lastUsed = s.o.Clock.Now()
	}
	return op, nil
}

func (s *Server) dropOperationLocked(id string, op *operation) {
	if op.statement != "" {
		s.o.Statements.Close(op.owner, op.statement)
	}
	if ss := s.sessions[op.session]; ss != nil {
		delete(ss.ops, id)
	}
	delete(s.ops, id)
}

// snapshot is the operation's statement as it is now; false once the statement is gone.
func (s *Server) snapshot(op *operation) (Snapshot, bool) {
	if op.static != nil {
		return *op.static, true
	}
	return s.o.Statements.Get(op.owner, op.statement)
}

// operationState is a statement state as the protocol names it.
func operationState(state string) tcli.TOperationState {
	switch state {
	case sqlwire.StatePending:
		return tcli.TOperationState_PENDING_STATE
	case sqlwire.StateRunning:
		return tcli.TOperationState_RUNNING_STATE
	case sqlwire.StateSucceeded:
		return tcli.TOperationState_FINISHED_STATE
	case sqlwire.StateFailed:
		return tcli.TOperationState_ERROR_STATE
	case sqlwire.StateCanceled:
		return tcli.TOperationState_CANCELED_STATE
	case sqlwire.StateClosed:
		return tcli.TOperationState_CLOSED_STATE
	}
	return tcli.TOperationState_UKNOWN_STATE
}

func final(state string) bool {
	return state != sqlwire.StatePending && state != sqlwire.StateRunning
}

// statusOf is the operation's state, with the error of a failed one.
func statusOf(snap Snapshot) *tcli.TGetOperationStatusResp {
	// hasResultSet is said only of a result that is there: drivers take false for an empty
	// result and then read no state, where a failed statement's error is.
	resp := &tcli.TGetOperationStatusResp{Status: okStatus(), OperationState: ptr(operationState(snap.State))}
	if e := snap.Error; e != nil {
		st := statementStatus(e)
		resp.SqlState, resp.ErrorMessage, resp.DisplayMessage = st.SqlState, st.ErrorMessage, st.DisplayMessage
		resp.ErrorCode = ptr(int32(0))
	}
	if snap.State == sqlwire.StateSucceeded {
		resp.HasResultSet, resp.NumModifiedRows = ptr(true), ptr(int64(0))
	}
	return resp
}

// GetOperationStatus answers the operation's state, waiting up to StatusWait for a statement
// that still runs.
func (s *Server) GetOperationStatus(ctx context.Context, req *tcli.TGetOperationStatusReq) (*tcli.TGetOperationStatusResp, error) {
	op, status := s.operation(ctx, req.OperationHandle)
	if status != nil {
		return &tcli.TGetOperationStatusResp{Status: status}, nil
	}
	if op.statement != "" {
		s.o.Statements.Wait(ctx, op.statement, s.o.StatusWait)
	}
	snap, ok := s.snapshot(op)
	if !ok {
		return &tcli.TGetOperationStatusResp{Status: invalidHandle("the operation's result expired")}, nil
	}
	return statusOf(snap), nil
}

// CancelOperation stops the operation's statement.
func (s *Server) CancelOperation(ctx context.Context, req *tcli.TCancelOperationReq) (*tcli.TCancelOperationResp, error) {
	op, status := s.operation(ctx, req.OperationHandle)
	if status != nil {
		return &tcli.TCancelOperationResp{Status: status}, nil
	}
	if op.statement != "" {
		s.o.Statements.Cancel(op.owner, op.statement)
	}
	return &tcli.TCancelOperationResp{Status: okStatus()}, nil
}

// CloseOperation ends the operation and lets its result go.
func (s *Server) CloseOperation(ctx context.Context, req *tcli.TCloseOperationReq) (*tcli.TCloseOperationResp, error) {
	op, status := s.operation(ctx, req.OperationHandle)
	if status != nil {
		return &tcli.TCloseOperationResp{Status: status}, nil
	}
	s.mu.Lock()
	s.dropOperationLocked(string(op.handle.GUID), op)
	s.mu.Unlock()
	return &tcli.TCloseOperationResp{Status: okStatus()}, nil
}

// resultReady is the operation's result, or the status of a call that asks for it too early or
// too late.
func (s *Server) resultReady(op *operation) (Snapshot, *tcli.TStatus) {
	snap, ok := s.snapshot(op)
	switch {
	case !ok:
		return snap, invalidHandle("the operation's result expired")
	case snap.State == sqlwire.StateSucceeded:
		return snap, nil
	case snap.Error != nil:
		return snap, statementStatus(snap.Error)
	case final(snap.State):
		return snap, errorStatus("HY010", fmt.Sprintf("the operation is %s: it has no result", snap.State))
	}
	return snap, errorStatus("HY010", fmt.Sprintf("the operation is %s: ask GetOperationStatus until it is FINISHED", snap.State))
}

// GetResultSetMetadata answers the result's schema.
func (s *Server) GetResultSetMetadata(ctx context.Context, req *tcli.TGetResultSetMetadataReq) (*tcli.TGetResultSetMetadataResp, error) {
	op, status := s.operation(ctx, req.OperationHandle)
	if status != nil {
		return &tcli.TGetResultSetMetadataResp{Status: status}, nil
	}
	snap, status := s.resultReady(op)
	if status != nil {
		return &tcli.TGetResultSetMetadataResp{Status: status}, nil
	}
	return metadataOf(op, snap.Columns), nil
}

// metadataOf is a result's schema, and the Arrow schema of an operation whose results are
// Arrow batches.
func metadataOf(op *operation, columns []sqlwire.Column) *tcli.TGetResultSetMetadataResp {
	md := &tcli.TGetResultSetMetadataResp{Status: okStatus(), Schema: schemaOf(columns),
		ResultFormat: ptr(tcli.TSparkRowSetType_COLUMN_BASED_SET), Lz4Compressed: ptr(false), IsStagingOperation: ptr(false)}
	if op.arrow {
		schema, err := arrowSchemaMessage(columns)
		if err != nil {
			return &tcli.TGetResultSetMetadataResp{Status: errorStatus("HY000", "encoding the result's Arrow schema: "+err.Error())}
		}
		md.ResultFormat, md.ArrowSchema = ptr(tcli.TSparkRowSetType_ARROW_BASED_SET), schema
	}
	return md
}

// FetchResults answers the next rows of the result, at most maxRows and the server's bounds.
func (s *Server) FetchResults(ctx context.Context, req *tcli.TFetchResultsReq) (*tcli.TFetchResultsResp, error) {
	op, status := s.operation(ctx, req.OperationHandle)
	if status != nil {
		return &tcli.TFetchResultsResp{Status: status}, nil
	}
	if req.GetFetchType() != 0 {
		// Type 1 asks for the operation's log, which this server does not keep.
		return &tcli.TFetchResultsResp{Status: okStatus(), HasMoreRows: ptr(false), Results: &tcli.TRowSet{Rows: []*tcli.TRow{}, Columns: []*tcli.TColumn{}}}, nil
	}
	snap, status := s.resultReady(op)
	if status != nil {
		return &tcli.TFetchResultsResp{Status: status}, nil
	}
	resp := s.fetch(op, snap, req.Orientation, req.MaxRows, req.GetMaxBytes())
	if req.GetIncludeResultSetMetadata() {
		resp.ResultSetMetadata = metadataOf(op, snap.Columns)
	}
	return resp, nil
}

// fetch answers rows from the operation's cursor (from the start for FETCH_FIRST) and moves it.
func (s *Server) fetch(op *operation, snap Snapshot, orientation tcli.TFetchOrientation, maxRows, maxBytes int64) *tcli.TFetchResultsResp {
	limit := int64(s.o.FetchRows)
	if maxRows > 0 && maxRows < limit {
		limit = maxRows
	}
	budget := s.o.FetchBytes
	if maxBytes > 0 && maxBytes < budget {
		budget = maxBytes
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if orientation == tcli.TFetchOrientation_FETCH_FIRST {
		op.cursor = 0
	}
	rows := sliceRows(snap.Chunks, op.cursor, limit, budget)
	set := rowSet(snap.Columns, op.cursor, rows)
	if op.arrow {
		set = &tcli.TRowSet{StartRowOffset: op.cursor, Rows: []*tcli.TRow{}}
		if len(rows) > 0 {
			batch, err := arrowBatch(snap.Columns, rows)
			if err != nil {
				return &tcli.TFetchResultsResp{Status: errorStatus("HY000", "encoding rows as Arrow: "+err.Error())}
			}
			set.ArrowBatches = []*tcli.TSparkArrowBatch{{Batch: batch, RowCount: int64(len(rows))}}
		}
	}
	op.cursor += int64(len(rows))
	return &tcli.TFetchResultsResp{Status: okStatus(), HasMoreRows: ptr(op.cursor < snap.Rows), Results: set}
}

// directResults answers an operation's status, and its first rows when it has ended, in the
// call that started it, so that a short statement is one round trip. When the whole result of
// a successful one fits, the operation is closed too, and the driver asks nothing more.
func (s *Server) directResults(ctx context.Context, op *operation, want *tcli.TSparkGetDirectResults, wait time.Duration) *tcli.TSparkDirectResults {
	if op.statement != "" {
		s.o.Statements.Wait(ctx, op.statement, wait)
	}
	snap, ok := s.snapshot(op)
	if !ok {
		return nil
	}
	d := &tcli.TSparkDirectResults{OperationStatus: statusOf(snap)}
	if !final(snap.State) {
		return d
	}
	if snap.State != sqlwire.StateSucceeded {
		// A failed or canceled operation stays open: the driver asks for its status and closes it.
		return d
	}
	d.ResultSetMetadata = metadataOf(op, snap.Columns)
	d.ResultSet = s.fetch(op, snap, tcli.TFetchOrientation_FETCH_FIRST, want.MaxRows, want.GetMaxBytes())
	if d.ResultSet.GetHasMoreRows() {
		return d
	}
	d.CloseOperation = &tcli.TCloseOperationResp{Status: okStatus()}
	s.mu.Lock()
	s.dropOperationLocked(string(op.handle.GUID), op)
	s.mu.Unlock()
	return d
}
