package hs2

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"

	"github.com/serverlessplane/operator/internal/sqlwire"
	tcli "github.com/serverlessplane/operator/internal/thrift/tcliservice"
)

// columnType is how a result column travels: its protocol type and the column kind its values
// are sent in.
type columnType struct {
	id        tcli.TTypeId
	kind      valueKind
	precision int32 // DECIMAL only
	scale     int32
}

type valueKind int

const (
	stringValues valueKind = iota
	boolValues
	byteValues
	i16Values
	i32Values
	i64Values
	doubleValues
	binaryValues
)

var decimalType = regexp.MustCompile(`^DECIMAL\((\d+),\s*(\d+)\)$`)

// typeOf is the protocol type of an engine column, from its DuckDB type (TypeText). Unsigned
// integers go one size up so that every value fits; what has no protocol type travels as text.
func typeOf(c sqlwire.Column) columnType {
	duck := strings.ToUpper(c.TypeText)
	switch {
	case strings.HasSuffix(duck, "[]"), strings.HasPrefix(duck, "LIST"):
		return columnType{id: tcli.TTypeId_ARRAY_TYPE}
	case strings.HasPrefix(duck, "STRUCT"):
		return columnType{id: tcli.TTypeId_STRUCT_TYPE}
	case strings.HasPrefix(duck, "MAP"):
		return columnType{id: tcli.TTypeId_MAP_TYPE}
	case strings.HasPrefix(duck, "DECIMAL"):
		t := columnType{id: tcli.TTypeId_DECIMAL_TYPE, precision: 18, scale: 3}
		if m := decimalType.FindStringSubmatch(duck); m != nil {
			p, _ := strconv.Atoi(m[1])
			s, _ := strconv.Atoi(m[2])
			t.precision, t.scale = int32(p), int32(s)
		}
		return t
	}
	switch duck {
	case "BOOLEAN":
		return columnType{id: tcli.TTypeId_BOOLEAN_TYPE, kind: boolValues}
	case "TINYINT":
		return columnType{id: tcli.TTypeId_TINYINT_TYPE, kind: byteValues}
	case "SMALLINT", "UTINYINT":
		return columnType{id: tcli.TTypeId_SMALLINT_TYPE, kind: i16Values}
	case "INTEGER", "USMALLINT":
		return columnType{id: tcli.TTypeId_INT_TYPE, kind: i32Values}
	case "BIGINT", "UINTEGER":
		return columnType{id: tcli.TTypeId_BIGINT_TYPE, kind: i64Values}
	case "UBIGINT":
		return columnType{id: tcli.TTypeId_DECIMAL_TYPE, precision: 20}
	case "HUGEINT", "UHUGEINT":
		return columnType{id: tcli.TTypeId_DECIMAL_TYPE, precision: 38}
	case "FLOAT":
		return columnType{id: tcli.TTypeId_FLOAT_TYPE, kind: doubleValues}
	case "DOUBLE":
		return columnType{id: tcli.TTypeId_DOUBLE_TYPE, kind: doubleValues}
	case "DATE":
		return columnType{id: tcli.TTypeId_DATE_TYPE}
	case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE":
		return columnType{id: tcli.TTypeId_TIMESTAMP_TYPE}
	case "BLOB":
		return columnType{id: tcli.TTypeId_BINARY_TYPE, kind: binaryValues}
	case "INTERVAL":
		return columnType{id: tcli.TTypeId_INTERVAL_DAY_TIME_TYPE}
	case "NULL", `"NULL"`:
		return columnType{id: tcli.TTypeId_NULL_TYPE}
	}
	return columnType{id: tcli.TTypeId_STRING_TYPE}
}

// schemaOf is a result's columns as the protocol describes them.
func schemaOf(columns []sqlwire.Column) *tcli.TTableSchema {
	out := make([]*tcli.TColumnDesc, len(columns))
	for i, c := range columns {
		t := typeOf(c)
		entry := &tcli.TPrimitiveTypeEntry{Type: t.id}
		if t.id == tcli.TTypeId_DECIMAL_TYPE {
			entry.TypeQualifiers = &tcli.TTypeQualifiers{Qualifiers: map[string]*tcli.TTypeQualifierValue{
				"precision": {I32Value: ptr(t.precision)}, "scale": {I32Value: ptr(t.scale)},
			}}
		}
		comment := c.TypeText
		out[i] = &tcli.TColumnDesc{ColumnName: c.Name, Position: int32(i + 1), Comment: &comment,
			TypeDesc: &tcli.TTypeDesc{Types: []*tcli.TTypeEntry{{PrimitiveEntry: entry}}}}
	}
	return &tcli.TTableSchema{Columns: out}
}

// sliceRows are at most limit rows of the chunks from row offset on, fewer when they would
// cost more than budget bytes (at least one, so that a fetch always moves on).
func sliceRows(chunks [][][]*string, offset, limit, budget int64) [][]*string {
	var out [][]*string
	var cost int64
	for _, chunk := range chunks {
		if offset >= int64(len(chunk)) {
			offset -= int64(len(chunk))
			continue
		}
		for _, row := range chunk[offset:] {
			size := int64(8 * len(row))
			for _, v := range row {
				if v != nil {
					size += int64(len(*v))
				}
			}
			if int64(len(out)) >= limit || (len(out) > 0 && cost+size > budget) {
				return out
			}
			out, cost = append(out, row), cost+size
		}
		offset = 0
	}
	return out
}

// rowSet is rows as the protocol's columns: one typed list per column and a bitmap of NULLs.
func rowSet(columns []sqlwire.Column, offset int64, rows [][]*string) *tcli.TRowSet {
	set := &tcli.TRowSet{StartRowOffset: offset, Rows: []*tcli.TRow{}, Columns: make([]*tcli.TColumn, len(columns))}
	for i, c := range columns {
		set.Columns[i] = column(typeOf(c), rows, i)
	}
	set.ColumnCount = ptr(int32(len(columns)))
	return set
}

// column is column i of rows, in the list its type travels in.
func column(t columnType, rows [][]*string, i int) *tcli.TColumn {
	nulls := make([]byte, (len(rows)+7)/8)
	switch t.kind {
	case boolValues:
		return &tcli.TColumn{BoolVal: &tcli.TBoolColumn{Values: values(rows, i, nulls, func(s string) bool { return s == "true" }), Nulls: nulls}}
	case byteValues:
		return &tcli.TColumn{ByteVal: &tcli.TByteColumn{Values: values(rows, i, nulls, parseInt[int8](8)), Nulls: nulls}}
	case i16Values:
		return &tcli.TColumn{I16Val: &tcli.TI16Column{Values: values(rows, i, nulls, parseInt[int16](16)), Nulls: nulls}}
	case i32Values:
		return &tcli.TColumn{I32Val: &tcli.TI32Column{Values: values(rows, i, nulls, parseInt[int32](32)), Nulls: nulls}}
	case i64Values:
		return &tcli.TColumn{I64Val: &tcli.TI64Column{Values: values(rows, i, nulls, parseInt[int64](64)), Nulls: nulls}}
	case doubleValues:
		return &tcli.TColumn{DoubleVal: &tcli.TDoubleColumn{Values: values(rows, i, nulls, func(s string) float64 {
			f, _ := strconv.ParseFloat(s, 64)
			return f
		}), Nulls: nulls}}
	case binaryValues:
		return &tcli.TColumn{BinaryVal: &tcli.TBinaryColumn{Values: values(rows, i, nulls, func(s string) []byte {
			b, _ := base64.StdEncoding.DecodeString(s)
			return b
		}), Nulls: nulls}}
	}
	text := func(s string) string { return s }
	if t.id == tcli.TTypeId_TIMESTAMP_TYPE {
		text = timestampText
	}
	return &tcli.TColumn{StringVal: &tcli.TStringColumn{Values: values(rows, i, nulls, text), Nulls: nulls}}
}

// values are column i of rows parsed from the engine's text, with each NULL's bit set in nulls
// (least significant bit first) and the zero value in its place.
func values[T any](rows [][]*string, i int, nulls []byte, parse func(string) T) []T {
	out := make([]T, len(rows))
	for r, row := range rows {
		if v := row[i]; v == nil {
			nulls[r/8] |= 1 << (r % 8)
		} else {
			out[r] = parse(*v)
		}
	}
	return out
}

func parseInt[T int8 | int16 | int32 | int64](bits int) func(string) T {
	return func(s string) T {
		n, _ := strconv.ParseInt(s, 10, bits)
		return T(n)
	}
}

// timestampText is a timestamp as drivers and BI tools expect it: the engine writes ISO 8601's
// T, SQL has a space.
func timestampText(s string) string { return strings.Replace(s, "T", " ", 1) }
