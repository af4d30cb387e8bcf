package hs2

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/serverlessplane/operator/internal/sqlwire"
	tcli "github.com/serverlessplane/operator/internal/thrift/tcliservice"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     tcli.TOpenSessionReq
		want    tcli.TProtocolVersion
		wantErr bool
	}{
		{name: "Databricks drivers offer V8 as i64", req: tcli.TOpenSessionReq{ClientProtocolI64: ptr(int64(tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V8))}, want: tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V8},
		{name: "newer than served: the newest served", req: tcli.TOpenSessionReq{ClientProtocolI64: ptr(int64(tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V9))}, want: ServerProtocol},
		{name: "an older Spark version as offered", req: tcli.TOpenSessionReq{ClientProtocol: tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V5}, want: tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V5},
		{name: "Hive JDBC's workaround means Hive's newest", req: tcli.TOpenSessionReq{ClientProtocol: tcli.TProtocolVersion___HIVE_JDBC_WORKAROUND}, want: tcli.TProtocolVersion_HIVE_CLI_SERVICE_PROTOCOL_V10},
		{name: "before column-based results: refused", req: tcli.TOpenSessionReq{ClientProtocol: tcli.TProtocolVersion_HIVE_CLI_SERVICE_PROTOCOL_V5}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := negotiate(&tc.req)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("negotiate = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestColumnTypesAndNulls(t *testing.T) {
	rows := [][]*string{
		{ptr("true"), ptr("7"), ptr("1.5"), ptr("12.30"), ptr("2024-01-02T03:04:05"), ptr("AAE=")},
		{nil, nil, nil, nil, nil, nil},
		{ptr("false"), ptr("-2"), ptr("-0.25"), ptr("-1.00"), ptr("1999-12-31T23:59:59.5"), ptr("")},
	}
	cols := []sqlwire.Column{{Name: "b", TypeText: "BOOLEAN"}, {Name: "i", TypeText: "INTEGER"}, {Name: "f", TypeText: "DOUBLE"},
		{Name: "d", TypeText: "DECIMAL(15,2)"}, {Name: "ts", TypeText: "TIMESTAMP"}, {Name: "bin", TypeText: "BLOB"}}
	set := rowSet(cols, 40, rows)
	if set.StartRowOffset != 40 || len(set.Columns) != 6 {
		t.Fatalf("row set %v", set)
	}
	nulls := []byte{0b010}
	if diff := cmp.Diff(&tcli.TBoolColumn{Values: []bool{true, false, false}, Nulls: nulls}, set.Columns[0].BoolVal); diff != "" {
		t.Errorf("BOOLEAN (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&tcli.TI32Column{Values: []int32{7, 0, -2}, Nulls: nulls}, set.Columns[1].I32Val); diff != "" {
		t.Errorf("INTEGER (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&tcli.TDoubleColumn{Values: []float64{1.5, 0, -0.25}, Nulls: nulls}, set.Columns[2].DoubleVal); diff != "" {
		t.Errorf("DOUBLE (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&tcli.TStringColumn{Values: []string{"12.30", "", "-1.00"}, Nulls: nulls}, set.Columns[3].StringVal); diff != "" {
		t.Errorf("DECIMAL travels as text (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&tcli.TStringColumn{Values: []string{"2024-01-02 03:04:05", "", "1999-12-31 23:59:59.5"}, Nulls: nulls}, set.Columns[4].StringVal); diff != "" {
		t.Errorf("TIMESTAMP with SQL's space (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&tcli.TBinaryColumn{Values: [][]byte{{0, 1}, nil, {}}, Nulls: nulls}, set.Columns[5].BinaryVal); diff != "" {
		t.Errorf("BLOB decoded from base64 (-want +got):\n%s", diff)
	}
	schema := schemaOf(cols)
	d := schema.Columns[3].TypeDesc.Types[0].PrimitiveEntry
	if d.Type != tcli.TTypeId_DECIMAL_TYPE || *d.TypeQualifiers.Qualifiers["precision"].I32Value != 15 || *d.TypeQualifiers.Qualifiers["scale"].I32Value != 2 {
		t.Errorf("DECIMAL(15,2) described as %v", d)
	}
	if schema.Columns[0].Position != 1 {
		t.Errorf("positions start at 1: %d", schema.Columns[0].Position)
	}
}

func TestTypeOf(t *testing.T) {
	for duck, want := range map[string]tcli.TTypeId{
		"BIGINT": tcli.TTypeId_BIGINT_TYPE, "UBIGINT": tcli.TTypeId_DECIMAL_TYPE, "UINTEGER": tcli.TTypeId_BIGINT_TYPE,
		"HUGEINT": tcli.TTypeId_DECIMAL_TYPE, "VARCHAR": tcli.TTypeId_STRING_TYPE, "DATE": tcli.TTypeId_DATE_TYPE,
		"INTEGER[]": tcli.TTypeId_ARRAY_TYPE, "STRUCT(a INTEGER)": tcli.TTypeId_STRUCT_TYPE, "MAP(VARCHAR, INTEGER)": tcli.TTypeId_MAP_TYPE,
		"TIMESTAMP WITH TIME ZONE": tcli.TTypeId_TIMESTAMP_TYPE, "UUID": tcli.TTypeId_STRING_TYPE, "FLOAT": tcli.TTypeId_FLOAT_TYPE,
	} {
		if got := typeOf(sqlwire.Column{TypeText: duck}).id; got != want {
			t.Errorf("%s: %v, want %v", duck, got, want)
		}
	}
}

func TestSliceRows(t *testing.T) {
	chunks := numbers(25).Chunks
	for _, tc := range []struct {
		name                  string
		offset, limit, budget int64
		first, count          int
	}{
		{name: "within a chunk", offset: 3, limit: 4, budget: 1 << 20, first: 3, count: 4},
		{name: "across chunks", offset: 8, limit: 15, budget: 1 << 20, first: 8, count: 15},
		{name: "to the end", offset: 20, limit: 100, budget: 1 << 20, first: 20, count: 5},
		{name: "past the end", offset: 25, limit: 10, budget: 1 << 20, count: 0},
		{name: "the byte budget cuts, at least one row", offset: 0, limit: 100, budget: 1, first: 0, count: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sliceRows(chunks, tc.offset, tc.limit, tc.budget)
			if len(got) != tc.count || (tc.count > 0 && *got[0][0] != strconv.Itoa(tc.first)) {
				t.Fatalf("%d rows from %v, want %d from %d", len(got), got, tc.count, tc.first)
			}
		})
	}
}

func TestParameters(t *testing.T) {
	str := func(s string) *tcli.TSparkParameterValue { return &tcli.TSparkParameterValue{StringValue: &s} }
	got, err := parameters([]*tcli.TSparkParameter{
		{Name: ptr("n"), Type: ptr("INTEGER"), Value: str("41")},
		{Name: ptr("t"), Type: ptr("TIMESTAMP_LTZ"), Value: str("2024-01-01 00:00:00")},
		{Name: ptr("nothing")},
		{Name: ptr("d"), Value: &tcli.TSparkParameterValue{DoubleValue: ptr(0.5)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []sqlwire.Parameter{{Name: "n", Value: ptr("41"), Type: "INTEGER"}, {Name: "t", Value: ptr("2024-01-01 00:00:00"), Type: "TIMESTAMP"},
		{Name: "nothing"}, {Name: "d", Value: ptr("0.5")}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
	if _, err := parameters([]*tcli.TSparkParameter{{Name: ptr("a"), Value: str("1")}, {Value: str("2")}}); err == nil {
		t.Error("named and positional parameters mixed were taken")
	}
}

func TestMetaQueryBindsPatterns(t *testing.T) {
	q := &metaQuery{where: []string{"x"}}
	q.like("schema_name", "%")
	q.like("table_name", "line*")
	q.in("t", []string{"view", "table"})
	req := q.request("SELECT 1 FROM s", "1")
	want := `SELECT 1 FROM s WHERE x AND table_name LIKE :p0 ESCAPE '\' AND t IN (:p1, :p2) ORDER BY 1`
	if req.Statement != want {
		t.Fatalf("statement\n %s\nwant\n %s", req.Statement, want)
	}
	if diff := cmp.Diff([]sqlwire.Parameter{{Name: "p0", Value: ptr("line%")}, {Name: "p1", Value: ptr("VIEW")}, {Name: "p2", Value: ptr("TABLE")}}, req.Parameters); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
}
