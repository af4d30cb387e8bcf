package modelserver

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseInput(t *testing.T) {
	named := Schema{Features: []string{"a", "b"}, NumFeatures: 2}
	positional := Schema{NumFeatures: 2}
	nan := math.NaN()
	for _, tc := range []struct {
		name    string
		schema  Schema
		body    string
		want    [][]float64
		wantErr string
	}{
		// dataframe_split
		{name: "split: columns in the model's order", schema: named,
			body: `{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}}`,
			want: [][]float64{{1, 2}, {3, 4}}},
		{name: "split: columns reordered to the model's", schema: named,
			body: `{"dataframe_split": {"columns": ["b", "a"], "data": [[2, 1]]}}`,
			want: [][]float64{{1, 2}}},
		{name: "split: unknown columns ignored, index allowed", schema: named,
			body: `{"dataframe_split": {"index": [7], "columns": ["id", "a", "b"], "data": [["x7", 1, 2]]}}`,
			want: [][]float64{{1, 2}}},
		{name: "split: without columns by position", schema: named,
			body: `{"dataframe_split": {"data": [[1, 2]]}}`,
			want: [][]float64{{1, 2}}},
		{name: "split: model without names takes columns by position", schema: positional,
			body: `{"dataframe_split": {"columns": ["y", "x"], "data": [[1, 2]]}}`,
			want: [][]float64{{1, 2}}},
		{name: "split: null is missing, booleans are 1 and 0", schema: named,
			body: `{"dataframe_split": {"columns": ["a", "b"], "data": [[null, true], [false, 1e-3]]}}`,
			want: [][]float64{{nan, 1}, {0, 0.001}}},
		{name: "split: missing feature column", schema: named,
			body:    `{"dataframe_split": {"columns": ["a", "c"], "data": [[1, 2]]}}`,
			wantErr: `dataframe_split.columns has no "b"; the model's features are a, b`},
		{name: "split: row shorter than columns", schema: named,
			body:    `{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}}`,
			wantErr: "dataframe_split.data[1] has 1 values for 2 columns"},
		{name: "split: duplicate column", schema: named,
			body:    `{"dataframe_split": {"columns": ["a", "a", "b"], "data": [[1, 1, 2]]}}`,
			wantErr: `dataframe_split.columns has "a" twice`},
		{name: "split: string value", schema: named,
			body:    `{"dataframe_split": {"columns": ["a", "b"], "data": [[1, "2"]]}}`,
			wantErr: `dataframe_split.data[0][1] (b): "2" is a string; the model takes numbers`},
		{name: "split: positional with the wrong width", schema: positional,
			body:    `{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]]}}`,
			wantErr: "dataframe_split.columns has 3 columns; the model has no feature names and takes 2 values by position"},
		{name: "split: no data", schema: named,
			body:    `{"dataframe_split": {"columns": ["a", "b"]}}`,
			wantErr: "dataframe_split has no data"},
		{name: "split: unknown field", schema: named,
			body:    `{"dataframe_split": {"cols": ["a", "b"], "data": [[1, 2]]}}`,
			wantErr: `dataframe_split must be {"columns": [names], "data": [[values]]}: json: unknown field "cols"`},
		{name: "split: data not a matrix", schema: named,
			body:    `{"dataframe_split": {"columns": ["a", "b"], "data": [1, 2]}}`,
			wantErr: `dataframe_split must be {"columns": [names], "data": [[values]]}: data is a JSON number`},

		// dataframe_records
		{name: "records: matched by name", schema: named,
			body: `{"dataframe_records": [{"b": 2, "a": 1}, {"a": 3, "b": null, "extra": "x"}]}`,
			want: [][]float64{{1, 2}, {3, nan}}},
		{name: "records: missing feature", schema: named,
			body:    `{"dataframe_records": [{"a": 1, "b": 2}, {"a": 3}]}`,
			wantErr: `dataframe_records[1] has no "b"; the model's features are a, b`},
		{name: "records: model without names", schema: positional,
			body:    `{"dataframe_records": [{"a": 1, "b": 2}]}`,
			wantErr: "dataframe_records[0] names its values, but the model has no feature names; send 2 values by position (a list, or dataframe_split with columns)"},
		{name: "records: a nested value", schema: named,
			body:    `{"dataframe_records": [{"a": [1], "b": 2}]}`,
			wantErr: "dataframe_records[0].a: a list is not a number"},
		{name: "records: not a list", schema: named,
			body:    `{"dataframe_records": {"a": 1, "b": 2}}`,
			wantErr: "dataframe_records must be a list of objects of named values: found a JSON object"},

		// instances
		{name: "instances: lists by position", schema: named,
			body: `{"instances": [[1, 2], [3, 4]]}`,
			want: [][]float64{{1, 2}, {3, 4}}},
		{name: "instances: objects by name", schema: named,
			body: `{"instances": [{"b": 2, "a": 1}]}`,
			want: [][]float64{{1, 2}}},
		{name: "instances: scalars are one-value rows", schema: Schema{NumFeatures: 1},
			body: `{"instances": [1, 2.5]}`,
			want: [][]float64{{1}, {2.5}}},
		{name: "instances: row of the wrong width names the features", schema: named,
			body:    `{"instances": [[1, 2, 3]]}`,
			wantErr: "instances[0] has 3 values; the model takes 2 (a, b)"},
		{name: "instances: scalars for a two-feature model", schema: positional,
			body:    `{"instances": [1, 2]}`,
			wantErr: "instances[0] has 1 values; the model takes 2"},
		{name: "instances: not a list", schema: named,
			body:    `{"instances": {"a": [1], "b": [2]}}`,
			wantErr: "instances must be a list of rows: found a JSON object"},
		{name: "instances: number out of range", schema: named,
			body:    `{"instances": [[1e999, 2]]}`,
			wantErr: "instances[0][0]: 1e999 is out of range"},

		// inputs
		{name: "inputs: rows", schema: named,
			body: `{"inputs": [[1, 2]]}`,
			want: [][]float64{{1, 2}}},
		{name: "inputs: columns", schema: named,
			body: `{"inputs": {"b": [2, 4], "a": [1, 3]}}`,
			want: [][]float64{{1, 2}, {3, 4}}},
		{name: "inputs: columns of different lengths", schema: named,
			body:    `{"inputs": {"a": [1, 3], "b": [2]}}`,
			wantErr: "inputs.b has 1 values, inputs.a has 2; every column needs one per row"},
		{name: "inputs: missing column", schema: named,
			body:    `{"inputs": {"a": [1]}}`,
			wantErr: `inputs has no column "b"; the model's features are a, b`},
		{name: "inputs: column of scalars", schema: named,
			body:    `{"inputs": {"a": 1, "b": 2}}`,
			wantErr: "inputs.a must be a list of values, one per row: found a JSON number"},
		{name: "inputs: columns for a model without names", schema: positional,
			body:    `{"inputs": {"a": [1], "b": [2]}}`,
			wantErr: "the model has no feature names, so inputs cannot be an object of columns; send a list of rows of 2 values"},
		{name: "inputs: a string", schema: named,
			body:    `{"inputs": "1,2"}`,
			wantErr: "inputs must be a list of rows or an object of columns: found a JSON string"},

		// the envelope
		{name: "params are ignored", schema: named,
			body: `{"params": {"temperature": 0.5}, "instances": [[1, 2]]}`,
			want: [][]float64{{1, 2}}},
		{name: "two formats", schema: named,
			body:    `{"instances": [[1, 2]], "inputs": [[1, 2]]}`,
			wantErr: "the body has both inputs and instances; send exactly one of dataframe_split, dataframe_records, instances, inputs"},
		{name: "no format", schema: named,
			body:    `{"params": {}}`,
			wantErr: "the body has none of dataframe_split, dataframe_records, instances, inputs"},
		{name: "unknown key", schema: named,
			body:    `{"data": [[1, 2]]}`,
			wantErr: `unknown key "data"; the body takes exactly one of dataframe_split, dataframe_records, instances, inputs (and optionally params)`},
		{name: "no rows", schema: named,
			body:    `{"instances": []}`,
			wantErr: "instances has no rows"},
		{name: "not JSON", schema: named,
			body:    `sepal_length,sepal_width`,
			wantErr: "the body is not a JSON object: invalid character 's' looking for beginning of value"},
		{name: "empty body", schema: named,
			body:    ``,
			wantErr: "the body is not a JSON object: empty"},
		{name: "a JSON list", schema: named,
			body:    `[[1, 2]]`,
			wantErr: "the body is not a JSON object: found a JSON array"},
		{name: "trailing data", schema: named,
			body:    `{"instances": [[1, 2]]} {"instances": [[1, 2]]}`,
			wantErr: "the body is not a JSON object: data after the JSON value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseInput([]byte(tc.body), tc.schema)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error: got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}
