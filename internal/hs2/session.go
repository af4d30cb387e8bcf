package hs2

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/serverlessplane/operator/internal/caller"
	tcli "github.com/serverlessplane/operator/internal/thrift/tcliservice"
)

// ServerProtocol is the newest protocol version served: V8 has typed parameters, which the
// Databricks drivers send only to servers of V8 and later.
const ServerProtocol = tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V8

// minimumProtocol is the oldest served: column-based results came with HiveServer2's V6.
const minimumProtocol = tcli.TProtocolVersion_HIVE_CLI_SERVICE_PROTOCOL_V6

// session is an open session: whose it is, on which warehouse, and its operations.
type session struct {
	handle    *tcli.THandleIdentifier
	owner     caller.Caller
	warehouse string
	protocol  tcli.TProtocolVersion
	ops       map[string]struct{}
	lastUsed  time.Time
}

// negotiate is the protocol version answered to a client that offers one: its own when this
// server speaks it, else the newest this server speaks.
func negotiate(req *tcli.TOpenSessionReq) (tcli.TProtocolVersion, error) {
	offered := req.GetClientProtocol()
	if req.IsSetClientProtocolI64() {
		offered = tcli.TProtocolVersion(req.GetClientProtocolI64())
	}
	switch {
	case offered == tcli.TProtocolVersion___HIVE_JDBC_WORKAROUND:
		// Hive's JDBC driver sends this when it means its newest version.
		return tcli.TProtocolVersion_HIVE_CLI_SERVICE_PROTOCOL_V10, nil
	case offered < minimumProtocol:
		return 0, fmt.Errorf("protocol version %v is older than %v: upgrade the driver", offered, minimumProtocol)
	case offered > ServerProtocol:
		return ServerProtocol, nil
	case offered > tcli.TProtocolVersion_HIVE_CLI_SERVICE_PROTOCOL_V10 && offered < tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V1:
		return tcli.TProtocolVersion_HIVE_CLI_SERVICE_PROTOCOL_V10, nil
	}
	return offered, nil
}

// OpenSession opens a session of the caller's on the path's warehouse.
func (s *Server) OpenSession(ctx context.Context, req *tcli.TOpenSessionReq) (*tcli.TOpenSessionResp, error) {
	sc := scopeOf(ctx)
	protocol, err := negotiate(req)
	if err != nil {
		return &tcli.TOpenSessionResp{Status: errorStatus("08001", err.Error()), ServerProtocolVersion: ServerProtocol}, nil
	}
	ss := &session{
		handle: &tcli.THandleIdentifier{GUID: newID(), Secret: newID()}, owner: sc.caller, warehouse: sc.warehouse,
		protocol: protocol, ops: map[string]struct{}{}, lastUsed: s.o.Clock.Now(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mine := 0
	for _, o := range s.sessions {
		if o.owner.Owns(sc.caller) {
			mine++
		}
	}
	switch {
	case mine >= s.o.SessionsPerUser:
		return &tcli.TOpenSessionResp{Status: errorStatus("53000", fmt.Sprintf(
			"%s already has %d open sessions, as many as one user may: close one (CloseSession) or wait for an idle one to expire", sc.caller.User.Username, mine)),
			ServerProtocolVersion: protocol}, nil
	case len(s.sessions) >= s.o.MaxSessions:
		return &tcli.TOpenSessionResp{Status: errorStatus("53000", "the gateway holds as many sessions as it may; retry later"), ServerProtocolVersion: protocol}, nil
	}
	s.sessions[string(ss.handle.GUID)] = ss
	resp := &tcli.TOpenSessionResp{
		Status: okStatus(), ServerProtocolVersion: protocol, SessionHandle: &tcli.TSessionHandle{SessionId: ss.handle},
		Configuration: map[string]string{}, CanUseMultipleCatalogs: ptr(true),
	}
	return resp, nil
}

// session is the caller's open session with that handle; the status says why there is none.
func (s *Server) session(ctx context.Context, h *tcli.TSessionHandle) (*session, *tcli.TStatus) {
	sc := scopeOf(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	var ss *session
	if h != nil && h.SessionId != nil {
		ss = s.sessions[string(h.SessionId.GUID)]
	}
	if ss == nil || !bytes.Equal(ss.handle.Secret, h.SessionId.Secret) || !sc.caller.Owns(ss.owner) || ss.warehouse != sc.warehouse {
		return nil, invalidHandle("the session does not exist: it was closed, it expired after being idle, or it is another user's or another warehouse's; open a new one")
	}
	ss.lastUsed = s.o.Clock.Now()
	return ss, nil
}

// CloseSession closes the session and every operation it opened.
func (s *Server) CloseSession(ctx context.Context, req *tcli.TCloseSessionReq) (*tcli.TCloseSessionResp, error) {
	ss, status := s.session(ctx, req.SessionHandle)
	if status != nil {
		return &tcli.TCloseSessionResp{Status: status}, nil
	}
	s.mu.Lock()
	s.closeSessionLocked(string(ss.handle.GUID), ss)
	s.mu.Unlock()
	return &tcli.TCloseSessionResp{Status: okStatus()}, nil
}

func (s *Server) closeSessionLocked(id string, ss *session) {
	for opID := range ss.ops {
		if op := s.ops[opID]; op != nil {
			s.dropOperationLocked(opID, op)
		}
	}
	delete(s.sessions, id)
}

// GetInfo answers what a driver asks of the server on connect.
func (s *Server) GetInfo(ctx context.Context, req *tcli.TGetInfoReq) (*tcli.TGetInfoResp, error) {
	if _, status := s.session(ctx, req.SessionHandle); status != nil {
		return &tcli.TGetInfoResp{Status: status, InfoValue: &tcli.TGetInfoValue{}}, nil
	}
	v, ok := infoValue(req.InfoType)
	if !ok {
		return &tcli.TGetInfoResp{Status: errorStatus("HYC00", fmt.Sprintf("info type %v is not answered by this server", req.InfoType)), InfoValue: &tcli.TGetInfoValue{}}, nil
	}
	return &tcli.TGetInfoResp{Status: okStatus(), InfoValue: v}, nil
}

// infoValue is the answer to one GetInfo type.
func infoValue(t tcli.TGetInfoType) (*tcli.TGetInfoValue, bool) {
	str := func(v string) *tcli.TGetInfoValue { return &tcli.TGetInfoValue{StringValue: &v} }
	switch t {
	case tcli.TGetInfoType_CLI_SERVER_NAME:
		return str("serverlessplane"), true
	case tcli.TGetInfoType_CLI_DBMS_NAME:
		return str("DuckDB"), true
	case tcli.TGetInfoType_CLI_DBMS_VER:
		return str("serverlessplane SQL engine"), true
	case tcli.TGetInfoType_CLI_IDENTIFIER_QUOTE_CHAR:
		return str(`"`), true
	case tcli.TGetInfoType_CLI_SEARCH_PATTERN_ESCAPE:
		return str(`\`), true
	case tcli.TGetInfoType_CLI_DATA_SOURCE_READ_ONLY:
		return str("Y"), true
	case tcli.TGetInfoType_CLI_CATALOG_NAME:
		return str("Y"), true
	case tcli.TGetInfoType_CLI_MAX_IDENTIFIER_LEN, tcli.TGetInfoType_CLI_MAX_COLUMN_NAME_LEN,
		tcli.TGetInfoType_CLI_MAX_SCHEMA_NAME_LEN, tcli.TGetInfoType_CLI_MAX_TABLE_NAME_LEN,
		tcli.TGetInfoType_CLI_MAX_CATALOG_NAME_LEN:
		n := int64(255)
		return &tcli.TGetInfoValue{LenValue: &n}, true
	}
	return nil, false
}

// The three delegation token calls are Kerberos's: this server authenticates bearer tokens.

// GetDelegationToken is refused.
func (s *Server) GetDelegationToken(context.Context, *tcli.TGetDelegationTokenReq) (*tcli.TGetDelegationTokenResp, error) {
	return &tcli.TGetDelegationTokenResp{Status: noDelegation()}, nil
}

// CancelDelegationToken is refused.
func (s *Server) CancelDelegationToken(context.Context, *tcli.TCancelDelegationTokenReq) (*tcli.TCancelDelegationTokenResp, error) {
	return &tcli.TCancelDelegationTokenResp{Status: noDelegation()}, nil
}

// RenewDelegationToken is refused.
func (s *Server) RenewDelegationToken(context.Context, *tcli.TRenewDelegationTokenReq) (*tcli.TRenewDelegationTokenResp, error) {
	return &tcli.TRenewDelegationTokenResp{Status: noDelegation()}, nil
}

func noDelegation() *tcli.TStatus {
	return errorStatus("HYC00", "delegation tokens are not supported: authenticate each request with a bearer token")
}
