package hs2

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/serverlessplane/operator/internal/caller"
	"github.com/serverlessplane/operator/internal/sqlwire"
	tcli "github.com/serverlessplane/operator/internal/thrift/tcliservice"
)

// fakeStatements answers every statement with a fixed snapshot, recording what was submitted.
type fakeStatements struct {
	mu        sync.Mutex
	answer    Snapshot
	submitted []sqlwire.Request
	owners    map[string]caller.Caller
	closed    map[string]bool
	refuse    *sqlwire.StatementError
}

func (f *fakeStatements) Submit(_ context.Context, c caller.Caller, _ string, req sqlwire.Request) (string, *sqlwire.StatementError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return "", f.refuse
	}
	f.submitted = append(f.submitted, req)
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", len(f.submitted))
	f.owners[id] = c
	return id, nil
}

func (f *fakeStatements) Wait(context.Context, string, time.Duration) {}

func (f *fakeStatements) Get(c caller.Caller, id string) (Snapshot, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	owner, ok := f.owners[id]
	if !ok || f.closed[id] || !c.Owns(owner) {
		return Snapshot{}, false
	}
	return f.answer, true
}

func (f *fakeStatements) Cancel(caller.Caller, string) {}

func (f *fakeStatements) Close(_ caller.Caller, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed[id] = true
}

var (
	ann = caller.Caller{Workspace: "analytics", User: authnv1.UserInfo{Username: "ann", UID: "1"}}
	bob = caller.Caller{Workspace: "analytics", User: authnv1.UserInfo{Username: "bob", UID: "2"}}
)

// serve starts the Thrift handler behind a stand-in for the gateway's authentication: the
// X-Test-User header names the caller.
func serve(t *testing.T, f *fakeStatements, edit func(*Options)) string {
	url, _ := serveServer(t, f, edit)
	return url
}

func serveServer(t *testing.T, f *fakeStatements, edit func(*Options)) (string, *Server) {
	t.Helper()
	o := Options{Statements: f, Clock: clocktesting.NewFakeClock(time.Now()), Log: logr.Discard()}
	if edit != nil {
		edit(&o)
	}
	s := New(o)
	mux := http.NewServeMux()
	mux.Handle("POST /sql/1.0/warehouses/{warehouse}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := map[string]caller.Caller{"ann": ann, "bob": bob}[r.Header.Get("X-Test-User")]
		s.Handler().ServeHTTP(w, r.WithContext(caller.NewContext(r.Context(), c)))
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, s
}

// client is a Thrift client of the warehouse's path as user.
func client(t *testing.T, url, warehouse, user string) *tcli.TCLIServiceClient {
	t.Helper()
	trans, err := thrift.NewTHttpClient(url + "/sql/1.0/warehouses/" + warehouse)
	if err != nil {
		t.Fatal(err)
	}
	trans.(*thrift.THttpClient).SetHeader("X-Test-User", user)
	return tcli.NewTCLIServiceClientFactory(trans, thrift.NewTBinaryProtocolFactoryConf(nil))
}

func open(t *testing.T, c *tcli.TCLIServiceClient) *tcli.TSessionHandle {
	t.Helper()
	resp, err := c.OpenSession(context.Background(), &tcli.TOpenSessionReq{ClientProtocolI64: ptr(int64(tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V8))})
	if err != nil || resp.Status.StatusCode != tcli.TStatusCode_SUCCESS_STATUS {
		t.Fatalf("OpenSession: %v %v", resp, err)
	}
	if resp.ServerProtocolVersion != ServerProtocol {
		t.Fatalf("negotiated %v, want %v", resp.ServerProtocolVersion, ServerProtocol)
	}
	return resp.SessionHandle
}

func numbers(n int) Snapshot {
	var chunks [][][]*string
	for i := 0; i < n; i += 10 {
		var chunk [][]*string
		for j := i; j < min(n, i+10); j++ {
			chunk = append(chunk, []*string{ptr(strconv.Itoa(j))})
		}
		chunks = append(chunks, chunk)
	}
	return Snapshot{State: sqlwire.StateSucceeded, Columns: []sqlwire.Column{{Name: "n", TypeText: "BIGINT"}}, Chunks: chunks, Rows: int64(n)}
}

func TestSessionsAreTheirOwners(t *testing.T) {
	url := serve(t, &fakeStatements{owners: map[string]caller.Caller{}, closed: map[string]bool{}, answer: numbers(1)}, nil)
	h := open(t, client(t, url, "bi", "ann"))
	ctx := context.Background()
	for name, c := range map[string]*tcli.TCLIServiceClient{
		"another user":      client(t, url, "bi", "bob"),
		"another warehouse": client(t, url, "etl", "ann"),
	} {
		resp, err := c.ExecuteStatement(ctx, &tcli.TExecuteStatementReq{SessionHandle: h, Statement: "SELECT 1"})
		if err != nil || resp.Status.StatusCode != tcli.TStatusCode_INVALID_HANDLE_STATUS {
			t.Errorf("%s: ExecuteStatement on ann's session answered %v, %v; want INVALID_HANDLE_STATUS", name, resp.Status, err)
		}
	}
	forged := &tcli.TSessionHandle{SessionId: &tcli.THandleIdentifier{GUID: h.SessionId.GUID, Secret: newID()}}
	if resp, _ := client(t, url, "bi", "ann").CloseSession(ctx, &tcli.TCloseSessionReq{SessionHandle: forged}); resp.Status.StatusCode != tcli.TStatusCode_INVALID_HANDLE_STATUS {
		t.Errorf("a handle with another secret closed the session: %v", resp.Status)
	}
}

func TestSessionsPerUserAreBounded(t *testing.T) {
	url := serve(t, &fakeStatements{owners: map[string]caller.Caller{}, closed: map[string]bool{}}, func(o *Options) { o.SessionsPerUser = 2 })
	c := client(t, url, "bi", "ann")
	open(t, c)
	open(t, c)
	resp, err := c.OpenSession(context.Background(), &tcli.TOpenSessionReq{ClientProtocolI64: ptr(int64(ServerProtocol))})
	if err != nil || resp.Status.StatusCode != tcli.TStatusCode_ERROR_STATUS || resp.Status.GetSqlState() != "53000" {
		t.Fatalf("a third session answered %v, %v; want ERROR_STATUS 53000", resp.Status, err)
	}
	open(t, client(t, url, "bi", "bob")) // another user's bound is their own
}

func TestDirectResultsAndFetches(t *testing.T) {
	f := &fakeStatements{owners: map[string]caller.Caller{}, closed: map[string]bool{}, answer: numbers(25)}
	url := serve(t, f, func(o *Options) { o.FetchRows = 10 })
	c := client(t, url, "bi", "ann")
	h := open(t, c)
	ctx := context.Background()

	// All of a small result comes in the call, and the operation is closed with it.
	f.answer = numbers(3)
	resp, err := c.ExecuteStatement(ctx, &tcli.TExecuteStatementReq{SessionHandle: h, Statement: "SELECT 1", RunAsync: true,
		GetDirectResults: &tcli.TSparkGetDirectResults{MaxRows: 100}})
	if err != nil || resp.DirectResults == nil || resp.DirectResults.CloseOperation == nil {
		t.Fatalf("direct results %v, %v: want the whole result and the operation closed", resp, err)
	}
	if got := resp.DirectResults.ResultSet.Results.Columns[0].I64Val.Values; len(got) != 3 {
		t.Fatalf("direct rows %v, want 3", got)
	}
	if !f.closed["00000000-0000-4000-8000-000000000001"] {
		t.Error("the statement of a closed operation was not closed")
	}

	// A larger one: the first fetch in the call, the rest fetched, at most FetchRows each.
	f.answer = numbers(25)
	resp, _ = c.ExecuteStatement(ctx, &tcli.TExecuteStatementReq{SessionHandle: h, Statement: "SELECT 2", GetDirectResults: &tcli.TSparkGetDirectResults{MaxRows: 100}})
	if resp.DirectResults.CloseOperation != nil || !resp.DirectResults.ResultSet.GetHasMoreRows() {
		t.Fatalf("a result of 25 rows in fetches of 10 came whole: %v", resp.DirectResults)
	}
	var got []int64
	got = append(got, resp.DirectResults.ResultSet.Results.Columns[0].I64Val.Values...)
	for more := true; more; {
		fr, err := c.FetchResults(ctx, &tcli.TFetchResultsReq{OperationHandle: resp.OperationHandle, Orientation: tcli.TFetchOrientation_FETCH_NEXT, MaxRows: 100})
		if err != nil || fr.Status.StatusCode != tcli.TStatusCode_SUCCESS_STATUS {
			t.Fatalf("FetchResults: %v %v", fr, err)
		}
		if n := len(fr.Results.Columns[0].I64Val.Values); n > 10 {
			t.Fatalf("a fetch answered %d rows, over FetchRows", n)
		}
		got = append(got, fr.Results.Columns[0].I64Val.Values...)
		more = fr.GetHasMoreRows()
	}
	for i, v := range got {
		if v != int64(i) {
			t.Fatalf("rows %v, want 0..24 in order", got)
		}
	}
	if len(got) != 25 {
		t.Fatalf("%d rows, want 25", len(got))
	}
}

func TestFailedStatementStatus(t *testing.T) {
	f := &fakeStatements{owners: map[string]caller.Caller{}, closed: map[string]bool{}, answer: Snapshot{State: sqlwire.StateFailed,
		Error: &sqlwire.StatementError{ErrorCode: sqlwire.CodeBadRequest, Message: "Table with name nowhere does not exist", SQLState: "42P01"}}}
	url := serve(t, f, nil)
	c := client(t, url, "bi", "ann")
	h := open(t, c)
	ctx := context.Background()
	resp, _ := c.ExecuteStatement(ctx, &tcli.TExecuteStatementReq{SessionHandle: h, Statement: "SELECT * FROM nowhere", GetDirectResults: &tcli.TSparkGetDirectResults{MaxRows: 10}})
	st := resp.DirectResults.OperationStatus
	if st.GetOperationState() != tcli.TOperationState_ERROR_STATE || st.GetSqlState() != "42P01" || st.IsSetHasResultSet() {
		t.Fatalf("status %v: want ERROR_STATE, 42P01 and no hasResultSet (drivers read an unset one as 'ask the state')", st)
	}
	if resp.DirectResults.CloseOperation != nil {
		t.Fatal("a failed operation was closed in the call: the driver asks its state afterwards")
	}
	md, _ := c.GetResultSetMetadata(ctx, &tcli.TGetResultSetMetadataReq{OperationHandle: resp.OperationHandle})
	if md.Status.GetSqlState() != "42P01" {
		t.Fatalf("metadata of a failed statement: %v", md.Status)
	}

	f.refuse = &sqlwire.StatementError{ErrorCode: sqlwire.CodeResourceExhausted, Message: "the queue is full", SQLState: "53000"}
	refused, _ := c.ExecuteStatement(ctx, &tcli.TExecuteStatementReq{SessionHandle: h, Statement: "SELECT 1"})
	if refused.Status.StatusCode != tcli.TStatusCode_ERROR_STATUS || refused.Status.GetErrorMessage() != "the queue is full" {
		t.Fatalf("a refused statement answered %v", refused.Status)
	}
}

func TestRequestsWithoutACallerAreRefused(t *testing.T) {
	s := New(Options{Statements: &fakeStatements{}, Clock: clocktesting.NewFakeClock(time.Now())})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/sql/1.0/warehouses/bi", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("a request the gateway did not authenticate answered %d", rec.Code)
	}
}

func TestExpireClosesIdleSessions(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Now())
	f := &fakeStatements{owners: map[string]caller.Caller{}, closed: map[string]bool{}, answer: numbers(25)}
	url, s := serveServer(t, f, func(o *Options) { o.Clock, o.SessionIdle = clock, time.Hour })
	c := client(t, url, "bi", "ann")
	h := open(t, c)
	ctx := context.Background()
	resp, _ := c.ExecuteStatement(ctx, &tcli.TExecuteStatementReq{SessionHandle: h, Statement: "SELECT 1"})
	if resp.Status.StatusCode != tcli.TStatusCode_SUCCESS_STATUS {
		t.Fatal(resp.Status)
	}
	clock.Step(30 * time.Minute)
	s.Expire(clock.Now())
	if st, _ := c.GetOperationStatus(ctx, &tcli.TGetOperationStatusReq{OperationHandle: resp.OperationHandle}); st.Status.StatusCode != tcli.TStatusCode_SUCCESS_STATUS {
		t.Fatalf("a session used within SessionIdle expired: %v", st.Status)
	}
	clock.Step(2 * time.Hour)
	s.Expire(clock.Now())
	if st, _ := c.GetOperationStatus(ctx, &tcli.TGetOperationStatusReq{OperationHandle: resp.OperationHandle}); st.Status.StatusCode != tcli.TStatusCode_INVALID_HANDLE_STATUS {
		t.Fatalf("an idle session's operation is still there: %v", st.Status)
	}
	if !f.closed["00000000-0000-4000-8000-000000000001"] {
		t.Error("an expired session's statement was not closed")
	}
}
