package hs2

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/serverlessplane/operator/internal/sqlwire"
	tcli "github.com/serverlessplane/operator/internal/thrift/tcliservice"
)

// ExecuteStatement runs a statement on the session's warehouse: at once answered with its
// handle when runAsync, else when it has ended; with its status and first rows when the client
// asks for direct results.
func (s *Server) ExecuteStatement(ctx context.Context, req *tcli.TExecuteStatementReq) (*tcli.TExecuteStatementResp, error) {
	params, err := parameters(req.Parameters)
	if err != nil {
		return &tcli.TExecuteStatementResp{Status: errorStatus("42000", err.Error())}, nil
	}
	wire := sqlwire.Request{Statement: req.Statement, Parameters: params, RowLimit: req.GetResultRowLimit(), TimeoutSeconds: req.GetQueryTimeout()}
	op, status := s.run(ctx, req.SessionHandle, tcli.TOperationType_EXECUTE_STATEMENT, wire)
	if status != nil {
		return &tcli.TExecuteStatementResp{Status: status}, nil
	}
	op.arrow = req.GetCanReadArrowResult_()
	resp := &tcli.TExecuteStatementResp{Status: okStatus(), OperationHandle: op.handleOf()}
	resp.DirectResults = s.answer(ctx, op, req.GetDirectResults, req.GetRunAsync())
	return resp, nil
}

// run starts a statement as an operation of the session's.
func (s *Server) run(ctx context.Context, h *tcli.TSessionHandle, typ tcli.TOperationType, req sqlwire.Request) (*operation, *tcli.TStatus) {
	ss, status := s.session(ctx, h)
	if status != nil {
		return nil, status
	}
	id, refused := s.o.Statements.Submit(ctx, ss.owner, ss.warehouse, req)
	if refused != nil {
		return nil, statementStatus(refused)
	}
	op := &operation{handle: &tcli.THandleIdentifier{GUID: guidOf(id), Secret: newID()}, typ: typ, owner: ss.owner, statement: id}
	if status := s.addOperation(ss, op); status != nil {
		s.o.Statements.Close(ss.owner, id)
		return nil, status
	}
	return op, nil
}

// answer waits as the call asks (for the end of a synchronous call, a while for direct
// results) and returns the direct results when they are asked for.
func (s *Server) answer(ctx context.Context, op *operation, want *tcli.TSparkGetDirectResults, async bool) *tcli.TSparkDirectResults {
	if !async && op.statement != "" {
		s.o.Statements.Wait(ctx, op.statement, -1)
	}
	if want != nil {
		return s.directResults(ctx, op, want, s.o.DirectWait)
	}
	return nil
}

// parameters are a statement's parameters as the engine takes them: named ones by name,
// positional ones (the statement's ? markers) in order, each with its type and its value as
// text. A parameter with neither type nor value is NULL.
func parameters(in []*tcli.TSparkParameter) ([]sqlwire.Parameter, error) {
	out := make([]sqlwire.Parameter, 0, len(in))
	named := 0
	for i, p := range in {
		if p.GetName() != "" {
			named++
		}
		t := strings.ToUpper(p.GetType())
		if t == "TIMESTAMP_LTZ" {
			t = "TIMESTAMP"
		}
		var value *string
		switch v := p.Value; {
		case v == nil || t == "VOID":
			t = ""
		case v.IsSetStringValue():
			value = ptr(v.GetStringValue())
		case v.IsSetDoubleValue():
			value = ptr(strconv.FormatFloat(v.GetDoubleValue(), 'g', -1, 64))
		case v.IsSetBooleanValue():
			value = ptr(strconv.FormatBool(v.GetBooleanValue()))
		default:
			return nil, fmt.Errorf("parameters[%d] has a value of no known kind", i)
		}
		out = append(out, sqlwire.Parameter{Name: p.GetName(), Value: value, Type: t})
	}
	if named != 0 && named != len(in) {
		return nil, fmt.Errorf("the statement's parameters mix named and positional ones: use one kind")
	}
	return out, nil
}
