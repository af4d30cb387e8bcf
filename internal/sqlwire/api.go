package sqlwire

// The answers of the gateway's Statement Execution API (docs/gateway.md), shared by the gateway
// and the clients that read them.

// Statement states of the Statement Execution API.
const (
	StatePending   = "PENDING"
	StateRunning   = "RUNNING"
	StateSucceeded = "SUCCEEDED"
	StateFailed    = "FAILED"
	StateCanceled  = "CANCELED"
	StateClosed    = "CLOSED"
)

// Response is a StatementResponse: a statement's state and, once SUCCEEDED, its manifest and
// first result chunk.
type Response struct {
	StatementID string      `json:"statement_id"`
	Status      Status      `json:"status"`
	Manifest    *Manifest   `json:"manifest,omitempty"`
	Result      *ResultData `json:"result,omitempty"`
}

// Status is a statement's state, with the error of a FAILED one.
type Status struct {
	State string          `json:"state"`
	Error *StatementError `json:"error,omitempty"`
}

// Manifest describes a result: its schema, chunks and rows.
type Manifest struct {
	Format          string      `json:"format"`
	Schema          Schema      `json:"schema"`
	TotalChunkCount int         `json:"total_chunk_count"`
	Chunks          []ChunkInfo `json:"chunks"`
	TotalRowCount   int64       `json:"total_row_count"`
	Truncated       bool        `json:"truncated"`
}

// Schema is a result's columns.
type Schema struct {
	ColumnCount int      `json:"column_count"`
	Columns     []Column `json:"columns"`
}

// ChunkInfo places a chunk in the result.
type ChunkInfo struct {
	ChunkIndex int   `json:"chunk_index"`
	RowOffset  int64 `json:"row_offset"`
	RowCount   int   `json:"row_count"`
}

// ResultData is one chunk of a result, with the link to the next.
type ResultData struct {
	ChunkInfo
	DataArray             [][]*string `json:"data_array"`
	NextChunkIndex        *int        `json:"next_chunk_index,omitempty"`
	NextChunkInternalLink string      `json:"next_chunk_internal_link,omitempty"`
}
