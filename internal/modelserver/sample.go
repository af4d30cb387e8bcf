package modelserver

import (
	_ "embed"
	"fmt"
	"strings"
)

// SampleName names the sample model built into the binary: XGBoost multi:softprob on
// scikit-learn's iris data, made by sample/train.py (see docs/model-server.md).
const SampleName = "iris-xgboost"

var (
	//go:embed sample/iris.xgb
	sampleModel []byte
	//go:embed sample/iris.features
	sampleFeatures string
)

// LoadSample returns the sample model. Its features are sepal_length, sepal_width,
// petal_length and petal_width in centimetres; a prediction is the probabilities of setosa,
// versicolor and virginica.
func LoadSample() (*Model, error) {
	m, err := Parse(sampleModel, FormatXGBoost)
	if err != nil {
		return nil, fmt.Errorf("sample model: %w", err)
	}
	if err := m.setFeatures(strings.Fields(sampleFeatures)); err != nil {
		return nil, fmt.Errorf("sample model: %w", err)
	}
	return m, nil
}
