// Package hs2 serves HiveServer2's TCLIService, the Thrift protocol that SQL drivers and BI tools
// speak (Databricks' JDBC, ODBC, Node, Go and Python drivers), over HTTP POST with the binary
// protocol, at /sql/1.0/warehouses/{warehouse}. The gateway authenticates and authorizes each
// request before it gets here and puts the caller in its context (internal/caller); every
// statement, metadata queries included, runs on the warehouses' statement service (Statements),
// the one the Statement Execution API runs on.
//
// Sessions and operations are this replica's, in memory, bounded and expired when idle; an
// operation's handle is its statement's id.
package hs2

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/serverlessplane/operator/internal/caller"
	"github.com/serverlessplane/operator/internal/thrift/tcliservice"
)

// Defaults of Options.
const (
	DefaultMaxRequest      = 16 << 20
	DefaultSessionIdle     = time.Hour
	DefaultSessionsPerUser = 64
	DefaultMaxSessions     = 10000
	DefaultOpsPerSession   = 256
	DefaultDirectWait      = 5 * time.Second
	DefaultStatusWait      = 500 * time.Millisecond
	DefaultFetchRows       = 20000
	DefaultFetchBytes      = 8 << 20
)

// Options configure a Server.
type Options struct {
	Statements Statements
	Clock      clock.WithTicker
	Log        logr.Logger
	// MaxRequest bounds a request body (default 16 MiB).
	MaxRequest int64
	// SessionIdle closes a session unused that long, with its operations (default 1h).
	SessionIdle time.Duration
	// SessionsPerUser and MaxSessions bound the open sessions of one user and of the replica
	// (defaults 64 and 10,000); OpsPerSession bounds a session's open operations (default 256).
	SessionsPerUser, MaxSessions, OpsPerSession int
	// DirectWait is how long an ExecuteStatement that asks for direct results waits for them
	// (default 5s); StatusWait how long GetOperationStatus waits for a running statement to end
	// before it answers (default 500ms), so that a short statement is seen done at the first poll.
	DirectWait, StatusWait time.Duration
	// FetchRows and FetchBytes bound one FetchResults answer (defaults 20,000 rows, 8 MiB): a
	// driver asks again while hasMoreRows.
	FetchRows  int
	FetchBytes int64
}

// Server is the TCLIService of one gateway replica.
type Server struct {
	o         Options
	processor thrift.TProcessor
	protocol  thrift.TProtocolFactory

	mu       sync.Mutex
	sessions map[string]*session
	ops      map[string]*operation
}

// New returns a Server.
func New(o Options) *Server {
	o.MaxRequest = orDefault(o.MaxRequest, DefaultMaxRequest)
	o.SessionIdle = orDefault(o.SessionIdle, DefaultSessionIdle)
	o.SessionsPerUser = orDefault(o.SessionsPerUser, DefaultSessionsPerUser)
	o.MaxSessions = orDefault(o.MaxSessions, DefaultMaxSessions)
	o.OpsPerSession = orDefault(o.OpsPerSession, DefaultOpsPerSession)
	o.DirectWait = orDefault(o.DirectWait, DefaultDirectWait)
	o.StatusWait = orDefault(o.StatusWait, DefaultStatusWait)
	o.FetchRows = orDefault(o.FetchRows, DefaultFetchRows)
	o.FetchBytes = orDefault(o.FetchBytes, DefaultFetchBytes)
	s := &Server{o: o, sessions: map[string]*session{}, ops: map[string]*operation{}}
	s.processor = tcliservice.NewTCLIServiceProcessor(s)
	s.protocol = thrift.NewTBinaryProtocolFactoryConf(&thrift.TConfiguration{
		MaxMessageSize: int32(o.MaxRequest), MaxFrameSize: int32(o.MaxRequest),
	})
	return s
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Handler serves one Thrift call per POST: the request body is the call, the response body its
// answer. The request's context must carry the caller (internal/caller) and the path value
// "warehouse".
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := caller.FromContext(r.Context())
		if !ok {
			http.Error(w, "no caller", http.StatusInternalServerError)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxRequest))
		if err != nil {
			http.Error(w, fmt.Sprintf("the request is not a Thrift call of at most %d bytes: %v", s.o.MaxRequest, err), http.StatusRequestEntityTooLarge)
			return
		}
		in := thrift.NewTMemoryBufferLen(0)
		in.Buffer = bytes.NewBuffer(body)
		out := thrift.NewTMemoryBufferLen(4096)
		ctx := withScope(r.Context(), scope{caller: c, warehouse: r.PathValue("warehouse")})
		if _, err := s.processor.Process(ctx, s.protocol.GetProtocol(in), s.protocol.GetProtocol(out)); err != nil {
			s.o.Log.V(1).Info("a Thrift call failed", "workspace", c.Workspace, "error", err.Error())
		}
		w.Header().Set("Content-Type", "application/x-thrift")
		w.Header().Set("Content-Length", strconv.Itoa(out.Len()))
		_, _ = w.Write(out.Bytes())
	})
}

// scope is who calls and on which warehouse.
type scope struct {
	caller    caller.Caller
	warehouse string
}

type scopeKey struct{}

func withScope(ctx context.Context, sc scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, sc)
}

func scopeOf(ctx context.Context) scope {
	sc, _ := ctx.Value(scopeKey{}).(scope)
	return sc
}

// Expire closes the sessions idle past SessionIdle, with their operations, and forgets the
// operations whose statement is gone.
func (s *Server) Expire(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ss := range s.sessions {
		if now.Sub(ss.lastUsed) > s.o.SessionIdle {
			s.closeSessionLocked(id, ss)
		}
	}
	for id, op := range s.ops {
		if op.statement != "" {
			if _, ok := s.o.Statements.Get(op.owner, op.statement); !ok {
				s.dropOperationLocked(id, op)
			}
		}
	}
}

// newID is a random handle identifier: a version 4 UUID, which drivers print as the session's
// or operation's id (and refuse to print otherwise).
func newID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return b
}
