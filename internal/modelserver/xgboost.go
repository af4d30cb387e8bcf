package modelserver

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/dmitryikh/leaves"
)

// XGBoost's binary format is a learner header (learnerParamSize bytes), the objective and
// booster names (each a little-endian uint64 length and the bytes), then the booster's own
// parameters and trees. leaves reads the layout of XGBoost before 1.0; XGBoost 1.0 to 1.7
// write the same layout with three differences, which normalizeXGBoost undoes on a copy:
//   - the file starts with the magic "binf";
//   - base_score is stored as the user gave it (a probability for logistic objectives) and
//     turned into a margin on load, where older versions stored the margin;
//   - the number of output groups moved from the gbtree parameters (now 0) to the learner's
//     num_class.
const (
	xgMagic = "binf"

	learnerParamSize       = 136
	learnerBaseScoreOffset = 0
	learnerNumClassOffset  = 8
	learnerMajorOffset     = 20

	gbtreeParamSize           = 160
	gbtreeOutputGroupOffset   = 24
	maxXGBoostNameLen         = 256
	xgboostFirstModernVersion = 1
)

// xgObjective is what serving needs to know of an XGBoost objective: how XGBoost turns the
// stored base_score into a margin, and how it turns the margins into a prediction.
type xgObjective struct {
	margin func(float64) float64
	output xgOutput
}

type xgOutput int

const (
	outputRaw xgOutput = iota
	outputSigmoid
	outputExp
	outputSoftmax
	outputArgmax
)

func identity(v float64) float64 { return v }
func logit(p float64) float64    { return -math.Log(1/p - 1) }

// xgObjectives are the objectives served, with XGBoost 1.7's ProbToMargin and PredTransform.
// Others (ranking, survival) fail to load rather than be served wrong.
var xgObjectives = map[string]xgObjective{
	"reg:squarederror":     {identity, outputRaw},
	"reg:linear":           {identity, outputRaw}, // the name of reg:squarederror before 1.0
	"reg:squaredlogerror":  {identity, outputRaw},
	"reg:pseudohubererror": {identity, outputRaw},
	"reg:absoluteerror":    {identity, outputRaw},
	"reg:logistic":         {logit, outputSigmoid},
	"binary:logistic":      {logit, outputSigmoid},
	"binary:logitraw":      {logit, outputRaw},
	"count:poisson":        {math.Log, outputExp},
	"reg:gamma":            {math.Log, outputExp},
	"reg:tweedie":          {math.Log, outputExp},
	"multi:softprob":       {identity, outputSoftmax},
	"multi:softmax":        {identity, outputArgmax},
}

// xgHeader is the part of the learner header serving reads.
type xgHeader struct {
	numClass           int
	objective, booster string
	// boosterOffset is where the booster's parameters start, after the magic is removed.
	boosterOffset int
}

func parseXGBoost(data []byte) (*Model, error) {
	data, h, err := normalizeXGBoost(data)
	if err != nil {
		return nil, fmt.Errorf("xgboost: %w", err)
	}
	obj := xgObjectives[h.objective]
	e, err := leaves.XGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), false)
	if err != nil {
		return nil, fmt.Errorf("xgboost: %w", err)
	}
	m := &Model{Format: FormatXGBoost, NumFeatures: e.NFeatures(), Outputs: e.NOutputGroups()}
	var transform func(raw, out []float64)
	switch obj.output {
	case outputSigmoid:
		transform = func(raw, out []float64) { out[0] = 1 / (1 + math.Exp(-raw[0])) }
	case outputExp:
		transform = func(raw, out []float64) { out[0] = math.Exp(raw[0]) }
	case outputSoftmax:
		transform = softmax
	case outputArgmax:
		m.Outputs = 1
		transform = func(raw, out []float64) {
			out[0] = float64(slices.Index(raw, slices.Max(raw)))
		}
	}
	m.predictRow = leavesPredictor(e, asXGBoostSees, transform)
	return m, nil
}

// asXGBoostSees rounds each value to float32 as XGBoost does when it builds its matrix, then
// moves it up to the next float32. XGBoost sends a value left when value < threshold, leaves
// when value <= threshold; for float32 values and thresholds, v < t exactly when
// nextUp(v) <= t, so a value equal to a threshold goes right, as in XGBoost. NaN stays NaN.
func asXGBoostSees(in, out []float64) {
	for i, v := range in {
		out[i] = float64(math.Nextafter32(float32(v), float32(math.Inf(1))))
	}
}

func softmax(raw, out []float64) {
	highest := slices.Max(raw)
	sum := 0.0
	for i, v := range raw {
		out[i] = math.Exp(v - highest)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
}

// normalizeXGBoost returns the model in the layout leaves reads, and its header.
func normalizeXGBoost(data []byte) ([]byte, xgHeader, error) {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return nil, xgHeader{}, errors.New("this is XGBoost's JSON or UBJSON format; save the model to a name ending in neither .json nor .ubj for the binary format")
	}
	data = bytes.TrimPrefix(data, []byte(xgMagic))
	h, err := readXGHeader(data)
	if err != nil {
		return nil, h, err
	}
	obj, ok := xgObjectives[h.objective]
	if !ok {
		return nil, h, fmt.Errorf("objective %q is not served (served: %s)", h.objective, strings.Join(servedObjectives(), ", "))
	}
	if h.booster != "gbtree" && h.booster != "dart" {
		return nil, h, fmt.Errorf("booster %q is not served (served: gbtree, dart)", h.booster)
	}
	if len(data) < h.boosterOffset+gbtreeParamSize {
		return nil, h, errors.New("the file ends inside the gbtree parameters")
	}
	if binary.LittleEndian.Uint32(data[learnerMajorOffset:]) < xgboostFirstModernVersion {
		return data, h, nil
	}
	data = slices.Clone(data)
	base := float64(math.Float32frombits(binary.LittleEndian.Uint32(data[learnerBaseScoreOffset:])))
	margin := obj.margin(base)
	if math.IsNaN(margin) || math.IsInf(margin, 0) {
		return nil, h, fmt.Errorf("base_score %g is outside objective %s's range", base, h.objective)
	}
	binary.LittleEndian.PutUint32(data[learnerBaseScoreOffset:], math.Float32bits(float32(margin)))
	binary.LittleEndian.PutUint32(data[h.boosterOffset+gbtreeOutputGroupOffset:], uint32(max(h.numClass, 1)))
	return data, h, nil
}

func readXGHeader(data []byte) (xgHeader, error) {
	var h xgHeader
	if len(data) < learnerParamSize {
		return h, errors.New("the file is shorter than XGBoost's binary header; is it an XGBoost binary model (not JSON or UBJSON)?")
	}
	h.numClass = int(int32(binary.LittleEndian.Uint32(data[learnerNumClassOffset:])))
	off := learnerParamSize
	readName := func(what string) (string, error) {
		if len(data) < off+8 {
			return "", fmt.Errorf("the file ends before the %s name", what)
		}
		n := binary.LittleEndian.Uint64(data[off:])
		if n > maxXGBoostNameLen || uint64(len(data)-off-8) < n {
			return "", fmt.Errorf("the %s name's length %d is not plausible; is it an XGBoost binary model (not JSON or UBJSON)?", what, n)
		}
		s := string(data[off+8 : off+8+int(n)])
		off += 8 + int(n)
		return s, nil
	}
	var err error
	if h.objective, err = readName("objective"); err != nil {
		return h, err
	}
	if h.booster, err = readName("booster"); err != nil {
		return h, err
	}
	h.boosterOffset = off
	return h, nil
}

func servedObjectives() []string {
	names := make([]string, 0, len(xgObjectives))
	for n := range xgObjectives {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
