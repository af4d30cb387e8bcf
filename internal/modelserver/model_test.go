package modelserver

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// golden is what sample/train.py wrote: rows and XGBoost's own predictions for them.
type golden struct {
	Features    []string     `json:"features"`
	Rows        [][]*float64 `json:"rows"`
	Predictions [][]float64  `json:"predictions"`
}

func readGolden(t *testing.T, path string) golden {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// goldenRows returns the rows with null read as NaN, the missing value.
func (g golden) goldenRows() [][]float64 {
	rows := make([][]float64, len(g.Rows))
	for i, r := range g.Rows {
		rows[i] = make([]float64, len(r))
		for j, v := range r {
			rows[i][j] = math.NaN()
			if v != nil {
				rows[i][j] = *v
			}
		}
	}
	return rows
}

// XGBoost computes in float32, leaves in float64: beyond this relative difference a row took
// another branch or the link function is wrong.
const predictionTolerance = 1e-6

func TestPredictionsMatchTrainer(t *testing.T) {
	sample, err := LoadSample()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		model  func(t *testing.T) *Model
		golden string
	}{
		{"embedded sample: multi:softprob", func(*testing.T) *Model { return sample }, "sample/iris.golden.json"},
		{"binary:logistic", loadTestModel("testdata/breast_cancer"), "testdata/breast_cancer.golden.json"},
		{"reg:squarederror", loadTestModel("testdata/diabetes"), "testdata/diabetes.golden.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.model(t)
			g := readGolden(t, tc.golden)
			got, err := m.Predict(g.goldenRows())
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range g.Predictions {
				for k := range want {
					if math.Abs(got[i][k]-want[k]) > predictionTolerance*max(1, math.Abs(want[k])) {
						t.Errorf("row %d %v: got %v, XGBoost predicted %v", i, g.goldenRows()[i], got[i], want)
						break
					}
				}
			}
		})
	}
}

// loadTestModel loads <base>.xgb with the names of <base>.features, as MODEL_PATH and
// MODEL_FEATURE_NAMES would.
func loadTestModel(base string) func(t *testing.T) *Model {
	return func(t *testing.T) *Model {
		t.Helper()
		names, err := os.ReadFile(base + ".features")
		if err != nil {
			t.Fatal(err)
		}
		m, err := Load(Source{Path: base + ".xgb", Format: FormatXGBoost, Features: strings.Fields(string(names))})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
}

func TestLoadFeatureNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "iris.xgb")
	if err := os.WriteFile(path, sampleModel, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		source       Source
		wantFeatures []string
		wantErr      string
	}{
		{name: "XGBoost binary carries no names", source: Source{Path: path},
			wantFeatures: nil},
		{name: "MODEL_FEATURE_NAMES names them", source: Source{Path: path, Features: []string{"a", "b", "c", "d"}},
			wantFeatures: []string{"a", "b", "c", "d"}},
		{name: "one name short", source: Source{Path: path, Features: []string{"a", "b", "c"}},
			wantErr: path + ": 3 feature names for a model of 4 features"},
		{name: "a name twice", source: Source{Path: path, Features: []string{"a", "b", "a", "d"}},
			wantErr: path + `: feature name "a" appears twice`},
		{name: "the sample names them", source: Source{},
			wantFeatures: []string{"sepal_length", "sepal_width", "petal_length", "petal_width"}},
		{name: "names for the sample", source: Source{Features: []string{"a", "b", "c", "d"}},
			wantErr: "MODEL_FORMAT and MODEL_FEATURE_NAMES apply only with MODEL_PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(tc.source)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantFeatures, m.Features); diff != "" {
				t.Errorf("features (-want +got):\n%s", diff)
			}
		})
	}
}
