package modelserver

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/dmitryikh/leaves"
)

// parseLightGBM reads LightGBM's text format, with the objective's transformation (sigmoid,
// softmax, exponential) applied as LightGBM's predict does, and the feature names of its
// header.
func parseLightGBM(data []byte) (*Model, error) {
	e, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), true)
	if err != nil {
		return nil, fmt.Errorf("lightgbm: %w", err)
	}
	m := &Model{Format: FormatLightGBM, NumFeatures: e.NFeatures(), Outputs: e.NOutputGroups()}
	m.predictRow = leavesPredictor(e, nil, nil)
	if names := lightGBMFeatureNames(data); names != nil {
		if err := m.setFeatures(names); err != nil {
			return nil, fmt.Errorf("lightgbm: feature_names: %w", err)
		}
	}
	return m, nil
}

// lightGBMFeatureNames returns the names of the header's feature_names line (space
// separated, in column order), or nil without one.
func lightGBMFeatureNames(data []byte) []string {
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			return nil // the header ends at the first blank line
		}
		if v, ok := bytes.CutPrefix(line, []byte("feature_names=")); ok {
			return strings.Fields(string(v))
		}
	}
	return nil
}
