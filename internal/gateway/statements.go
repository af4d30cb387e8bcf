package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"

	"github.com/serverlessplane/operator/internal/apierror"
	"github.com/serverlessplane/operator/internal/caller"
	"github.com/serverlessplane/operator/internal/sqlwire"
)

// Statement states of the Statement Execution API.
const (
	StatePending   = sqlwire.StatePending
	StateRunning   = sqlwire.StateRunning
	StateSucceeded = sqlwire.StateSucceeded
	StateFailed    = sqlwire.StateFailed
	StateCanceled  = sqlwire.StateCanceled
	StateClosed    = sqlwire.StateClosed
)

// Limits of the statement API.
const (
	// DefaultWaitTimeout is how long a submission waits for its result when it names no
	// wait_timeout.
	DefaultWaitTimeout = 10 * time.Second
	// InlineLimit bounds the result of one statement (the API's INLINE disposition limit).
	InlineLimit = 25 << 20
	// maxStatementRequest bounds a submission's body: the statement's text
	// (sqlwire.MaxStatementBytes) and its parameters.
	maxStatementRequest = 4 << 20
)

// executeRequest is the body of POST /api/2.0/sql/statements.
type executeRequest struct {
	Statement     string              `json:"statement"`
	WarehouseID   string              `json:"warehouse_id"`
	WaitTimeout   string              `json:"wait_timeout"`
	OnWaitTimeout string              `json:"on_wait_timeout"`
	Parameters    []sqlwire.Parameter `json:"parameters"`
	RowLimit      int64               `json:"row_limit"`
	ByteLimit     int64               `json:"byte_limit"`
	Disposition   string              `json:"disposition"`
	Format        string              `json:"format"`
	Catalog       string              `json:"catalog"`
	Schema        string              `json:"schema"`
}

// statement is one submitted statement and, once finished, its result.
type statement struct {
	id, namespace, warehouse, user, uid string
	req                                 sqlwire.Request
	submitted                           time.Time
	// done is closed when the statement reaches a final state.
	done chan struct{}

	// released gives the statement's text back to the store's budget; finish calls it once.
	released func()

	mu        sync.Mutex
	state     string
	err       *sqlwire.StatementError
	columns   []sqlwire.Column
	chunks    [][][]*string
	rows      int64
	truncated bool
	bytes     int64
	finished  time.Time
	cancel    func()
}

// owner is the user who submitted the statement.
func (st *statement) owner() authnv1.UserInfo {
	return authnv1.UserInfo{Username: st.user, UID: st.uid}
}

func (st *statement) final() bool {
	switch st.state {
	case StateSucceeded, StateFailed, StateCanceled, StateClosed:
		return true
	}
	return false
}

// finish moves the statement to a final state once; false if it already was in one.
func (st *statement) finish(state string, err *sqlwire.StatementError, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.final() {
		return false
	}
	// A statement that ends while its engine still runs it (canceled, or over the INLINE
	// limit) stops it there.
	if st.cancel != nil {
		defer st.cancel()
	}
	st.state, st.err, st.finished, st.cancel = state, err, now, nil
	// The text went to the engine, or never will: it is not kept for the result's TTL.
	st.req.Statement, st.req.Parameters = "", nil
	if st.released != nil {
		st.released()
	}
	if state != StateSucceeded {
		st.columns, st.chunks, st.bytes = nil, nil, 0
	}
	close(st.done)
	return true
}

// response is the statement as the API shows it, with the first chunk of its result.
func (st *statement) response(linkPrefix string) sqlwire.Response {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := sqlwire.Response{StatementID: st.id, Status: sqlwire.Status{State: st.state, Error: st.err}}
	if st.state != StateSucceeded {
		return r
	}
	m := &sqlwire.Manifest{Format: "JSON_ARRAY", Schema: sqlwire.Schema{ColumnCount: len(st.columns), Columns: st.columns},
		TotalChunkCount: len(st.chunks), TotalRowCount: st.rows, Truncated: st.truncated, Chunks: []sqlwire.ChunkInfo{}}
	var offset int64
	for i, c := range st.chunks {
		m.Chunks = append(m.Chunks, sqlwire.ChunkInfo{ChunkIndex: i, RowOffset: offset, RowCount: len(c)})
		offset += int64(len(c))
	}
	r.Manifest = m
	if len(st.chunks) > 0 {
		r.Result = st.chunk(0, m.Chunks[0], linkPrefix)
	} else {
		r.Result = &sqlwire.ResultData{DataArray: [][]*string{}}
	}
	return r
}

// chunk is result chunk i; the caller holds mu.
func (st *statement) chunk(i int, info sqlwire.ChunkInfo, linkPrefix string) *sqlwire.ResultData {
	d := &sqlwire.ResultData{ChunkInfo: info, DataArray: st.chunks[i]}
	if i+1 < len(st.chunks) {
		next := i + 1
		d.NextChunkIndex = &next
		d.NextChunkInternalLink = fmt.Sprintf("%s/api/2.0/sql/statements/%s/result/chunks/%d", linkPrefix, st.id, next)
	}
	return d
}

var waitTimeout = regexp.MustCompile(`^(\d{1,2})s$`)

// parseExecute checks a submission and returns the wait and whether a timeout cancels it, or
// the message of a 400 that names the field and the fix.
func parseExecute(req *executeRequest) (time.Duration, bool, string) {
	wait := DefaultWaitTimeout
	if req.WaitTimeout != "" {
		m := waitTimeout.FindStringSubmatch(req.WaitTimeout)
		n := -1
		if m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		if n != 0 && (n < 5 || n > 50) {
			return 0, false, fmt.Sprintf("wait_timeout %q is not 0s or between 5s and 50s", req.WaitTimeout)
		}
		wait = time.Duration(n) * time.Second
	}
	cancelOnTimeout := false
	switch req.OnWaitTimeout {
	case "", "CONTINUE":
	case "CANCEL":
		cancelOnTimeout = true
	default:
		return 0, false, fmt.Sprintf("on_wait_timeout %q is not CONTINUE or CANCEL", req.OnWaitTimeout)
	}
	switch {
	case req.Statement == "":
		return 0, false, "statement is required: the SQL text to run"
	case req.WarehouseID == "":
		return 0, false, "warehouse_id is required: the name of a ServerlessWarehouse in the workspace"
	case req.Disposition != "" && req.Disposition != "INLINE":
		return 0, false, fmt.Sprintf("disposition %q is not supported: use INLINE (results up to %d MiB)", req.Disposition, InlineLimit>>20)
	case req.Format != "" && req.Format != "JSON_ARRAY":
		return 0, false, fmt.Sprintf("format %q is not supported: use JSON_ARRAY", req.Format)
	case req.RowLimit < 0:
		return 0, false, fmt.Sprintf("row_limit %d is negative", req.RowLimit)
	case req.ByteLimit < 0:
		return 0, false, fmt.Sprintf("byte_limit %d is negative", req.ByteLimit)
	case req.Catalog != "" || req.Schema != "":
		return 0, false, "catalog and schema are not supported: qualify table names instead (tpch.lineitem, data.<file>)"
	}
	return wait, cancelOnTimeout, ""
}

// execute serves POST /api/2.0/sql/statements.
func (s *Server) execute(w http.ResponseWriter, r *http.Request) {
	ws := s.workspace(r)
	if ws == "" {
		apierror.Write(w, http.StatusNotFound, apierror.ResourceDoesNotExist, "no workspace in the request: use the host <workspace>."+s.o.Domain+" or the path prefix /workspaces/<workspace>")
		return
	}
	// Who asks comes first: a caller without a token learns nothing, not even what is wrong with
	// its request.
	if _, ok := s.authenticate(w, r); !ok {
		return
	}
	var req executeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxStatementRequest))
	if err := dec.Decode(&req); err != nil {
		apierror.Write(w, http.StatusBadRequest, apierror.BadRequest, "the request body is not a statement: "+err.Error())
		return
	}
	wait, cancelOnTimeout, problem := parseExecute(&req)
	if problem != "" {
		apierror.Write(w, http.StatusBadRequest, apierror.BadRequest, problem)
		return
	}
	user, ok := s.authorize(w, r, Resource{Namespace: ws, Resource: "serverlesswarehouses", Subresource: "statements", Name: req.WarehouseID})
	if !ok {
		return
	}
	st, refused := s.submitStatement(r.Context(), caller.Caller{Workspace: ws, User: user}, req.WarehouseID,
		sqlwire.Request{Statement: req.Statement, Parameters: req.Parameters, RowLimit: req.RowLimit})
	if refused != nil {
		if refused.retryAfter {
			w.Header().Set("Retry-After", "5")
		}
		apierror.Write(w, refused.status, refused.code, refused.message)
		return
	}
	if wait > 0 {
		t := s.o.Clock.NewTimer(wait)
		select {
		case <-st.done:
		case <-t.C():
			if cancelOnTimeout {
				s.sql.cancel(st, s.o.Clock.Now())
			}
		case <-r.Context().Done():
		}
		t.Stop()
	}
	writeJSON(w, http.StatusOK, st.response(linkPrefix(r)))
}

// statementFor finds the caller's statement: another user's, or another workspace's, is not
// found, whatever its id.
func (s *Server) statementFor(w http.ResponseWriter, r *http.Request) (*statement, bool) {
	if _, ok := s.authenticate(w, r); !ok {
		return nil, false
	}
	ws := s.workspace(r)
	st := s.sql.get(r.PathValue("id"))
	if ws == "" || st == nil || st.namespace != ws {
		apierror.Write(w, http.StatusNotFound, apierror.ResourceDoesNotExist, fmt.Sprintf("statement %q does not exist in this workspace", r.PathValue("id")))
		return nil, false
	}
	user, ok := s.authorize(w, r, Resource{Namespace: ws, Resource: "serverlesswarehouses", Subresource: "statements", Name: st.warehouse})
	if !ok {
		return nil, false
	}
	if !(caller.Caller{Workspace: ws, User: user}).Owns(caller.Caller{Workspace: st.namespace, User: st.owner()}) {
		apierror.Write(w, http.StatusNotFound, apierror.ResourceDoesNotExist, fmt.Sprintf("statement %q does not exist in this workspace", r.PathValue("id")))
		return nil, false
	}
	return st, true
}

// getStatement serves GET /api/2.0/sql/statements/{id}.
func (s *Server) getStatement(w http.ResponseWriter, r *http.Request) {
	if st, ok := s.statementFor(w, r); ok {
		writeJSON(w, http.StatusOK, st.response(linkPrefix(r)))
	}
}

// cancelStatement serves POST /api/2.0/sql/statements/{id}/cancel.
func (s *Server) cancelStatement(w http.ResponseWriter, r *http.Request) {
	if st, ok := s.statementFor(w, r); ok {
		s.sql.cancel(st, s.o.Clock.Now())
		writeJSON(w, http.StatusOK, struct{}{})
	}
}

// getChunk serves GET /api/2.0/sql/statements/{id}/result/chunks/{n}.
func (s *Server) getChunk(w http.ResponseWriter, r *http.Request) {
	st, ok := s.statementFor(w, r)
	if !ok {
		return
	}
	n, err := strconv.Atoi(r.PathValue("chunk"))
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.state != StateSucceeded {
		apierror.Write(w, http.StatusBadRequest, apierror.BadRequest, fmt.Sprintf("statement %q is %s: only a SUCCEEDED statement has result chunks", st.id, st.state))
		return
	}
	if err != nil || n < 0 || n >= len(st.chunks) {
		apierror.Write(w, http.StatusNotFound, apierror.ResourceDoesNotExist, fmt.Sprintf("statement %q has chunks 0 to %d, not %q", st.id, len(st.chunks)-1, r.PathValue("chunk")))
		return
	}
	var offset int64
	for _, c := range st.chunks[:n] {
		offset += int64(len(c))
	}
	writeJSON(w, http.StatusOK, st.chunk(n, sqlwire.ChunkInfo{ChunkIndex: n, RowOffset: offset, RowCount: len(st.chunks[n])}, linkPrefix(r)))
}

// linkPrefix keeps the workspace path prefix in the links the gateway answers.
func linkPrefix(r *http.Request) string {
	if ws := r.PathValue("workspace"); ws != "" {
		return "/workspaces/" + ws
	}
	return ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func newStatementID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
