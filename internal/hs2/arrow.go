package hs2

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/serverlessplane/operator/internal/sqlwire"
	tcli "github.com/serverlessplane/operator/internal/thrift/tcliservice"
)

// Arrow results, for drivers that say they read them (canReadArrowResult): each fetch is one
// Arrow IPC record batch, and the result's metadata holds the IPC schema message that the
// driver puts before the batches to read them as a stream. The Arrow types are those the
// column-based sets travel in (integers, doubles, booleans and binaries typed; DECIMAL, DATE
// and TIMESTAMP as text with their protocol type), so a driver converts both the same way.

// eos is the end-of-stream marker an IPC writer closes with: a continuation token and a
// zero length.
const eos = 8

// arrowType is the Arrow type a column travels in.
func arrowType(t columnType) arrow.DataType {
	switch t.kind {
	case boolValues:
		return arrow.FixedWidthTypes.Boolean
	case byteValues:
		return arrow.PrimitiveTypes.Int8
	case i16Values:
		return arrow.PrimitiveTypes.Int16
	case i32Values:
		return arrow.PrimitiveTypes.Int32
	case i64Values:
		return arrow.PrimitiveTypes.Int64
	case doubleValues:
		return arrow.PrimitiveTypes.Float64
	case binaryValues:
		return arrow.BinaryTypes.Binary
	}
	return arrow.BinaryTypes.String
}

func arrowSchemaOf(columns []sqlwire.Column) *arrow.Schema {
	fields := make([]arrow.Field, len(columns))
	for i, c := range columns {
		fields[i] = arrow.Field{Name: c.Name, Type: arrowType(typeOf(c)), Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// arrowSchemaMessage is the IPC schema message of a result's columns.
func arrowSchemaMessage(columns []sqlwire.Column) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(arrowSchemaOf(columns)))
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes()[:buf.Len()-eos], nil
}

// arrowBatch is rows as one IPC record batch message.
func arrowBatch(columns []sqlwire.Column, rows [][]*string) ([]byte, error) {
	schema := arrowSchemaOf(columns)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i, c := range columns {
		if err := appendColumn(b.Field(i), typeOf(c), rows, i); err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	head, err := arrowSchemaMessage(columns)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	if err := w.Write(rec); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	return out[len(head) : len(out)-eos], nil
}

// appendColumn appends column i of rows, parsed from the engine's text.
func appendColumn(b array.Builder, t columnType, rows [][]*string, i int) error {
	for _, row := range rows {
		v := row[i]
		if v == nil {
			b.AppendNull()
			continue
		}
		var err error
		switch b := b.(type) {
		case *array.BooleanBuilder:
			b.Append(*v == "true")
		case *array.Int8Builder:
			var n int64
			n, err = strconv.ParseInt(*v, 10, 8)
			b.Append(int8(n))
		case *array.Int16Builder:
			var n int64
			n, err = strconv.ParseInt(*v, 10, 16)
			b.Append(int16(n))
		case *array.Int32Builder:
			var n int64
			n, err = strconv.ParseInt(*v, 10, 32)
			b.Append(int32(n))
		case *array.Int64Builder:
			var n int64
			n, err = strconv.ParseInt(*v, 10, 64)
			b.Append(n)
		case *array.Float64Builder:
			var f float64
			f, err = strconv.ParseFloat(*v, 64)
			b.Append(f)
		case *array.BinaryBuilder:
			var data []byte
			data, err = base64.StdEncoding.DecodeString(*v)
			b.Append(data)
		case *array.StringBuilder:
			s := *v
			if t.id == tcli.TTypeId_TIMESTAMP_TYPE {
				s = timestampText(s)
			}
			b.Append(s)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
