// Package sqlengine is the SQL engine of a warehouse pod: DuckDB, opened so that nothing it runs
// can reach past the pod or the statement (no extension downloads, no files but the warehouse's
// data, settings locked, queries only, a new connection for each statement), running each
// statement with a timeout and cancellation and streaming its result in chunks
// (internal/sqlwire). The gateway is its only client (server.go).
package sqlengine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/serverlessplane/operator/internal/sqlwire"
	"github.com/serverlessplane/operator/internal/tpch"
)

// DSN opens DuckDB with only its statically linked extensions: a missing extension is an
// error, never a download.
const DSN = "?autoinstall_known_extensions=false&autoload_known_extensions=false&allow_community_extensions=false"

// Options configure an Engine.
type Options struct {
	// TPCHDir holds the TPC-H Parquet files (internal/tpch), shown as the schema tpch; empty:
	// no TPC-H data.
	TPCHDir string
	// DataDir is the warehouse's read-only data volume; empty: none. Every Parquet or CSV file
	// at its top, and every directory of Parquet files, is a view in the schema data named
	// after it; every DuckDB file is attached read-only under its name.
	DataDir string
	// Threads and MemoryLimit bound DuckDB (0 and "": DuckDB's defaults, all cores and 80% of
	// memory).
	Threads     int
	MemoryLimit string
	// DefaultTimeout bounds a statement that names no timeout; MaxTimeout bounds every one.
	DefaultTimeout, MaxTimeout time.Duration
	// ChunkRows is the rows per frame of a statement that names none.
	ChunkRows int
	// TempDir is where DuckDB spills what does not fit its memory; "": nowhere, a statement past
	// the memory limit fails. DuckDB lets every statement read the directory it spills to (it
	// adds it to allowed_directories when external access goes off, and then allows no change),
	// so turning spilling on lets statements read each other's spill files; they never write
	// there, as only queries run.
	TempDir string
	// MaxTempSize bounds the spill (max_temp_directory_size, a DuckDB size such as "10GiB");
	// "": DefaultMaxTempSize.
	MaxTempSize string
}

// DefaultMaxTempSize bounds the spill of an engine whose options name no bound.
const DefaultMaxTempSize = "1GiB"

// Engine runs statements on one DuckDB database.
type Engine struct {
	db      *sql.DB
	o       Options
	running atomic.Int64
}

// Open opens the database, shows the data and locks the configuration.
func Open(ctx context.Context, o Options) (*Engine, error) {
	if o.DefaultTimeout <= 0 {
		o.DefaultTimeout = time.Hour
	}
	if o.MaxTimeout <= 0 {
		o.MaxTimeout = 2 * 24 * time.Hour
	}
	if o.ChunkRows <= 0 {
		o.ChunkRows = 10000
	}
	if o.MaxTempSize == "" {
		o.MaxTempSize = DefaultMaxTempSize
	}
	db, err := sql.Open("duckdb", DSN)
	if err != nil {
		return nil, err
	}
	// Every statement gets a new connection: DuckDB keeps session state (search path, random
	// seed, prepared statements) per connection, and none of it may pass to the next caller.
	db.SetMaxIdleConns(0)
	e := &Engine{db: db, o: o}
	setup, err := e.setupStatements()
	if err != nil {
		db.Close()
		return nil, err
	}
	for _, s := range setup {
		if _, err := db.ExecContext(ctx, s); err != nil {
			db.Close()
			return nil, fmt.Errorf("opening the database: %s: %w", s, err)
		}
	}
	return e, nil
}

// setupStatements show the data and then lock DuckDB down: only the data directories (and the
// spill directory, if any) can be read, no extension can be installed, and no statement can
// change that. Nothing is written but the spill: only queries run (onlyQuery).
func (e *Engine) setupStatements() ([]string, error) {
	var s, allowed []string
	if e.o.Threads > 0 {
		s = append(s, fmt.Sprintf("SET threads = %d", e.o.Threads))
	}
	if e.o.MemoryLimit != "" {
		s = append(s, "SET memory_limit = "+quote(e.o.MemoryLimit))
	}
	// Set even when empty: DuckDB allows its default (./.tmp) once external access goes off.
	s = append(s, "SET temp_directory = "+quote(e.o.TempDir))
	if e.o.TempDir != "" {
		s = append(s, "SET max_temp_directory_size = "+quote(e.o.MaxTempSize))
	}
	if e.o.TPCHDir != "" {
		s = append(s, tpch.Views(e.o.TPCHDir)...)
		allowed = append(allowed, e.o.TPCHDir)
	}
	if e.o.DataDir != "" {
		views, err := dataStatements(e.o.DataDir)
		if err != nil {
			return nil, err
		}
		s = append(s, views...)
		allowed = append(allowed, e.o.DataDir)
	}
	list := make([]string, 0, len(allowed))
	for _, d := range allowed {
		list = append(list, quote(strings.TrimSuffix(d, "/")+"/"))
	}
	return append(s,
		"SET allowed_directories = ["+strings.Join(list, ", ")+"]",
		"SET enable_external_access = false",
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		"SET lock_configuration = true",
	), nil
}

// dataStatements show the files of the data volume.
func dataStatements(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the data volume: %w", err)
	}
	s := []string{"CREATE SCHEMA IF NOT EXISTS data"}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, en := range entries {
		path := filepath.Join(dir, en.Name())
		ext := strings.ToLower(filepath.Ext(en.Name()))
		name := strings.TrimSuffix(en.Name(), filepath.Ext(en.Name()))
		if !identifier.MatchString(name) {
			continue // not nameable as a table: left out rather than renamed
		}
		switch {
		case en.IsDir():
			s = append(s, fmt.Sprintf("CREATE VIEW data.%s AS SELECT * FROM read_parquet(%s)", name, quote(path+"/**/*.parquet")))
		case ext == ".parquet":
			s = append(s, fmt.Sprintf("CREATE VIEW data.%s AS SELECT * FROM read_parquet(%s)", name, quote(path)))
		case ext == ".csv":
			s = append(s, fmt.Sprintf("CREATE VIEW data.%s AS SELECT * FROM read_csv(%s)", name, quote(path)))
		case ext == ".duckdb":
			s = append(s, fmt.Sprintf("ATTACH %s AS %s (READ_ONLY)", quote(path), name))
		}
	}
	return s, nil
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Close closes the database.
func (e *Engine) Close() error { return e.db.Close() }

// Running is how many statements run now.
func (e *Engine) Running() int64 { return e.running.Load() }

// Run runs one statement and hands its answer to emit frame by frame: the columns, rows in
// chunks, then the end. A statement that fails returns its *sqlwire.StatementError (before or
// after frames were emitted); an emit error (the client left) stops the statement and is
// returned as is.
func (e *Engine) Run(ctx context.Context, req sqlwire.Request, emit func(sqlwire.Frame) error) error {
	e.running.Add(1)
	defer e.running.Add(-1)
	statement, values, err := bindParameters(req.Statement, req.Parameters)
	if err != nil {
		return &sqlwire.StatementError{ErrorCode: sqlwire.CodeBadRequest, Message: err.Error()}
	}
	if strings.TrimSpace(req.Statement) == "" {
		return &sqlwire.StatementError{ErrorCode: sqlwire.CodeBadRequest, Message: "statement is empty"}
	}
	timeout := e.o.DefaultTimeout
	if req.TimeoutSeconds > 0 {
		timeout = time.Duration(req.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, min(timeout, e.o.MaxTimeout))
	defer cancel()
	args := make([]any, 0, len(values))
	for name, v := range values {
		if v == nil {
			args = append(args, sql.Named(name, nil))
		} else {
			args = append(args, sql.Named(name, *v))
		}
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return statementError(ctx, err)
	}
	defer conn.Close()
	// The check is of the text that runs, after the parameters are bound.
	if err := onlyQuery(ctx, conn, statement); err != nil {
		return err
	}
	rows, err := conn.QueryContext(ctx, statement, args...)
	if err != nil {
		return statementError(ctx, err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return statementError(ctx, err)
	}
	columns := make([]sqlwire.Column, len(types))
	for i, t := range types {
		columns[i] = sqlwire.Column{Name: t.Name(), TypeText: t.DatabaseTypeName(), TypeName: typeName(t.DatabaseTypeName()), Position: i}
	}
	if err := emit(sqlwire.Frame{Columns: columns}); err != nil {
		return err
	}
	chunkRows := req.ChunkRows
	if chunkRows <= 0 {
		chunkRows = e.o.ChunkRows
	}
	scan := make([]any, len(columns))
	dest := make([]any, len(columns))
	for i := range scan {
		dest[i] = &scan[i]
	}
	var count int64
	chunk := make([][]*string, 0, min(chunkRows, 1024))
	truncated := false
	for rows.Next() {
		if req.RowLimit > 0 && count >= req.RowLimit {
			truncated = true
			break
		}
		if err := rows.Scan(dest...); err != nil {
			return statementError(ctx, err)
		}
		row := make([]*string, len(scan))
		for i, v := range scan {
			row[i] = format(v, columns[i].TypeText)
		}
		chunk = append(chunk, row)
		count++
		if len(chunk) == chunkRows {
			if err := emit(sqlwire.Frame{Rows: chunk}); err != nil {
				return err
			}
			chunk = make([][]*string, 0, len(chunk))
		}
	}
	if err := rows.Err(); err != nil {
		return statementError(ctx, err)
	}
	if len(chunk) > 0 {
		if err := emit(sqlwire.Frame{Rows: chunk}); err != nil {
			return err
		}
	}
	return emit(sqlwire.Frame{End: &sqlwire.End{RowCount: count, Truncated: truncated}})
}

// statementError is why a statement failed, in the API's terms.
func statementError(ctx context.Context, err error) *sqlwire.StatementError {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &sqlwire.StatementError{ErrorCode: sqlwire.CodeDeadlineExceeded, Message: "the statement ran past its timeout and was interrupted", SQLState: "57014"}
	case ctx.Err() != nil:
		return &sqlwire.StatementError{ErrorCode: sqlwire.CodeCancelled, Message: "the statement was canceled", SQLState: "57014"}
	}
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return &sqlwire.StatementError{ErrorCode: sqlwire.CodeInternal, Message: err.Error()}
	}
	code, state := sqlwire.CodeBadRequest, "42000"
	switch de.Type {
	case duckdb.ErrorTypeParser, duckdb.ErrorTypeSyntax:
		state = "42601"
	case duckdb.ErrorTypeCatalog:
		state = "42P01"
	case duckdb.ErrorTypeConversion, duckdb.ErrorTypeInvalidInput, duckdb.ErrorTypeOutOfRange, duckdb.ErrorTypeDivideByZero:
		state = "22000"
	case duckdb.ErrorTypePermission, duckdb.ErrorTypeMissingExtension, duckdb.ErrorTypeAutoLoad:
		state = "42501"
	case duckdb.ErrorTypeConstraint:
		state = "23000"
	case duckdb.ErrorTypeOutOfMemory:
		code, state = sqlwire.CodeResourceExhausted, "53200"
	case duckdb.ErrorTypeInterrupt:
		code, state = sqlwire.CodeCancelled, "57014"
	case duckdb.ErrorTypeInternal, duckdb.ErrorTypeFatal:
		code, state = sqlwire.CodeInternal, "XX000"
	}
	return &sqlwire.StatementError{ErrorCode: code, Message: de.Msg, SQLState: state}
}
