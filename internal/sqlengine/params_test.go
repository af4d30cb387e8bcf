package sqlengine

import (
	"math/big"
	"strings"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/serverlessplane/operator/internal/sqlwire"
)

func str(s string) *string { return &s }

func TestBindParameters(t *testing.T) {
	for _, tc := range []struct {
		name, statement string
		params          []sqlwire.Parameter
		want, wantErr   string
	}{
		{name: "none", statement: "SELECT 1", want: "SELECT 1"},
		{name: "typed", statement: "SELECT * FROM t WHERE d <= :day AND n = :n",
			params: []sqlwire.Parameter{{Name: "day", Value: str("1998-09-02"), Type: "DATE"}, {Name: "n", Value: str("3"), Type: "int"}},
			want:   "SELECT * FROM t WHERE d <= CAST($day AS DATE) AND n = CAST($n AS INTEGER)"},
		{name: "default string, used twice", statement: "SELECT :s || :s",
			params: []sqlwire.Parameter{{Name: "s", Value: str("x")}}, want: "SELECT CAST($s AS VARCHAR) || CAST($s AS VARCHAR)"},
		{name: "decimal", statement: "SELECT :d", params: []sqlwire.Parameter{{Name: "d", Value: str("1.5"), Type: "DECIMAL(10, 2)"}},
			want: "SELECT CAST($d AS DECIMAL(10,2))"},
		{name: "literals, identifiers, comments and casts untouched",
			statement: "SELECT ':a', \":b\", x::INT -- :c\n/* :d */ FROM t", want: "SELECT ':a', \":b\", x::INT -- :c\n/* :d */ FROM t"},
		{name: "escaped quote", statement: "SELECT 'it''s :a', :a", params: []sqlwire.Parameter{{Name: "a", Value: str("1")}},
			want: "SELECT 'it''s :a', CAST($a AS VARCHAR)"},
		{name: "unknown marker", statement: "SELECT :x", wantErr: "uses the parameter :x"},
		{name: "unused parameter", statement: "SELECT 1", params: []sqlwire.Parameter{{Name: "x"}}, wantErr: `parameter "x" is not used`},
		{name: "bad name", statement: "SELECT 1", params: []sqlwire.Parameter{{Name: "x;DROP"}}, wantErr: `parameters[0].name "x;DROP"`},
		{name: "injected type", statement: "SELECT :x", params: []sqlwire.Parameter{{Name: "x", Type: "INT) FROM t; --"}}, wantErr: "parameters[0].type"},
		{name: "duplicate", statement: "SELECT :x", params: []sqlwire.Parameter{{Name: "x"}, {Name: "x"}}, wantErr: "given twice"},
		{name: "positional, in order, typed", statement: "SELECT * FROM t WHERE d <= ? AND n = ? AND s = '?'",
			params: []sqlwire.Parameter{{Value: str("1998-09-02"), Type: "DATE"}, {Value: str("3"), Type: "INTEGER"}},
			want:   "SELECT * FROM t WHERE d <= CAST($p1 AS DATE) AND n = CAST($p2 AS INTEGER) AND s = '?'"},
		{name: "positional NULL", statement: "SELECT ? IS NULL", params: []sqlwire.Parameter{{}}, want: "SELECT CAST($p1 AS VARCHAR) IS NULL"},
		{name: "? without positional parameters is left to DuckDB", statement: "SELECT ?", want: "SELECT ?"},
		{name: "more markers than positional parameters", statement: "SELECT ?, ?", params: []sqlwire.Parameter{{Value: str("1")}}, wantErr: "more ? markers"},
		{name: "fewer markers than positional parameters", statement: "SELECT ?", params: []sqlwire.Parameter{{Value: str("1")}, {Value: str("2")}}, wantErr: "1 ? markers for 2"},
		{name: "named and positional mixed", statement: "SELECT :a, ?", params: []sqlwire.Parameter{{Name: "a"}, {}}, wantErr: "mix named and positional"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := bindParameters(tc.statement, tc.params)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestFormatDecimal(t *testing.T) {
	for _, tc := range []struct {
		v     int64
		scale uint8
		want  string
	}{{150, 2, "1.50"}, {-5, 2, "-0.05"}, {0, 2, "0.00"}, {42, 0, "42"}, {-123456, 3, "-123.456"}} {
		if got := formatDecimal(duckdb.Decimal{Width: 18, Scale: tc.scale, Value: big.NewInt(tc.v)}); got != tc.want {
			t.Errorf("%d scale %d: %q, want %q", tc.v, tc.scale, got, tc.want)
		}
	}
}
