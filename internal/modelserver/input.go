package modelserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The four input formats of MLflow's scoring protocol, the top-level keys of the request body.
const (
	// keySplit is a pandas DataFrame in "split" orientation:
	// {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}; "index" is allowed and ignored.
	keySplit = "dataframe_split"
	// keyRecords is a pandas DataFrame in "records" orientation: [{"a": 1, "b": 2}, ...].
	keyRecords = "dataframe_records"
	// keyInstances is TF Serving's row format: a list of rows, each a list of values or an
	// object of named values.
	keyInstances = "instances"
	// keyInputs is TF Serving's row format as under instances, or its columnar format: an
	// object of columns, each a list of values, one per row.
	keyInputs = "inputs"
	// keyParams carries inference parameters; the tree models take none, so it is ignored.
	keyParams = "params"
)

var inputKeys = []string{keySplit, keyRecords, keyInstances, keyInputs}

// Schema is what input parsing needs to know of the model.
type Schema struct {
	// Features are the model's feature names in column order; nil when it has none.
	Features []string
	// NumFeatures is how many values a row has.
	NumFeatures int
}

// ParseInput turns an MLflow scoring request body into rows of the model's features, in the
// model's column order. Named values (dataframe_split columns, records, objects) are matched
// to the model's feature names; a column the model does not know is ignored, as MLflow does,
// and a feature without a value is an error. A model without feature names takes values by
// position: dataframe_split in its column order, or rows as lists. JSON null is a missing
// value (NaN), true and false are 1 and 0. Errors name the format, the row and the column.
func ParseInput(body []byte, s Schema) ([][]float64, error) {
	var top map[string]json.RawMessage
	if err := decodeJSON(body, &top); err != nil {
		return nil, fmt.Errorf("the body is not a JSON object: %w", err)
	}
	var format string
	for _, key := range slices.Sorted(maps.Keys(top)) { // sorted, so the same body gets the same error
		switch {
		case slices.Contains(inputKeys, key):
			if format != "" {
				return nil, fmt.Errorf("the body has both %s and %s; send exactly one of %s", format, key, strings.Join(inputKeys, ", "))
			}
			format = key
		case key == keyParams:
		default:
			return nil, fmt.Errorf("unknown key %q; the body takes exactly one of %s (and optionally params)", key, strings.Join(inputKeys, ", "))
		}
	}
	if format == "" {
		return nil, fmt.Errorf("the body has none of %s", strings.Join(inputKeys, ", "))
	}
	p := parser{schema: s}
	var rows [][]float64
	var err error
	switch format {
	case keySplit:
		rows, err = p.split(top[format])
	case keyRecords:
		rows, err = p.records(top[format])
	case keyInstances, keyInputs:
		rows, err = p.tensor(format, top[format])
	}
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s has no rows", format)
	}
	return rows, nil
}

type parser struct {
	schema Schema
}

func (p parser) split(raw json.RawMessage) ([][]float64, error) {
	var df struct {
		Columns []string          `json:"columns"`
		Data    [][]any           `json:"data"`
		Index   []json.RawMessage `json:"index"`
	}
	if err := decodeJSON(raw, &df); err != nil {
		return nil, fmt.Errorf("%s must be {\"columns\": [names], \"data\": [[values]]}: %w", keySplit, err)
	}
	if df.Data == nil {
		return nil, fmt.Errorf("%s has no data", keySplit)
	}
	where := func(i int) string { return fmt.Sprintf("%s.data[%d]", keySplit, i) }
	if df.Columns == nil {
		return p.positionalRows(df.Data, where)
	}
	for i, c := range df.Columns {
		if slices.Index(df.Columns, c) != i {
			return nil, fmt.Errorf("%s.columns has %q twice", keySplit, c)
		}
	}
	for i, row := range df.Data {
		if len(row) != len(df.Columns) {
			return nil, fmt.Errorf("%s has %d values for %d columns", where(i), len(row), len(df.Columns))
		}
	}
	if p.schema.Features == nil {
		if len(df.Columns) != p.schema.NumFeatures {
			return nil, fmt.Errorf("%s.columns has %d columns; the model has no feature names and takes %d values by position", keySplit, len(df.Columns), p.schema.NumFeatures)
		}
		return p.positionalRows(df.Data, where)
	}
	// For each feature, the column that holds it.
	index := make([]int, len(p.schema.Features))
	for i, f := range p.schema.Features {
		if index[i] = slices.Index(df.Columns, f); index[i] < 0 {
			return nil, fmt.Errorf("%s.columns has no %q; the model's features are %s", keySplit, f, p.featureList())
		}
	}
	rows := make([][]float64, len(df.Data))
	for i, row := range df.Data {
		rows[i] = make([]float64, len(index))
		for j, c := range index {
			v, err := number(row[c])
			if err != nil {
				return nil, fmt.Errorf("%s[%d] (%s): %w", where(i), c, df.Columns[c], err)
			}
			rows[i][j] = v
		}
	}
	return rows, nil
}

func (p parser) records(raw json.RawMessage) ([][]float64, error) {
	var records []map[string]any
	if err := decodeJSON(raw, &records); err != nil {
		return nil, fmt.Errorf("%s must be a list of objects of named values: %w", keyRecords, err)
	}
	rows := make([][]float64, len(records))
	for i, rec := range records {
		row, err := p.namedRow(rec, fmt.Sprintf("%s[%d]", keyRecords, i))
		if err != nil {
			return nil, err
		}
		rows[i] = row
	}
	return rows, nil
}

// tensor reads instances or inputs: a list of rows, or (inputs only) an object of columns.
func (p parser) tensor(key string, raw json.RawMessage) ([][]float64, error) {
	if key == keyInputs && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		return p.columns(raw)
	}
	var list []any
	if err := decodeJSON(raw, &list); err != nil {
		if key == keyInputs {
			return nil, fmt.Errorf("%s must be a list of rows or an object of columns: %w", key, err)
		}
		return nil, fmt.Errorf("%s must be a list of rows: %w", key, err)
	}
	rows := make([][]float64, len(list))
	for i, item := range list {
		where := fmt.Sprintf("%s[%d]", key, i)
		var err error
		switch item := item.(type) {
		case []any:
			rows[i], err = p.positionalRow(item, where)
		case map[string]any:
			rows[i], err = p.namedRow(item, where)
		default:
			// A list of scalars is a list of one-value rows, as for a one-feature model.
			rows[i], err = p.positionalRow([]any{item}, where)
		}
		if err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// columns reads inputs in TF Serving's columnar format: {"a": [1, 3], "b": [2, 4]}.
func (p parser) columns(raw json.RawMessage) ([][]float64, error) {
	var raws map[string]json.RawMessage
	if err := decodeJSON(raw, &raws); err != nil {
		return nil, fmt.Errorf("%s must be an object of columns: %w", keyInputs, err)
	}
	if p.schema.Features == nil {
		return nil, fmt.Errorf("the model has no feature names, so %s cannot be an object of columns; send a list of rows of %d values", keyInputs, p.schema.NumFeatures)
	}
	cols := make(map[string][]any, len(p.schema.Features))
	n := -1
	for _, f := range p.schema.Features {
		colRaw, ok := raws[f]
		if !ok {
			return nil, fmt.Errorf("%s has no column %q; the model's features are %s", keyInputs, f, p.featureList())
		}
		var col []any
		if err := decodeJSON(colRaw, &col); err != nil {
			return nil, fmt.Errorf("%s.%s must be a list of values, one per row: %w", keyInputs, f, err)
		}
		if n >= 0 && len(col) != n {
			return nil, fmt.Errorf("%s.%s has %d values, %s.%s has %d; every column needs one per row", keyInputs, f, len(col), keyInputs, p.schema.Features[0], n)
		}
		cols[f], n = col, len(col)
	}
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, len(p.schema.Features))
		for j, f := range p.schema.Features {
			v, err := number(cols[f][i])
			if err != nil {
				return nil, fmt.Errorf("%s.%s[%d]: %w", keyInputs, f, i, err)
			}
			rows[i][j] = v
		}
	}
	return rows, nil
}

func (p parser) positionalRows(data [][]any, where func(int) string) ([][]float64, error) {
	rows := make([][]float64, len(data))
	for i, r := range data {
		row, err := p.positionalRow(r, where(i))
		if err != nil {
			return nil, err
		}
		rows[i] = row
	}
	return rows, nil
}

func (p parser) positionalRow(values []any, where string) ([]float64, error) {
	if len(values) != p.schema.NumFeatures {
		return nil, fmt.Errorf("%s has %d values; the model takes %d%s", where, len(values), p.schema.NumFeatures, p.featureHint())
	}
	row := make([]float64, len(values))
	for i, v := range values {
		f, err := number(v)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", where, i, err)
		}
		row[i] = f
	}
	return row, nil
}

func (p parser) namedRow(values map[string]any, where string) ([]float64, error) {
	if p.schema.Features == nil {
		return nil, fmt.Errorf("%s names its values, but the model has no feature names; send %d values by position (a list, or dataframe_split with columns)", where, p.schema.NumFeatures)
	}
	row := make([]float64, len(p.schema.Features))
	for i, f := range p.schema.Features {
		v, ok := values[f]
		if !ok {
			return nil, fmt.Errorf("%s has no %q; the model's features are %s", where, f, p.featureList())
		}
		n, err := number(v)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", where, f, err)
		}
		row[i] = n
	}
	return row, nil
}

func (p parser) featureList() string {
	return strings.Join(p.schema.Features, ", ")
}

func (p parser) featureHint() string {
	if p.schema.Features == nil {
		return ""
	}
	return " (" + p.featureList() + ")"
}

// number reads one value: a JSON number, null (missing, NaN) or a boolean (1 or 0).
func number(v any) (float64, error) {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return 0, fmt.Errorf("%s is out of range", v)
		}
		return f, nil
	case nil:
		return math.NaN(), nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case string:
		return 0, fmt.Errorf("%q is a string; the model takes numbers", v)
	default:
		return 0, fmt.Errorf("%s is not a number", jsonKind(v))
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// decodeJSON decodes exactly one JSON value into v, keeping numbers exact for number and
// rejecting object keys v has no field for.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return plainJSONError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// plainJSONError says what encoding/json found without Go type names.
func plainJSONError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field != "" {
			return fmt.Errorf("%s is a JSON %s", typeErr.Field, typeErr.Value)
		}
		return fmt.Errorf("found a JSON %s", typeErr.Value)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("empty")
	}
	return err
}
