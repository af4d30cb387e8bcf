// Package modelserver is the default model container of the serving data plane: it loads a
// gradient-boosted tree model (XGBoost binary or LightGBM text, evaluated in pure Go by
// github.com/dmitryikh/leaves) and answers MLflow's scoring protocol over plain HTTP.
//
// The pieces, one a file: the model and its loaders (model.go, xgboost.go, lightgbm.go,
// sample.go), the four MLflow input formats turned into a feature matrix (input.go, a pure
// function), the HTTP routes (handler.go), their metrics (metrics.go), the environment
// (config.go) and the listeners with their drain on SIGTERM (server.go).
package modelserver

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/dmitryikh/leaves"
)

// Format is a model file format the server reads.
type Format string

const (
	// FormatXGBoost is XGBoost's binary format (Booster.save_model to a name without .json or
	// .ubj), versions 0.7x to 1.7; gbtree and dart boosters.
	FormatXGBoost Format = "xgboost"
	// FormatLightGBM is LightGBM's text format (Booster.save_model), versions 2 and 3.
	FormatLightGBM Format = "lightgbm"
)

// Model is a loaded model: what it expects and how it predicts. It is safe for concurrent use.
type Model struct {
	// Format is the file format the model was read from.
	Format Format
	// Features are the model's feature names in column order, or nil when the model has
	// none; then inputs are matched by position.
	Features []string
	// NumFeatures is how many values a row has.
	NumFeatures int
	// Outputs is how many values a prediction has per row: 1 for a regression or a binary
	// classifier, the number of classes for a multi-class probability model.
	Outputs int

	predictRow func(row, out []float64) error
}

// Schema is what input parsing needs to know of the model.
func (m *Model) Schema() Schema {
	return Schema{Features: m.Features, NumFeatures: m.NumFeatures}
}

// Predict returns one prediction of m.Outputs values for each row of m.NumFeatures values.
// NaN is a missing value: each tree sends it down the branch training chose for missing values.
func (m *Model) Predict(rows [][]float64) ([][]float64, error) {
	out := make([][]float64, len(rows))
	for i, row := range rows {
		if len(row) != m.NumFeatures {
			return nil, fmt.Errorf("row %d has %d values, the model takes %d", i, len(row), m.NumFeatures)
		}
		out[i] = make([]float64, m.Outputs)
		if err := m.predictRow(row, out[i]); err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
	}
	return out, nil
}

// Source says which model to load: a file, or the embedded sample when Path is empty.
type Source struct {
	// Path is the model file; empty means the sample model built into the binary.
	Path string
	// Format is the file's format; empty means detected from its first bytes.
	Format Format
	// Features, when set, name the model's features in column order, replacing the names
	// the file carries (XGBoost's binary format carries none).
	Features []string
}

// String names the source for logs and /version.
func (s Source) String() string {
	if s.Path == "" {
		return "embedded:" + SampleName
	}
	return s.Path
}

// Load reads the model that s names.
func Load(s Source) (*Model, error) {
	if s.Path == "" {
		if s.Format != "" || len(s.Features) > 0 {
			return nil, errors.New("MODEL_FORMAT and MODEL_FEATURE_NAMES apply only with MODEL_PATH")
		}
		return LoadSample()
	}
	data, err := os.ReadFile(s.Path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(data, s.Format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	if len(s.Features) > 0 {
		if err := m.setFeatures(s.Features); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Path, err)
		}
	}
	return m, nil
}

// Parse reads a model from the bytes of its file; an empty format is detected (LightGBM's
// text format starts with the line "tree", anything else is taken for XGBoost).
func Parse(data []byte, format Format) (*Model, error) {
	if format == "" {
		format = detectFormat(data)
	}
	switch format {
	case FormatXGBoost:
		return parseXGBoost(data)
	case FormatLightGBM:
		return parseLightGBM(data)
	default:
		return nil, fmt.Errorf("unknown model format %q (want %q or %q)", format, FormatXGBoost, FormatLightGBM)
	}
}

func detectFormat(data []byte) Format {
	first, _, _ := strings.Cut(string(data[:min(len(data), 16)]), "\n")
	if strings.TrimSpace(first) == "tree" {
		return FormatLightGBM
	}
	return FormatXGBoost
}

// setFeatures names the model's features, checking there is one name per column and no
// name twice.
func (m *Model) setFeatures(names []string) error {
	if len(names) != m.NumFeatures {
		return fmt.Errorf("%d feature names for a model of %d features", len(names), m.NumFeatures)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return fmt.Errorf("feature name %q appears twice", n)
		}
		seen[n] = true
	}
	m.Features = names
	return nil
}

// leavesPredictor predicts one row with e, through prepare (nil keeps the row as it is) and
// then transform (nil keeps e's output).
func leavesPredictor(e *leaves.Ensemble, prepare func(in, out []float64), transform func(raw, out []float64)) func(row, out []float64) error {
	return func(row, out []float64) error {
		in := row
		if prepare != nil {
			in = make([]float64, len(row))
			prepare(row, in)
		}
		if transform == nil {
			return e.Predict(in, 0, out)
		}
		raw := make([]float64, e.NOutputGroups())
		if err := e.Predict(in, 0, raw); err != nil {
			return err
		}
		transform(raw, out)
		return nil
	}
}
