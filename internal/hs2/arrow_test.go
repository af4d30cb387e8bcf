package hs2

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/serverlessplane/operator/internal/sqlwire"
)

// The schema message and a batch message, one after the other, are an IPC stream a reader
// reads, as the drivers put them together.
func TestArrowBatchReadsAsAStream(t *testing.T) {
	cols := []sqlwire.Column{{Name: "n", TypeText: "BIGINT"}, {Name: "b", TypeText: "BOOLEAN"}, {Name: "x", TypeText: "DOUBLE"},
		{Name: "d", TypeText: "DECIMAL(15,2)"}, {Name: "ts", TypeText: "TIMESTAMP"}, {Name: "bin", TypeText: "BLOB"}}
	rows := [][]*string{
		{ptr("1"), ptr("true"), ptr("0.5"), ptr("12.30"), ptr("2024-01-02T03:04:05"), ptr("AAE=")},
		{nil, nil, nil, nil, nil, nil},
		{ptr("-3"), ptr("false"), ptr("2"), ptr("-1.00"), ptr("1999-12-31T23:59:59"), ptr("")},
	}
	schema, err := arrowSchemaMessage(cols)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := arrowBatch(cols, rows)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ipc.NewReader(bytes.NewReader(append(append([]byte{}, schema...), batch...)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if !r.Next() {
		t.Fatalf("no record batch: %v", r.Err())
	}
	rec := r.RecordBatch()
	if rec.NumRows() != 3 || rec.NumCols() != 6 {
		t.Fatalf("%d rows of %d columns, want 3 of 6", rec.NumRows(), rec.NumCols())
	}
	n := rec.Column(0).(*array.Int64)
	if n.Value(0) != 1 || !n.IsNull(1) || n.Value(2) != -3 {
		t.Errorf("BIGINT column %v", n)
	}
	if b := rec.Column(1).(*array.Boolean); !b.Value(0) || !b.IsNull(1) || b.Value(2) {
		t.Errorf("BOOLEAN column %v", b)
	}
	if x := rec.Column(2).(*array.Float64); x.Value(0) != 0.5 || x.Value(2) != 2 {
		t.Errorf("DOUBLE column %v", x)
	}
	if d := rec.Column(3).(*array.String); d.Value(0) != "12.30" || !d.IsNull(1) {
		t.Errorf("DECIMAL column %v: text with its scale", d)
	}
	if ts := rec.Column(4).(*array.String); ts.Value(0) != "2024-01-02 03:04:05" {
		t.Errorf("TIMESTAMP column %v", ts)
	}
	if bin := rec.Column(5).(*array.Binary); !bytes.Equal(bin.Value(0), []byte{0, 1}) {
		t.Errorf("BLOB column %v", bin)
	}
	if r.Next() {
		t.Error("a second batch in one fetch")
	}
}
