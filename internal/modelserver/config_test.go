package modelserver

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFromEnv(t *testing.T) {
	defaults := Config{
		Port: 8080, MetricsPort: 9090, MaxRequestBytes: 16 << 20,
		DrainGrace: 5 * time.Second, DrainTimeout: 20 * time.Second,
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    func(c *Config)
		wantErr string
	}{
		{name: "defaults serve the embedded sample", env: nil, want: func(*Config) {}},
		{name: "everything set", env: map[string]string{
			"PORT": "8081", "METRICS_PORT": "8082", "MODEL_PATH": "/models/churn.txt", "MODEL_FORMAT": "LightGBM",
			"MODEL_FEATURE_NAMES": " tenure, plan ,,spend ", "MODEL_NAME": "churn", "MODEL_VERSION": "7",
			"MAX_REQUEST_BYTES": "1024", "DRAIN_GRACE": "0", "DRAIN_TIMEOUT": "1m",
		}, want: func(c *Config) {
			c.Port, c.MetricsPort = 8081, 8082
			c.Model = Source{Path: "/models/churn.txt", Format: FormatLightGBM, Features: []string{"tenure", "plan", "spend"}}
			c.ModelName, c.ModelVersion = "churn", "7"
			c.MaxRequestBytes, c.DrainGrace, c.DrainTimeout = 1024, 0, time.Minute
		}},
		{name: "every mistake at once", env: map[string]string{
			"PORT": "http", "METRICS_PORT": "70000", "MODEL_FORMAT": "onnx", "MAX_REQUEST_BYTES": "0", "DRAIN_GRACE": "soon",
		}, wantErr: "PORT \"http\" is not an integer\n" +
			"DRAIN_GRACE \"soon\" is neither a duration (30s) nor seconds (30)\n" +
			"METRICS_PORT 70000 is not a port\n" +
			"MODEL_FORMAT \"onnx\" is neither xgboost nor lightgbm\n" +
			"MODEL_FORMAT and MODEL_FEATURE_NAMES apply only with MODEL_PATH\n" +
			"MAX_REQUEST_BYTES 0 is not positive"},
		{name: "one port for both", env: map[string]string{"PORT": "9090"},
			wantErr: "PORT and METRICS_PORT are both 9090"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}
