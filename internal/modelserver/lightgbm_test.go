package modelserver

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lightGBMStump is a LightGBM text model written by hand (LightGBM is not packaged for
// Debian, so none is trained here): one tree on y, raw -1 below 0.5 and +1 above, under a
// sigmoid. It checks the format's plumbing, not LightGBM's numerics, which leaves tests.
const lightGBMStump = `tree
version=v3
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=binary sigmoid:1
feature_names=x y
tree_sizes=160

Tree=0
num_leaves=2
num_cat=0
split_feature=1
split_gain=1
threshold=0.5
decision_type=2
left_child=-1
right_child=-2
leaf_value=-1 1
leaf_count=1 1
internal_value=0
internal_count=2
shrinkage=1


end of trees
`

func TestLightGBM(t *testing.T) {
	m, err := Parse([]byte(lightGBMStump), "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != FormatLightGBM || m.NumFeatures != 2 || m.Outputs != 1 {
		t.Errorf("got format %s, %d features, %d outputs; want lightgbm, 2, 1", m.Format, m.NumFeatures, m.Outputs)
	}
	if diff := cmp.Diff([]string{"x", "y"}, m.Features); diff != "" {
		t.Errorf("features (-want +got):\n%s", diff)
	}
	rows, err := ParseInput([]byte(`{"dataframe_records": [{"y": 0.5, "x": 9}, {"y": 0.6, "x": 9}]}`), m.Schema())
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Predict(rows)
	if err != nil {
		t.Fatal(err)
	}
	// LightGBM goes left when value <= threshold.
	sigmoid := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	if diff := cmp.Diff([][]float64{{sigmoid(-1)}, {sigmoid(1)}}, got); diff != "" {
		t.Errorf("predictions (-want +got):\n%s", diff)
	}
}
