package sqlengine

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serverlessplane/operator/internal/sqlwire"
)

// statementErr runs statement and returns its statement error, nil when it ran.
func statementErr(t *testing.T, e *Engine, statement string) *sqlwire.StatementError {
	t.Helper()
	_, err := run(e, context.Background(), sqlwire.Request{Statement: statement})
	if err == nil {
		return nil
	}
	var se *sqlwire.StatementError
	if !errors.As(err, &se) {
		t.Fatalf("%s: error %v, want a statement error", statement, err)
	}
	return se
}

// wantRefused checks that statement failed with a permission error (42501) whose message
// contains message, and that none of the files it would have written exist.
func wantRefused(t *testing.T, e *Engine, statement, message string, unwritten ...string) {
	t.Helper()
	se := statementErr(t, e, statement)
	if se == nil {
		t.Errorf("%s ran, want it refused", statement)
	} else if se.ErrorCode != sqlwire.CodeBadRequest || se.SQLState != "42501" || !strings.Contains(se.Message, message) {
		t.Errorf("%s: got %+v, want BAD_REQUEST/42501 containing %q", statement, se, message)
	}
	for _, f := range unwritten {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %s exists (%v), want it never written", statement, f, err)
		}
	}
}

func TestOnlyQueriesRun(t *testing.T) {
	tpchDir, dataDir := tpchDir(t), dataDir(t)
	e := openEngineWith(t, Options{DataDir: dataDir, TPCHDir: tpchDir})
	for _, statement := range []string{
		"SELECT count(*) FROM data.numbers",
		"FROM data.cities",
		"VALUES (1), (2)",
		"WITH t AS (SELECT 1 AS x) SELECT x FROM t",
		"DESCRIBE data.numbers",
		"SHOW TABLES",
		"SUMMARIZE data.numbers",
		"EXPLAIN SELECT * FROM tpch.lineitem",
		"EXPLAIN ANALYZE SELECT * FROM tpch.lineitem",
		"explain\n\tanalyze SELECT 1",
	} {
		t.Run(statement, func(t *testing.T) {
			if se := statementErr(t, e, statement); se != nil {
				t.Fatalf("refused: %+v", se)
			}
		})
	}
	out := filepath.Join(tpchDir, "out.csv")
	for _, tc := range []struct{ name, statement, message string }{
		{"copy into the TPC-H directory", "COPY (SELECT 1) TO '" + out + "'", "COPY statements"},
		{"export", "EXPORT DATABASE '" + filepath.Join(tpchDir, "export") + "'", "EXPORT statements"},
		{"attach a new file", "ATTACH '" + filepath.Join(tpchDir, "new.db") + "' AS x", "ATTACH statements"},
		{"replace a TPC-H view", "CREATE OR REPLACE VIEW tpch.lineitem AS SELECT 1 AS x", "CREATE statements"},
		{"create a temporary table", "CREATE TEMP TABLE t AS SELECT 1 AS x", "CREATE statements"},
		{"create a macro", "CREATE MACRO m() AS 1", "CREATE statements"},
		{"drop a data view", "DROP VIEW data.numbers", "DROP statements"},
		{"set the search path", "SET search_path = 'tpch'", "SET statements"},
		{"use", "USE tpch", "USE statements"},
		{"reset", "RESET search_path", "RESET statements"},
		{"pragma that sets", "PRAGMA threads = 1", "PRAGMA statements"},
		{"pragma that reads", "PRAGMA show_tables", "PRAGMA statements"},
		{"call", "CALL pragma_version()", "CALL statements"},
		{"checkpoint", "CHECKPOINT", "CHECKPOINT statements"},
		{"prepare", "PREPARE p AS SELECT 1", "PREPARE statements"},
		{"begin", "BEGIN TRANSACTION", "BEGIN statements"},
		{"detach", "DETACH memory", "DETACH statements"},
		{"load", "LOAD parquet", "LOAD statements"},
		{"explain analyze runs what it explains", "EXPLAIN ANALYZE COPY (SELECT 1) TO '" + out + "'", "EXPLAIN of COPY statements"},
		{"explain analyze of DDL", "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "EXPLAIN of CREATE statements"},
		{"explain behind a comment", "/* x */ EXPLAIN ANALYZE COPY (SELECT 1) TO '" + out + "'", "This statement does not run here"},
		// duckdb-go would run every statement but the last while preparing the text.
		{"a write before a query", "COPY (SELECT 1) TO '" + out + "'; SELECT 1", "COPY statements"},
		{"two queries", "SELECT 1; SELECT 2", "runs exactly one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, e, tc.statement, tc.message, out, filepath.Join(tpchDir, "export"), filepath.Join(tpchDir, "new.db"))
		})
	}
	// The catalog is as it was.
	if se := statementErr(t, e, "SELECT id, name FROM data.numbers"); se != nil {
		t.Fatalf("data.numbers after the attempts: %+v", se)
	}
}

func TestNothingOutsideTheData(t *testing.T) {
	tpchDir, dataDir, outside := tpchDir(t), dataDir(t), t.TempDir()
	secret := filepath.Join(outside, "secret.csv")
	if err := os.WriteFile(secret, []byte("secret\n1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lineitem := filepath.Join(tpchDir, "lineitem.parquet")
	before, err := os.ReadFile(lineitem)
	if err != nil {
		t.Fatal(err)
	}
	e := openEngineWith(t, Options{DataDir: dataDir, TPCHDir: tpchDir})
	for _, tc := range []struct{ name, statement, message, unwritten string }{
		// Each of these reads succeeds if enable_external_access is left on.
		{"read a file elsewhere", "SELECT * FROM read_text('" + secret + "')", "disabled by configuration", ""},
		{"list a directory elsewhere", "SELECT * FROM glob('" + outside + "/*')", "disabled by configuration", ""},
		{"read a file elsewhere by replacement scan", "SELECT * FROM '" + secret + "'", "disabled by configuration", ""},
		{"climb out of the data", "SELECT * FROM read_text('" + dataDir + "/../" + filepath.Base(outside) + "/secret.csv')", "disabled by configuration", ""},
		// The TPC-H and data directories are allowed, so DuckDB itself would write there.
		{"write into the data directory", "COPY (SELECT 1) TO '" + filepath.Join(dataDir, "new.csv") + "'", "COPY statements", filepath.Join(dataDir, "new.csv")},
		{"overwrite the TPC-H data", "COPY (SELECT 2 AS x) TO '" + lineitem + "' (FORMAT parquet)", "COPY statements", ""},
		{"attach a database in the data directory", "ATTACH '" + filepath.Join(dataDir, "new.db") + "' AS n", "ATTACH statements", filepath.Join(dataDir, "new.db")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var unwritten []string
			if tc.unwritten != "" {
				unwritten = append(unwritten, tc.unwritten)
			}
			wantRefused(t, e, tc.statement, tc.message, unwritten...)
		})
	}
	if after, err := os.ReadFile(lineitem); err != nil || string(after) != string(before) {
		t.Fatalf("lineitem.parquet changed (%v)", err)
	}
}

// With no spill directory DuckDB is given none, so none is allowed: DuckDB's default (.tmp in
// the working directory) would be added to allowed_directories when external access goes off.
func TestNoSpillDirectoryByDefault(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	tmp := filepath.Join(cwd, ".tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "spilled.txt"), []byte("another statement's data"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := openEngineWith(t, Options{DataDir: dataDir(t)})
	for _, tc := range []struct{ name, statement, message, unwritten string }{
		{"read", "SELECT * FROM read_text('" + tmp + "/spilled.txt')", "disabled by configuration", ""},
		{"list", "SELECT * FROM glob('" + tmp + "/*')", "disabled by configuration", ""},
		{"copy", "COPY (SELECT 1) TO '" + tmp + "/x.csv'", "COPY statements", filepath.Join(tmp, "x.csv")},
		{"attach", "ATTACH '" + tmp + "/new.db' AS n", "ATTACH statements", filepath.Join(tmp, "new.db")},
		{"export", "EXPORT DATABASE '" + tmp + "/export'", "EXPORT statements", filepath.Join(tmp, "export")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var unwritten []string
			if tc.unwritten != "" {
				unwritten = append(unwritten, tc.unwritten)
			}
			wantRefused(t, e, tc.statement, tc.message, unwritten...)
		})
	}
}

func TestSpillDirectory(t *testing.T) {
	// About 100 MB to sort, in 32 MiB of memory: it spills.
	const sort = "SELECT count(*) FROM (SELECT range AS k, repeat('x', 60) || range AS s FROM range(1500000) ORDER BY s DESC, k)"
	for _, tc := range []struct {
		name, maxTempSize string
		wantErr           string
	}{
		{name: "within the bound", maxTempSize: "1GiB"},
		{name: "past the bound", maxTempSize: "8MiB", wantErr: "max_temp_directory_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			e := openEngineWith(t, Options{TempDir: tmp, MaxTempSize: tc.maxTempSize, MemoryLimit: "32MiB", Threads: 1})
			se := statementErr(t, e, sort)
			switch {
			case tc.wantErr == "" && se != nil:
				t.Fatalf("the sort failed: %+v", se)
			case tc.wantErr != "" && (se == nil || !strings.Contains(se.Message, tc.wantErr)):
				t.Fatalf("the sort: %+v, want an error naming %s", se, tc.wantErr)
			}
			// The spill directory takes no files from statements.
			wantRefused(t, e, "COPY (SELECT 1) TO '"+tmp+"/x.csv'", "COPY statements", filepath.Join(tmp, "x.csv"))
			wantRefused(t, e, "ATTACH '"+tmp+"/new.db' AS n", "ATTACH statements", filepath.Join(tmp, "new.db"))
			wantRefused(t, e, "EXPORT DATABASE '"+tmp+"/export'", "EXPORT statements", filepath.Join(tmp, "export"))
		})
	}
}

// A statement's session state (here the random seed) does not reach the next statement.
func TestSessionStateDoesNotCarryOver(t *testing.T) {
	// What random() gives right after setseed(0.5) on one connection.
	db, err := sql.Open("duckdb", DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var seeded string
	if _, err := db.Exec("SELECT setseed(0.5)"); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT random()::VARCHAR").Scan(&seeded); err != nil {
		t.Fatal(err)
	}

	e := openEngineWith(t, Options{})
	for range 3 {
		if _, err := run(e, context.Background(), sqlwire.Request{Statement: "SELECT setseed(0.5)"}); err != nil {
			t.Fatal(err)
		}
		frames, err := run(e, context.Background(), sqlwire.Request{Statement: "SELECT random()::VARCHAR"})
		if err != nil {
			t.Fatal(err)
		}
		if got := *frames[1].Rows[0][0]; got == seeded {
			t.Fatalf("random() is %s, the value after another statement's setseed(0.5): the connection was reused", got)
		}
	}
}

// BenchmarkRun is the cost of a statement on a new connection against one on a pooled one.
func BenchmarkRun(b *testing.B) {
	for _, bc := range []struct {
		name string
		idle int
	}{{"new connection", 0}, {"pooled connection", 2}} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := Open(context.Background(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			e.db.SetMaxIdleConns(bc.idle)
			for b.Loop() {
				if _, err := run(e, context.Background(), sqlwire.Request{Statement: "SELECT 1"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
