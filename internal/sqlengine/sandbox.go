package sqlengine

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/serverlessplane/operator/internal/sqlwire"
)

// A warehouse runs queries only: SELECT, which also covers what DuckDB's parser turns into a
// query (DESCRIBE, SHOW, SUMMARIZE, VALUES, FROM-first queries), and EXPLAIN of a SELECT
// (EXPLAIN ANALYZE runs what it explains, so that is checked too). Everything else writes files
// or the shared catalog (COPY, EXPORT, ATTACH, CREATE, DROP, INSERT, UPDATE, DELETE, ALTER),
// changes a setting or the session (SET, RESET, USE, PRAGMA, PREPARE, BEGIN), loads code
// (INSTALL, LOAD), or is not needed for a query (CALL f() is SELECT * FROM f(); CHECKPOINT is a
// CALL).
//
// Two checks decide, both by DuckDB. The parser first (json_serialize_sql serializes SELECT
// statements only), because preparing is not free of effects: binding EXPORT DATABASE creates
// its directory. Then the prepared statement's type, which must agree.

// explainPrefix is the head of an EXPLAIN statement; what follows is the statement it
// explains. A form it does not match (a comment before EXPLAIN, EXPLAIN (FORMAT …)) is
// refused rather than guessed at.
var explainPrefix = regexp.MustCompile(`(?is)^\s*EXPLAIN\s+(?:ANALYZE\s+)?`)

// firstWord names a refused statement in its message; it decides nothing.
var firstWord = regexp.MustCompile(`^\s*([A-Za-z]+)`)

// onlyQuery returns a *sqlwire.StatementError unless statement is one query.
func onlyQuery(ctx context.Context, conn *sql.Conn, statement string) error {
	query, want := statement, duckdb.STATEMENT_TYPE_SELECT
	if loc := explainPrefix.FindStringIndex(statement); loc != nil {
		query, want = statement[loc[1]:], duckdb.STATEMENT_TYPE_EXPLAIN
	}
	n, err := parsedQueries(ctx, conn, query)
	if err != nil {
		return err
	}
	switch {
	case n == 0 && want == duckdb.STATEMENT_TYPE_EXPLAIN:
		return refused(strings.TrimSpace("EXPLAIN of " + leadingWord(query)))
	case n == 0:
		return refused(leadingWord(statement))
	case n > 1:
		return &sqlwire.StatementError{ErrorCode: sqlwire.CodeBadRequest, SQLState: "42501",
			Message: fmt.Sprintf("the text holds %d statements: a request runs exactly one", n)}
	}
	t, err := statementType(ctx, conn, statement)
	if err != nil {
		return err
	}
	if t != want {
		return refused(statementTypeName(t))
	}
	return nil
}

// parsedQueries returns how many statements the text holds when all are SELECT statements, 0
// when one is not. Only DuckDB's parser sees the text, as a parameter.
func parsedQueries(ctx context.Context, conn *sql.Conn, text string) (int, error) {
	var out string
	if err := conn.QueryRowContext(ctx, "SELECT json_serialize_sql($1::VARCHAR)::VARCHAR", text).Scan(&out); err != nil {
		return 0, statementError(ctx, err)
	}
	var parsed struct {
		Error        bool              `json:"error"`
		ErrorType    string            `json:"error_type"`
		ErrorMessage string            `json:"error_message"`
		Statements   []json.RawMessage `json:"statements"`
	}
	if err := json.Unmarshal([]byte(out), &parsed); err != nil {
		return 0, &sqlwire.StatementError{ErrorCode: sqlwire.CodeInternal, Message: "reading the parse of the statement: " + err.Error()}
	}
	switch {
	case parsed.Error && parsed.ErrorType == "parser":
		return 0, &sqlwire.StatementError{ErrorCode: sqlwire.CodeBadRequest, SQLState: "42601", Message: parsed.ErrorMessage}
	case parsed.Error:
		return 0, nil
	}
	return len(parsed.Statements), nil
}

// statementType prepares statement on conn (it binds, so it checks the files named, and runs
// nothing) and returns its type. duckdb-go's Prepare without a context refuses a text of several
// statements; PrepareContext would run all but the last one while preparing.
func statementType(ctx context.Context, conn *sql.Conn, statement string) (duckdb.StmtType, error) {
	t := duckdb.STATEMENT_TYPE_INVALID
	err := conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("the connection is a %T, not DuckDB's", driverConn)
		}
		s, err := c.Prepare(statement)
		if err != nil {
			return err
		}
		defer s.Close()
		t, err = s.(*duckdb.Stmt).StatementType()
		return err
	})
	if err != nil {
		return t, statementError(ctx, err)
	}
	return t, nil
}

// refused is the error for a statement of a kind that does not run ("": not named).
func refused(kind string) *sqlwire.StatementError {
	what := "This statement does not run here"
	if kind != "" {
		what = kind + " statements do not run here"
	}
	return &sqlwire.StatementError{ErrorCode: sqlwire.CodeBadRequest, SQLState: "42501",
		Message: what + ": a warehouse runs only queries (SELECT, or EXPLAIN of a SELECT)"}
}

// leadingWord is the statement's first word in capitals, "" when it starts otherwise.
func leadingWord(statement string) string {
	if m := firstWord.FindStringSubmatch(statement); m != nil {
		return strings.ToUpper(m[1])
	}
	return ""
}

var statementTypeNames = map[duckdb.StmtType]string{
	duckdb.STATEMENT_TYPE_SELECT: "SELECT", duckdb.STATEMENT_TYPE_INSERT: "INSERT",
	duckdb.STATEMENT_TYPE_UPDATE: "UPDATE", duckdb.STATEMENT_TYPE_EXPLAIN: "EXPLAIN",
	duckdb.STATEMENT_TYPE_DELETE: "DELETE", duckdb.STATEMENT_TYPE_PREPARE: "PREPARE",
	duckdb.STATEMENT_TYPE_CREATE: "CREATE", duckdb.STATEMENT_TYPE_EXECUTE: "EXECUTE",
	duckdb.STATEMENT_TYPE_ALTER: "ALTER", duckdb.STATEMENT_TYPE_TRANSACTION: "transaction",
	duckdb.STATEMENT_TYPE_COPY: "COPY", duckdb.STATEMENT_TYPE_ANALYZE: "ANALYZE",
	duckdb.STATEMENT_TYPE_VARIABLE_SET: "SET VARIABLE", duckdb.STATEMENT_TYPE_CREATE_FUNC: "CREATE FUNCTION",
	duckdb.STATEMENT_TYPE_DROP: "DROP", duckdb.STATEMENT_TYPE_EXPORT: "EXPORT",
	duckdb.STATEMENT_TYPE_PRAGMA: "PRAGMA", duckdb.STATEMENT_TYPE_VACUUM: "VACUUM",
	duckdb.STATEMENT_TYPE_CALL: "CALL", duckdb.STATEMENT_TYPE_SET: "SET",
	duckdb.STATEMENT_TYPE_LOAD: "LOAD", duckdb.STATEMENT_TYPE_RELATION: "relation",
	duckdb.STATEMENT_TYPE_EXTENSION: "extension", duckdb.STATEMENT_TYPE_LOGICAL_PLAN: "logical plan",
	duckdb.STATEMENT_TYPE_ATTACH: "ATTACH", duckdb.STATEMENT_TYPE_DETACH: "DETACH",
	duckdb.STATEMENT_TYPE_MULTI: "multi",
}

func statementTypeName(t duckdb.StmtType) string {
	if n, ok := statementTypeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type %d", t)
}
