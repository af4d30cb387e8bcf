package hs2

import (
	"github.com/serverlessplane/operator/internal/sqlwire"
	tcli "github.com/serverlessplane/operator/internal/thrift/tcliservice"
)

func ptr[T any](v T) *T { return &v }

func okStatus() *tcli.TStatus { return &tcli.TStatus{StatusCode: tcli.TStatusCode_SUCCESS_STATUS} }

// errorStatus is a failed call: drivers show the message and keep the SQL state.
func errorStatus(sqlState, message string) *tcli.TStatus {
	return &tcli.TStatus{StatusCode: tcli.TStatusCode_ERROR_STATUS, SqlState: &sqlState, ErrorMessage: &message, DisplayMessage: &message}
}

func invalidHandle(message string) *tcli.TStatus {
	st := errorStatus("HY000", message)
	st.StatusCode = tcli.TStatusCode_INVALID_HANDLE_STATUS
	return st
}

// statementStatus is a statement error as a failed call.
func statementStatus(e *sqlwire.StatementError) *tcli.TStatus {
	state := e.SQLState
	if state == "" {
		state = "HY000"
	}
	return errorStatus(state, e.Message)
}
