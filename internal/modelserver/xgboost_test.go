package modelserver

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// xgHeaderOnly is the start of an XGBoost binary model: a zero learner header and the two
// names, enough to reach the objective and booster checks.
func xgHeaderOnly(objective, booster string) []byte {
	var b bytes.Buffer
	b.WriteString(xgMagic)
	b.Write(make([]byte, learnerParamSize))
	for _, s := range []string{objective, booster} {
		_ = binary.Write(&b, binary.LittleEndian, uint64(len(s)))
		b.WriteString(s)
	}
	return b.Bytes()
}

func TestParseRefusesWhatItCannotServe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    []byte
		format  Format
		wantErr string
	}{
		{"XGBoost JSON", []byte(`{"learner": {}, "version": [1, 7, 4]}`), FormatXGBoost,
			"xgboost: this is XGBoost's JSON or UBJSON format; save the model to a name ending in neither .json nor .ubj for the binary format"},
		{"truncated", sampleModel[:100], FormatXGBoost,
			"xgboost: the file is shorter than XGBoost's binary header; is it an XGBoost binary model (not JSON or UBJSON)?"},
		{"ranking objective", xgHeaderOnly("rank:ndcg", "gbtree"), FormatXGBoost,
			`xgboost: objective "rank:ndcg" is not served (served: binary:logistic, binary:logitraw, count:poisson, multi:softmax, multi:softprob, reg:absoluteerror, reg:gamma, reg:linear, reg:logistic, reg:pseudohubererror, reg:squarederror, reg:squaredlogerror, reg:tweedie)`},
		{"linear booster", xgHeaderOnly("reg:squarederror", "gblinear"), FormatXGBoost,
			`xgboost: booster "gblinear" is not served (served: gbtree, dart)`},
		{"ends inside the booster", xgHeaderOnly("reg:squarederror", "gbtree"), FormatXGBoost,
			"xgboost: the file ends inside the gbtree parameters"},
		{"LightGBM garbage", []byte("tree\nversion=v9\n\n"), "",
			"lightgbm: "},
		{"unknown format", sampleModel, "onnx",
			`unknown model format "onnx" (want "xgboost" or "lightgbm")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data, tc.format)
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}
