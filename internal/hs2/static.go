package hs2

import (
	"context"
	"strconv"
	"strings"

	"github.com/serverlessplane/operator/internal/sqlwire"
	tcli "github.com/serverlessplane/operator/internal/thrift/tcliservice"
)

// Answers the server knows without asking the engine: the types it speaks, the table types,
// and the keys, which a DuckDB warehouse of views and read-only files does not declare.

// staticColumns are columns named "NAME TYPE, NAME TYPE, ..." with DuckDB's type names.
func staticColumns(spec string) []sqlwire.Column {
	var cols []sqlwire.Column
	for i, f := range strings.Split(spec, ",") {
		name, typ, _ := strings.Cut(strings.TrimSpace(f), " ")
		cols = append(cols, sqlwire.Column{Name: name, TypeText: typ, Position: i})
	}
	return cols
}

// staticRows are rows of text values; "" is NULL.
func staticRows(rows [][]string) [][]*string {
	out := make([][]*string, len(rows))
	for i, r := range rows {
		out[i] = make([]*string, len(r))
		for j, v := range r {
			if v != "" {
				out[i][j] = ptr(v)
			}
		}
	}
	return out
}

// answerStatic registers an operation whose result is rows.
func (s *Server) answerStatic(ctx context.Context, h *tcli.TSessionHandle, typ tcli.TOperationType, spec string, rows [][]string,
	want *tcli.TSparkGetDirectResults) (*tcli.TStatus, *tcli.TOperationHandle, *tcli.TSparkDirectResults) {
	ss, status := s.session(ctx, h)
	if status != nil {
		return status, nil, nil
	}
	text := staticRows(rows)
	op := &operation{handle: &tcli.THandleIdentifier{GUID: newID(), Secret: newID()}, typ: typ, owner: ss.owner,
		static: &Snapshot{State: sqlwire.StateSucceeded, Columns: staticColumns(spec), Chunks: [][][]*string{text}, Rows: int64(len(text))}}
	if status := s.addOperation(ss, op); status != nil {
		return status, nil, nil
	}
	var d *tcli.TSparkDirectResults
	if want != nil {
		d = s.directResults(ctx, op, want, 0)
	}
	return okStatus(), op.handleOf(), d
}

const typeInfoColumns = "TYPE_NAME VARCHAR, DATA_TYPE INTEGER, PRECISION INTEGER, LITERAL_PREFIX VARCHAR, LITERAL_SUFFIX VARCHAR, " +
	"CREATE_PARAMS VARCHAR, NULLABLE SMALLINT, CASE_SENSITIVE BOOLEAN, SEARCHABLE SMALLINT, UNSIGNED_ATTRIBUTE BOOLEAN, " +
	"FIXED_PREC_SCALE BOOLEAN, AUTO_INCREMENT BOOLEAN, LOCAL_TYPE_NAME VARCHAR, MINIMUM_SCALE SMALLINT, MAXIMUM_SCALE SMALLINT, " +
	"SQL_DATA_TYPE INTEGER, SQL_DATETIME_SUB INTEGER, NUM_PREC_RADIX INTEGER"

// typeInfo is one row of GetTypeInfo: a SQL type of the engine with its java.sql.Types code.
func typeInfo(name string, code, precision int, prefix, params string, radix int) []string {
	num := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	searchable, sensitive := "2", "false" // comparable, not LIKE-able
	if code == 12 {
		searchable, sensitive = "3", "true"
	}
	suffix := ""
	if prefix != "" {
		suffix = "'"
	}
	return []string{name, strconv.Itoa(code), num(precision), prefix, suffix, params, "1", sensitive, searchable,
		"false", strconv.FormatBool(code == 3), "false", name, "0", num(map[bool]int{true: 38}[code == 3]), "", "", num(radix)}
}

// typeInfos are the engine's types as Databricks' drivers know them.
var typeInfos = [][]string{
	typeInfo("BOOLEAN", 16, 1, "", "", 0),
	typeInfo("TINYINT", -6, 3, "", "", 10),
	typeInfo("SMALLINT", 5, 5, "", "", 10),
	typeInfo("INT", 4, 10, "", "", 10),
	typeInfo("BIGINT", -5, 19, "", "", 10),
	typeInfo("FLOAT", 6, 7, "", "", 10),
	typeInfo("DOUBLE", 8, 15, "", "", 10),
	typeInfo("DECIMAL", 3, 38, "", "precision,scale", 10),
	typeInfo("STRING", 12, 0, "'", "", 0),
	typeInfo("BINARY", -2, 0, "", "", 0),
	typeInfo("DATE", 91, 10, "DATE '", "", 0),
	typeInfo("TIMESTAMP", 93, 29, "TIMESTAMP '", "", 0),
	typeInfo("ARRAY", 2003, 0, "", "", 0),
	typeInfo("MAP", 2000, 0, "", "", 0),
	typeInfo("STRUCT", 2002, 0, "", "", 0),
}

// GetTypeInfo lists the SQL types.
func (s *Server) GetTypeInfo(ctx context.Context, req *tcli.TGetTypeInfoReq) (*tcli.TGetTypeInfoResp, error) {
	st, h, d := s.answerStatic(ctx, req.SessionHandle, tcli.TOperationType_GET_TYPE_INFO, typeInfoColumns, typeInfos, req.GetDirectResults)
	return &tcli.TGetTypeInfoResp{Status: st, OperationHandle: h, DirectResults: d}, nil
}

// GetTableTypes lists the table types GetTables answers.
func (s *Server) GetTableTypes(ctx context.Context, req *tcli.TGetTableTypesReq) (*tcli.TGetTableTypesResp, error) {
	st, h, d := s.answerStatic(ctx, req.SessionHandle, tcli.TOperationType_GET_TABLE_TYPES, "TABLE_TYPE VARCHAR",
		[][]string{{"TABLE"}, {"VIEW"}, {"LOCAL TEMPORARY"}}, req.GetDirectResults)
	return &tcli.TGetTableTypesResp{Status: st, OperationHandle: h, DirectResults: d}, nil
}

// GetPrimaryKeys answers no keys: the warehouse's tables declare none.
func (s *Server) GetPrimaryKeys(ctx context.Context, req *tcli.TGetPrimaryKeysReq) (*tcli.TGetPrimaryKeysResp, error) {
	st, h, d := s.answerStatic(ctx, req.SessionHandle, tcli.TOperationType_UNKNOWN,
		"TABLE_CAT VARCHAR, TABLE_SCHEM VARCHAR, TABLE_NAME VARCHAR, COLUMN_NAME VARCHAR, KEY_SEQ INTEGER, PK_NAME VARCHAR", nil, req.GetDirectResults)
	return &tcli.TGetPrimaryKeysResp{Status: st, OperationHandle: h, DirectResults: d}, nil
}

// GetCrossReference answers no foreign keys: the warehouse's tables declare none.
func (s *Server) GetCrossReference(ctx context.Context, req *tcli.TGetCrossReferenceReq) (*tcli.TGetCrossReferenceResp, error) {
	st, h, d := s.answerStatic(ctx, req.SessionHandle, tcli.TOperationType_UNKNOWN,
		"PKTABLE_CAT VARCHAR, PKTABLE_SCHEM VARCHAR, PKTABLE_NAME VARCHAR, PKCOLUMN_NAME VARCHAR, FKTABLE_CAT VARCHAR, "+
			"FKTABLE_SCHEM VARCHAR, FKTABLE_NAME VARCHAR, FKCOLUMN_NAME VARCHAR, KEY_SEQ INTEGER, UPDATE_RULE SMALLINT, "+
			"DELETE_RULE SMALLINT, FK_NAME VARCHAR, PK_NAME VARCHAR, DEFERRABILITY SMALLINT", nil, req.GetDirectResults)
	return &tcli.TGetCrossReferenceResp{Status: st, OperationHandle: h, DirectResults: d}, nil
}
