package modelserver

import (
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// testHandler serves the sample model (or none, when loaded is false) with a small body limit.
func testHandler(t *testing.T, loaded bool) (*Handler, *Metrics, http.Handler) {
	t.Helper()
	metrics := NewMetrics(prometheus.NewRegistry())
	h := NewHandler(VersionInfo{ModelName: "iris", ModelVersion: "3", ModelSource: "embedded:" + SampleName, ServerVersion: "v0.1.0"},
		4096, metrics, slog.New(slog.DiscardHandler))
	if loaded {
		m, err := LoadSample()
		if err != nil {
			t.Fatal(err)
		}
		h.SetModel(m)
	}
	return h, metrics, h.Routes()
}

type reply struct {
	status  int
	header  http.Header
	body    string
	decoded map[string]any
}

func do(t *testing.T, h http.Handler, method, path, contentType, body string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := reply{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	if strings.TrimSpace(r.body) != "" {
		if err := json.Unmarshal(rec.Body.Bytes(), &r.decoded); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, r.body, err)
		}
	}
	return r
}

func TestInvocationsAllFormatsPredictTheSame(t *testing.T) {
	_, _, h := testHandler(t, true)
	g := readGolden(t, "sample/iris.golden.json")
	// Rows 0 and 1 of the golden file, from XGBoost: a setosa and a versicolor.
	want := g.Predictions[:2]
	for name, body := range map[string]string{
		"dataframe_split":             `{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "data": [[5.5, 3.5, 1.3, 0.2], [5.7, 2.8, 4.5, 1.3]]}}`,
		"dataframe_split, reordered":  `{"dataframe_split": {"columns": ["petal_width", "petal_length", "sepal_width", "sepal_length"], "data": [[0.2, 1.3, 3.5, 5.5], [1.3, 4.5, 2.8, 5.7]]}}`,
		"dataframe_records":           `{"dataframe_records": [{"sepal_length": 5.5, "sepal_width": 3.5, "petal_length": 1.3, "petal_width": 0.2}, {"sepal_length": 5.7, "sepal_width": 2.8, "petal_length": 4.5, "petal_width": 1.3}]}`,
		"instances":                   `{"instances": [[5.5, 3.5, 1.3, 0.2], [5.7, 2.8, 4.5, 1.3]]}`,
		"inputs, columns":             `{"inputs": {"sepal_length": [5.5, 5.7], "sepal_width": [3.5, 2.8], "petal_length": [1.3, 4.5], "petal_width": [0.2, 1.3]}}`,
		"inputs, rows, charset param": `{"inputs": [[5.5, 3.5, 1.3, 0.2], [5.7, 2.8, 4.5, 1.3]]}`,
	} {
		t.Run(name, func(t *testing.T) {
			ct := "application/json"
			if strings.Contains(name, "charset") {
				ct = "application/json; charset=utf-8"
			}
			r := do(t, h, http.MethodPost, "/invocations", ct, body)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got struct{ Predictions [][]float64 }
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got.Predictions, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= predictionTolerance })); diff != "" {
				t.Errorf("predictions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvocationsErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		loaded      bool
		contentType string
		body        string
		wantStatus  int
		wantError   map[string]any
	}{
		{name: "bad input names the problem", loaded: true, contentType: "application/json",
			body:       `{"dataframe_records": [{"sepal_length": 5.1}]}`,
			wantStatus: http.StatusBadRequest,
			wantError: map[string]any{"error_code": "BAD_REQUEST",
				"message": `invalid input: dataframe_records[0] has no "sepal_width"; the model's features are sepal_length, sepal_width, petal_length, petal_width`}},
		{name: "no Content-Type", loaded: true, body: `{"instances": [[1, 2, 3, 4]]}`,
			wantStatus: http.StatusUnsupportedMediaType,
			wantError:  map[string]any{"error_code": "BAD_REQUEST", "message": `Content-Type "" is not supported; send application/json`}},
		{name: "CSV", loaded: true, contentType: "text/csv", body: "1,2,3,4\n",
			wantStatus: http.StatusUnsupportedMediaType,
			wantError:  map[string]any{"error_code": "BAD_REQUEST", "message": `Content-Type "text/csv" is not supported; send application/json`}},
		{name: "body beyond the limit", loaded: true, contentType: "application/json",
			body:       `{"instances": [` + strings.Repeat("[1, 2, 3, 4], ", 400) + `[1, 2, 3, 4]]}`,
			wantStatus: http.StatusRequestEntityTooLarge,
			wantError:  map[string]any{"error_code": "BAD_REQUEST", "message": "the body exceeds 4096 bytes"}},
		{name: "model not loaded yet", loaded: false, contentType: "application/json",
			body:       `{"instances": [[1, 2, 3, 4]]}`,
			wantStatus: http.StatusServiceUnavailable,
			wantError:  map[string]any{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "the model is still loading"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, metrics, h := testHandler(t, tc.loaded)
			r := do(t, h, http.MethodPost, "/invocations", tc.contentType, tc.body)
			if r.status != tc.wantStatus {
				t.Errorf("status: got %d, want %d", r.status, tc.wantStatus)
			}
			if diff := cmp.Diff(tc.wantError, r.decoded); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if got := value(t, metrics.requests.WithLabelValues(routeInvocations, strconv.Itoa(tc.wantStatus))); got != 1 {
				t.Errorf(`serverlessplane_model_server_requests_total{route="invocations",code="%d"} = %v, want 1`, tc.wantStatus, got)
			}
		})
	}
}

func TestInvocationsCountsRowsAndRequests(t *testing.T) {
	_, metrics, h := testHandler(t, true)
	r := do(t, h, http.MethodPost, "/invocations", "application/json", `{"instances": [[5.5, 3.5, 1.3, 0.2], [5.7, 2.8, 4.5, 1.3], [6.1, 2.6, 5.6, 1.4]]}`)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if got := value(t, metrics.rows); got != 3 {
		t.Errorf("serverlessplane_model_server_predicted_rows_total = %v, want 3", got)
	}
	if got := value(t, metrics.requests.WithLabelValues(routeInvocations, "200")); got != 1 {
		t.Errorf(`serverlessplane_model_server_requests_total{route="invocations",code="200"} = %v, want 1`, got)
	}
	if got := series(metrics.duration); got != 1 {
		t.Errorf("serverlessplane_model_server_request_duration_seconds has %d series, want 1", got)
	}
	if got := value(t, metrics.inFlight); got != 0 {
		t.Errorf("serverlessplane_model_server_inflight_requests = %v after the request, want 0", got)
	}
}

func TestSingleOutputPredictionsAreNumbers(t *testing.T) {
	m := loadTestModel("testdata/breast_cancer")(t)
	metrics := NewMetrics(prometheus.NewRegistry())
	h := NewHandler(VersionInfo{}, DefaultMaxRequestBytes, metrics, slog.New(slog.DiscardHandler))
	h.SetModel(m)
	g := readGolden(t, "testdata/breast_cancer.golden.json")
	body, err := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": g.Features, "data": g.Rows[:3]}})
	if err != nil {
		t.Fatal(err)
	}
	r := do(t, h.Routes(), http.MethodPost, "/invocations", "application/json", string(body))
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var got struct{ Predictions []float64 }
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("predictions are not a list of numbers: %v: %s", err, r.body)
	}
	want := []float64{g.Predictions[0][0], g.Predictions[1][0], g.Predictions[2][0]}
	if diff := cmp.Diff(want, got.Predictions, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= predictionTolerance })); diff != "" {
		t.Errorf("predictions (-want +got):\n%s", diff)
	}
}

func TestPingAndHealth(t *testing.T) {
	for _, path := range []string{"/ping", "/health"} {
		t.Run(path, func(t *testing.T) {
			h, _, routes := testHandler(t, false)
			if r := do(t, routes, http.MethodGet, path, "", ""); r.status != http.StatusServiceUnavailable || r.decoded["message"] != "the model is still loading" {
				t.Errorf("before the model loads: %d %s", r.status, r.body)
			}
			m, err := LoadSample()
			if err != nil {
				t.Fatal(err)
			}
			h.SetModel(m)
			if r := do(t, routes, http.MethodGet, path, "", ""); r.status != http.StatusOK {
				t.Errorf("once loaded: %d %s", r.status, r.body)
			}
			h.Drain()
			if r := do(t, routes, http.MethodGet, path, "", ""); r.status != http.StatusServiceUnavailable || r.decoded["message"] != "the server is shutting down" {
				t.Errorf("draining: %d %s", r.status, r.body)
			}
			// Draining stops new traffic from arriving, not the traffic already routed here.
			if r := do(t, routes, http.MethodPost, "/invocations", "application/json", `{"instances": [[5.5, 3.5, 1.3, 0.2]]}`); r.status != http.StatusOK {
				t.Errorf("scoring while draining: %d %s", r.status, r.body)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	_, _, h := testHandler(t, false)
	r := do(t, h, http.MethodGet, "/version", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	want := map[string]any{"model_name": "iris", "model_version": "3", "model_source": "embedded:iris-xgboost", "server_version": "v0.1.0"}
	if diff := cmp.Diff(want, r.decoded); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	_, metrics, h := testHandler(t, true)
	for _, tc := range []struct {
		method, path string
		wantStatus   int
		wantAllow    string
		wantError    map[string]any
	}{
		{http.MethodGet, "/invocations", http.StatusMethodNotAllowed, "POST",
			map[string]any{"error_code": "BAD_REQUEST", "message": "/invocations takes POST, not GET"}},
		{http.MethodPost, "/ping", http.StatusMethodNotAllowed, "GET",
			map[string]any{"error_code": "BAD_REQUEST", "message": "/ping takes GET, not POST"}},
		{http.MethodGet, "/v1/models/iris:predict", http.StatusNotFound, "",
			map[string]any{"error_code": "ENDPOINT_NOT_FOUND", "message": "no route /v1/models/iris:predict; the server answers POST /invocations, GET /ping, GET /health and GET /version"}},
	} {
		r := do(t, h, tc.method, tc.path, "application/json", "{}")
		if r.status != tc.wantStatus || r.header.Get("Allow") != tc.wantAllow {
			t.Errorf("%s %s: got %d Allow %q, want %d Allow %q", tc.method, tc.path, r.status, r.header.Get("Allow"), tc.wantStatus, tc.wantAllow)
		}
		if diff := cmp.Diff(tc.wantError, r.decoded); diff != "" {
			t.Errorf("%s %s: body (-want +got):\n%s", tc.method, tc.path, diff)
		}
	}
	// Raw paths never become label values.
	if got := value(t, metrics.requests.WithLabelValues(routeUnmatched, "404")); got != 1 {
		t.Errorf(`serverlessplane_model_server_requests_total{route="unmatched",code="404"} = %v, want 1`, got)
	}
}

// value is the value of the one series c collects: a counter's or a gauge's.
func value(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	close(ch)
	var out dto.Metric
	if err := (<-ch).Write(&out); err != nil {
		t.Fatal(err)
	}
	switch {
	case out.Counter != nil:
		return out.Counter.GetValue()
	case out.Gauge != nil:
		return out.Gauge.GetValue()
	}
	t.Fatalf("%v is neither a counter nor a gauge", c)
	return 0
}

// series is how many series c has.
func series(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}
