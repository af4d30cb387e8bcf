package hs2

import (
	"context"
	"fmt"
	"strings"

	"github.com/serverlessplane/operator/internal/sqlwire"
	tcli "github.com/serverlessplane/operator/internal/thrift/tcliservice"
)

// The catalog calls BI tools make on connect. Each runs a query of the engine's catalog
// (information_schema, duckdb_functions()) on the warehouse, as a statement like any other,
// and answers the columns JDBC's DatabaseMetaData names; patterns are JDBC's (% and _, with \
// to escape them; * is taken for %), always bound as parameters, never spliced into the text.

// hidden are the engine's own catalogs and schemas, left out of every listing.
const hidden = `catalog_name NOT IN ('system', 'temp')`

// metaQuery is a catalog query and its parameters, built up clause by clause.
type metaQuery struct {
	where  []string
	params []sqlwire.Parameter
}

// like adds `column LIKE pattern` unless the pattern matches everything.
func (q *metaQuery) like(column, pattern string) {
	if pattern == "" || pattern == "%" || pattern == "*" {
		return
	}
	name := fmt.Sprintf("p%d", len(q.params))
	q.where = append(q.where, fmt.Sprintf(`%s LIKE :%s ESCAPE '\'`, column, name))
	q.params = append(q.params, sqlwire.Parameter{Name: name, Value: ptr(strings.ReplaceAll(pattern, "*", "%"))})
}

// in adds `expr IN (values)` unless values is empty.
func (q *metaQuery) in(expr string, values []string) {
	if len(values) == 0 {
		return
	}
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = fmt.Sprintf(":p%d", len(q.params))
		q.params = append(q.params, sqlwire.Parameter{Name: names[i][1:], Value: ptr(strings.ToUpper(v))})
	}
	q.where = append(q.where, expr+" IN ("+strings.Join(names, ", ")+")")
}

func (q *metaQuery) request(selectFrom, orderBy string) sqlwire.Request {
	text := selectFrom
	if len(q.where) > 0 {
		text += " WHERE " + strings.Join(q.where, " AND ")
	}
	return sqlwire.Request{Statement: text + " ORDER BY " + orderBy, Parameters: q.params}
}

// metaResponse is what every catalog call answers: a status and the operation's handle.
func (s *Server) metaOperation(ctx context.Context, h *tcli.TSessionHandle, typ tcli.TOperationType, req sqlwire.Request,
	want *tcli.TSparkGetDirectResults, async bool) (*tcli.TStatus, *tcli.TOperationHandle, *tcli.TSparkDirectResults) {
	op, status := s.run(ctx, h, typ, req)
	if status != nil {
		return status, nil, nil
	}
	return okStatus(), op.handleOf(), s.answer(ctx, op, want, async)
}

// GetCatalogs lists the catalogs.
func (s *Server) GetCatalogs(ctx context.Context, req *tcli.TGetCatalogsReq) (*tcli.TGetCatalogsResp, error) {
	q := &metaQuery{where: []string{hidden}}
	st, h, d := s.metaOperation(ctx, req.SessionHandle, tcli.TOperationType_GET_CATALOGS,
		q.request("SELECT DISTINCT catalog_name AS TABLE_CAT FROM information_schema.schemata", "1"), req.GetDirectResults, req.GetRunAsync())
	return &tcli.TGetCatalogsResp{Status: st, OperationHandle: h, DirectResults: d}, nil
}

// GetSchemas lists the schemas whose catalog and name match.
func (s *Server) GetSchemas(ctx context.Context, req *tcli.TGetSchemasReq) (*tcli.TGetSchemasResp, error) {
	q := &metaQuery{where: []string{hidden, "schema_name NOT IN ('information_schema', 'pg_catalog')"}}
	q.like("catalog_name", req.GetCatalogName())
	q.like("schema_name", req.GetSchemaName())
	st, h, d := s.metaOperation(ctx, req.SessionHandle, tcli.TOperationType_GET_SCHEMAS,
		q.request("SELECT schema_name AS TABLE_SCHEM, catalog_name AS TABLE_CATALOG FROM information_schema.schemata", "2, 1"),
		req.GetDirectResults, req.GetRunAsync())
	return &tcli.TGetSchemasResp{Status: st, OperationHandle: h, DirectResults: d}, nil
}

// tableType is information_schema's table_type as JDBC names it.
const tableType = `CASE table_type WHEN 'BASE TABLE' THEN 'TABLE' WHEN 'LOCAL TEMPORARY' THEN 'LOCAL TEMPORARY' ELSE table_type END`

// GetTables lists the tables and views whose catalog, schema, name and type match.
func (s *Server) GetTables(ctx context.Context, req *tcli.TGetTablesReq) (*tcli.TGetTablesResp, error) {
	q := &metaQuery{where: []string{strings.ReplaceAll(hidden, "catalog_name", "table_catalog"), "table_schema NOT IN ('information_schema', 'pg_catalog')"}}
	q.like("table_catalog", req.GetCatalogName())
	q.like("table_schema", req.GetSchemaName())
	q.like("table_name", req.GetTableName())
	q.in(tableType, req.TableTypes)
	st, h, d := s.metaOperation(ctx, req.SessionHandle, tcli.TOperationType_GET_TABLES, q.request(
		"SELECT table_catalog AS TABLE_CAT, table_schema AS TABLE_SCHEM, table_name AS TABLE_NAME, "+tableType+" AS TABLE_TYPE, "+
			"'' AS REMARKS, NULL::VARCHAR AS TYPE_CAT, NULL::VARCHAR AS TYPE_SCHEM, NULL::VARCHAR AS TYPE_NAME, "+
			"NULL::VARCHAR AS SELF_REFERENCING_COL_NAME, NULL::VARCHAR AS REF_GENERATION FROM information_schema.tables", "4, 1, 2, 3"),
		req.GetDirectResults, req.GetRunAsync())
	return &tcli.TGetTablesResp{Status: st, OperationHandle: h, DirectResults: d}, nil
}

// jdbcType is a column's java.sql.Types code, from information_schema's data_type.
const jdbcType = `CASE
	WHEN data_type = 'BOOLEAN' THEN 16 WHEN data_type = 'TINYINT' THEN -6 WHEN data_type = 'SMALLINT' THEN 5
	WHEN data_type = 'INTEGER' THEN 4 WHEN data_type = 'BIGINT' THEN -5 WHEN data_type = 'FLOAT' THEN 6
	WHEN data_type = 'DOUBLE' THEN 8 WHEN data_type LIKE 'DECIMAL%' THEN 3 WHEN data_type = 'VARCHAR' THEN 12
	WHEN data_type = 'DATE' THEN 91 WHEN data_type LIKE 'TIMESTAMP%' THEN 93 WHEN data_type = 'BLOB' THEN -2
	WHEN data_type LIKE '%[]' THEN 2003 WHEN data_type LIKE 'STRUCT%' THEN 2002 WHEN data_type LIKE 'MAP%' THEN 2000
	ELSE 1111 END`

// GetColumns lists the columns whose catalog, schema, table and name match, with their types.
func (s *Server) GetColumns(ctx context.Context, req *tcli.TGetColumnsReq) (*tcli.TGetColumnsResp, error) {
	q := &metaQuery{where: []string{strings.ReplaceAll(hidden, "catalog_name", "table_catalog"), "table_schema NOT IN ('information_schema', 'pg_catalog')"}}
	q.like("table_catalog", req.GetCatalogName())
	q.like("table_schema", req.GetSchemaName())
	q.like("table_name", req.GetTableName())
	q.like("column_name", req.GetColumnName())
	st, h, d := s.metaOperation(ctx, req.SessionHandle, tcli.TOperationType_GET_COLUMNS, q.request(
		"SELECT table_catalog AS TABLE_CAT, table_schema AS TABLE_SCHEM, table_name AS TABLE_NAME, column_name AS COLUMN_NAME, "+
			jdbcType+" AS DATA_TYPE, data_type AS TYPE_NAME, "+
			"COALESCE(numeric_precision, character_maximum_length) AS COLUMN_SIZE, NULL::INTEGER AS BUFFER_LENGTH, "+
			"numeric_scale AS DECIMAL_DIGITS, numeric_precision_radix AS NUM_PREC_RADIX, "+
			"CASE is_nullable WHEN 'YES' THEN 1 ELSE 0 END AS NULLABLE, '' AS REMARKS, column_default AS COLUMN_DEF, "+
			"NULL::INTEGER AS SQL_DATA_TYPE, NULL::INTEGER AS SQL_DATETIME_SUB, character_octet_length AS CHAR_OCTET_LENGTH, "+
			"ordinal_position AS ORDINAL_POSITION, is_nullable AS IS_NULLABLE, NULL::VARCHAR AS SCOPE_CATALOG, "+
			"NULL::VARCHAR AS SCOPE_SCHEMA, NULL::VARCHAR AS SCOPE_TABLE, NULL::SMALLINT AS SOURCE_DATA_TYPE, "+
			"'NO' AS IS_AUTO_INCREMENT, 'NO' AS IS_GENERATEDCOLUMN FROM information_schema.columns", "1, 2, 3, ORDINAL_POSITION"),
		req.GetDirectResults, req.GetRunAsync())
	return &tcli.TGetColumnsResp{Status: st, OperationHandle: h, DirectResults: d}, nil
}

// GetFunctions lists the functions whose schema and name match.
func (s *Server) GetFunctions(ctx context.Context, req *tcli.TGetFunctionsReq) (*tcli.TGetFunctionsResp, error) {
	q := &metaQuery{}
	q.like("schema_name", req.GetSchemaName())
	q.like("function_name", req.GetFunctionName())
	st, h, d := s.metaOperation(ctx, req.SessionHandle, tcli.TOperationType_GET_FUNCTIONS, q.request(
		"SELECT DISTINCT database_name AS FUNCTION_CAT, schema_name AS FUNCTION_SCHEM, function_name AS FUNCTION_NAME, "+
			"first(description) OVER (PARTITION BY schema_name, function_name) AS REMARKS, "+
			"CASE function_type WHEN 'table' THEN 2 ELSE 1 END AS FUNCTION_TYPE, function_name AS SPECIFIC_NAME FROM duckdb_functions()", "2, 3"),
		req.GetDirectResults, req.GetRunAsync())
	return &tcli.TGetFunctionsResp{Status: st, OperationHandle: h, DirectResults: d}, nil
}
