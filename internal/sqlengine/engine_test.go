package sqlengine

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serverlessplane/operator/internal/sqlwire"
	"github.com/serverlessplane/operator/internal/tpch"
)

// dataDir is a data volume with a Parquet file, a CSV file and a file whose name is no table.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db, err := sql.Open("duckdb", DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []string{
		"COPY (SELECT range AS id, 'n' || range AS name FROM range(25)) TO '" + filepath.Join(dir, "numbers.parquet") + "' (FORMAT parquet)",
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cities.csv"), []byte("city,pop\nOslo,700\nBergen,290\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "not a table.csv"), []byte("x\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tpchDir is a TPC-H directory of one-row tables, enough for the views.
func tpchDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db, err := sql.Open("duckdb", DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range tpch.Tables {
		if _, err := db.Exec("COPY (SELECT 1 AS x) TO '" + filepath.Join(dir, name+".parquet") + "' (FORMAT parquet)"); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// openEngine opens an engine as the pod does by default: data, TPC-H data, no spilling.
func openEngine(t *testing.T) *Engine {
	t.Helper()
	return openEngineWith(t, Options{DataDir: dataDir(t), TPCHDir: tpchDir(t), ChunkRows: 10})
}

func openEngineWith(t *testing.T, o Options) *Engine {
	t.Helper()
	e, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// run collects a statement's frames.
func run(e *Engine, ctx context.Context, req sqlwire.Request) ([]sqlwire.Frame, error) {
	var frames []sqlwire.Frame
	err := e.Run(ctx, req, func(f sqlwire.Frame) error { frames = append(frames, f); return nil })
	return frames, err
}

func rows(frames []sqlwire.Frame) (n int, chunks int) {
	for _, f := range frames {
		if f.Rows != nil {
			n += len(f.Rows)
			chunks++
		}
	}
	return n, chunks
}

func TestRunResults(t *testing.T) {
	e := openEngine(t)
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name       string
		req        sqlwire.Request
		wantRows   int
		wantChunks int
		truncated  bool
		first      []string
		types      []string
	}{
		{name: "parquet view, chunked", req: sqlwire.Request{Statement: "SELECT id, name FROM data.numbers ORDER BY id"},
			wantRows: 25, wantChunks: 3, first: []string{"0", "n0"}, types: []string{"LONG", "STRING"}},
		{name: "csv view", req: sqlwire.Request{Statement: "SELECT city, pop FROM data.cities ORDER BY pop DESC"},
			wantRows: 2, wantChunks: 1, first: []string{"Oslo", "700"}},
		{name: "row limit", req: sqlwire.Request{Statement: "SELECT id FROM data.numbers ORDER BY id", RowLimit: 5},
			wantRows: 5, wantChunks: 1, truncated: true, first: []string{"0"}},
		{name: "row limit not reached", req: sqlwire.Request{Statement: "SELECT 1 AS x", RowLimit: 5},
			wantRows: 1, wantChunks: 1, first: []string{"1"}, types: []string{"INT"}},
		{name: "typed parameters", req: sqlwire.Request{Statement: "SELECT :d + INTERVAL 1 DAY AS next, :n * 2 AS twice, :s AS s",
			Parameters: []sqlwire.Parameter{{Name: "d", Value: str("1998-12-01"), Type: "DATE"}, {Name: "n", Value: str("21"), Type: "INT"}, {Name: "s"}}},
			wantRows: 1, wantChunks: 1, first: []string{"1998-12-02T00:00:00", "42", ""}},
		{name: "decimals and dates", req: sqlwire.Request{Statement: "SELECT 1.50::DECIMAL(15,2) AS d, DATE '2026-12-02' AS day"},
			wantRows: 1, wantChunks: 1, first: []string{"1.50", "2026-12-02"}, types: []string{"DECIMAL", "DATE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames, err := run(e, context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			n, chunks := rows(frames)
			end := frames[len(frames)-1].End
			if n != tc.wantRows || chunks != tc.wantChunks || end == nil || end.RowCount != int64(n) || end.Truncated != tc.truncated {
				t.Fatalf("%d rows in %d chunks, end %+v; want %d in %d, truncated %v", n, chunks, end, tc.wantRows, tc.wantChunks, tc.truncated)
			}
			if tc.first != nil {
				var got []string
				for _, v := range frames[1].Rows[0] {
					if v == nil {
						got = append(got, "")
					} else {
						got = append(got, *v)
					}
				}
				if strings.Join(got, "|") != strings.Join(tc.first, "|") {
					t.Fatalf("first row %q, want %q", got, tc.first)
				}
			}
			for i, want := range tc.types {
				if got := frames[0].Columns[i].TypeName; got != want {
					t.Fatalf("column %d type_name %s (%s), want %s", i, got, frames[0].Columns[i].TypeText, want)
				}
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	e := openEngine(t)
	for _, tc := range []struct {
		name, statement, code, state, message string
	}{
		{"syntax", "SELEC 1", sqlwire.CodeBadRequest, "42601", "syntax error"},
		{"unknown table", "SELECT * FROM nowhere", sqlwire.CodeBadRequest, "42P01", "nowhere"},
		{"files outside the data", "SELECT * FROM read_csv('/etc/passwd')", sqlwire.CodeBadRequest, "42501", "disabled by configuration"},
		{"no writing files", "COPY (SELECT 1) TO '/tmp/x.csv'", sqlwire.CodeBadRequest, "42501", "COPY statements do not run"},
		{"no attaching", "ATTACH '/tmp/other.db'", sqlwire.CodeBadRequest, "42501", "ATTACH statements do not run"},
		{"no installing", "INSTALL httpfs", sqlwire.CodeBadRequest, "42501", ""},
		// Without httpfs a URL fails anyway; the permission error says external access is off.
		{"no network", "SELECT * FROM read_parquet('https://example.com/x.parquet')", sqlwire.CodeBadRequest, "42501", "disabled by configuration"},
		{"no settings", "SET enable_external_access = true", sqlwire.CodeBadRequest, "42501", "SET statements do not run"},
		{"no tpch extension", "SELECT * FROM dbgen(sf = 0.01)", sqlwire.CodeBadRequest, "", "dbgen"},
		{"unknown parameter", "SELECT :x", sqlwire.CodeBadRequest, "", ":x"},
		{"empty", "  ", sqlwire.CodeBadRequest, "", "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(e, context.Background(), sqlwire.Request{Statement: tc.statement})
			var se *sqlwire.StatementError
			if !errors.As(err, &se) {
				t.Fatalf("error %v, want a statement error", err)
			}
			if se.ErrorCode != tc.code || (tc.state != "" && se.SQLState != tc.state) || !strings.Contains(se.Message, tc.message) {
				t.Fatalf("got %+v, want %s/%s containing %q", se, tc.code, tc.state, tc.message)
			}
		})
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	e := openEngine(t)
	long := "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3"
	start := time.Now()
	_, err := run(e, context.Background(), sqlwire.Request{Statement: long, TimeoutSeconds: 1})
	var se *sqlwire.StatementError
	if !errors.As(err, &se) || se.ErrorCode != sqlwire.CodeDeadlineExceeded {
		t.Fatalf("timeout: %v, want DEADLINE_EXCEEDED", err)
	}
	t.Logf("interrupted after %s", time.Since(start))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := run(e, ctx, sqlwire.Request{Statement: long})
		done <- err
	}()
	// Cancel once it runs.
	for e.Running() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.As(err, &se) || se.ErrorCode != sqlwire.CodeCancelled {
			t.Fatalf("cancel: %v, want CANCELLED", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the canceled statement kept running")
	}
	if n := e.Running(); n != 0 {
		t.Fatalf("%d statements still counted as running", n)
	}
}

func TestDataNames(t *testing.T) {
	e := openEngine(t)
	frames, err := run(e, context.Background(), sqlwire.Request{Statement: "SELECT table_name FROM information_schema.tables WHERE table_schema = 'data' ORDER BY 1"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range frames {
		for _, r := range f.Rows {
			names = append(names, *r[0])
		}
	}
	if strings.Join(names, ",") != "cities,numbers" {
		t.Fatalf("views %v, want cities and numbers (a file that is no SQL name is left out)", names)
	}
}
