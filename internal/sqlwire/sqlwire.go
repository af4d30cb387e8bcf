// Package sqlwire is the protocol between the gateway and the SQL engine of a warehouse pod:
// one HTTPS request per statement, answered by a stream of newline-delimited JSON frames (the
// columns, then rows in chunks, then the end or an error). It holds no engine, so the gateway
// stays free of cgo.
package sqlwire

// Path is where an engine accepts statements.
const Path = "/v1/statements"

// ContentType is the content type of a statement's answer.
const ContentType = "application/x-ndjson"

// MaxStatementBytes bounds a statement's text: an engine takes requests of at most 4 MiB,
// parameters included.
const MaxStatementBytes = 3 << 20

// Request is one statement to run.
type Request struct {
	// Statement is the SQL text; named parameter markers are :name.
	Statement  string      `json:"statement"`
	Parameters []Parameter `json:"parameters,omitempty"`
	// RowLimit stops the result after that many rows (0: no limit); the end frame says whether
	// rows were left out.
	RowLimit int64 `json:"row_limit,omitempty"`
	// TimeoutSeconds bounds the run; past it the statement is interrupted (0: the engine's
	// default).
	TimeoutSeconds int64 `json:"timeout_seconds,omitempty"`
	// ChunkRows is how many rows each rows frame holds (0: the engine's default).
	ChunkRows int `json:"chunk_rows,omitempty"`
}

// Parameter is a named parameter of the Statement Execution API: its value is text, cast to
// Type (a SQL type name such as INT, DATE or DECIMAL(10,2); default STRING). A nil Value is NULL.
type Parameter struct {
	Name  string  `json:"name"`
	Value *string `json:"value,omitempty"`
	Type  string  `json:"type,omitempty"`
}

// Column describes one column of a result, as the Statement Execution API's manifest does.
type Column struct {
	Name     string `json:"name"`
	TypeName string `json:"type_name"`
	TypeText string `json:"type_text"`
	Position int    `json:"position"`
}

// Frame is one line of an answer: exactly one field is set.
type Frame struct {
	Columns []Column        `json:"columns,omitempty"`
	Rows    [][]*string     `json:"rows,omitempty"`
	End     *End            `json:"end,omitempty"`
	Error   *StatementError `json:"error,omitempty"`
}

// End closes a successful answer.
type End struct {
	RowCount  int64 `json:"row_count"`
	Truncated bool  `json:"truncated"`
}

// StatementError is why a statement failed, in the API's terms.
type StatementError struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
	SQLState  string `json:"sql_state,omitempty"`
}

func (e *StatementError) Error() string { return e.ErrorCode + ": " + e.Message }

// Error codes of failed statements (the API's ServiceErrorCode).
const (
	CodeBadRequest        = "BAD_REQUEST"
	CodeCancelled         = "CANCELLED"
	CodeDeadlineExceeded  = "DEADLINE_EXCEEDED"
	CodeResourceExhausted = "RESOURCE_EXHAUSTED"
	CodeInternal          = "INTERNAL_ERROR"
	CodeUnavailable       = "TEMPORARILY_UNAVAILABLE"
)

// RunningMetric is the gauge of statements an engine runs now: the name the operator's Scrape
// source reads by default.
const RunningMetric = "serverlessplane_warehouse_running_queries"
