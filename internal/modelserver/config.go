package modelserver

import (
	"errors"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/serverlessplane/operator/internal/envconfig"
)

// Defaults of the environment variables.
const (
	DefaultPort        = 8080
	DefaultMetricsPort = 9090
	// DefaultMaxRequestBytes bounds a scoring request's body, as the model proxy in front does.
	DefaultMaxRequestBytes = 16 << 20
	// DefaultDrainGrace is how long the server keeps accepting after SIGTERM, with /ping at
	// 503, while endpoints and the model proxy (whose DRAIN_GRACE is the same) stop sending.
	DefaultDrainGrace = 5 * time.Second
	// DefaultDrainTimeout bounds the wait for in-flight requests after the grace.
	DefaultDrainTimeout = 20 * time.Second
)

// Config is what the server needs; FromEnv reads it from the environment.
type Config struct {
	// Port is the plain HTTP port of the scoring protocol, on all addresses.
	Port int
	// MetricsPort is the plain HTTP port of /metrics.
	MetricsPort int
	// Model is the model to serve: MODEL_PATH, MODEL_FORMAT and MODEL_FEATURE_NAMES.
	Model Source
	// ModelName and ModelVersion describe the model in /version.
	ModelName, ModelVersion string
	// ServerVersion is this binary's version, for /version; main sets it.
	ServerVersion string
	// MaxRequestBytes bounds a request body.
	MaxRequestBytes int64
	// DrainGrace is how long the server keeps accepting after SIGTERM.
	DrainGrace time.Duration
	// DrainTimeout bounds the wait for in-flight requests after the grace.
	DrainTimeout time.Duration

	// Clock times the drain grace; nil is the real clock.
	Clock clock.Clock
}

// FromEnv reads the configuration from environment variables through lookup (os.LookupEnv),
// with the defaults above for those unset or empty.
func FromEnv(lookup func(string) (string, bool)) (Config, error) {
	r := envconfig.Reader{Lookup: lookup}
	cfg := Config{
		Port:        r.Int("PORT", DefaultPort),
		MetricsPort: r.Int("METRICS_PORT", DefaultMetricsPort),
		Model: Source{
			Path:     r.String("MODEL_PATH", ""),
			Format:   Format(strings.ToLower(r.String("MODEL_FORMAT", ""))),
			Features: r.List("MODEL_FEATURE_NAMES", ""),
		},
		ModelName:       r.String("MODEL_NAME", ""),
		ModelVersion:    r.String("MODEL_VERSION", ""),
		MaxRequestBytes: int64(r.Int("MAX_REQUEST_BYTES", DefaultMaxRequestBytes)),
		DrainGrace:      r.Duration("DRAIN_GRACE", DefaultDrainGrace),
		DrainTimeout:    r.Duration("DRAIN_TIMEOUT", DefaultDrainTimeout),
	}
	if err := errors.Join(append(r.Errs, cfg.Validate())...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports every setting that cannot work, naming its variable.
func (c Config) Validate() error {
	var v envconfig.Checks
	v.Ports(c.Port, c.MetricsPort)
	v.Check(c.Model.Format == "" || c.Model.Format == FormatXGBoost || c.Model.Format == FormatLightGBM,
		"MODEL_FORMAT %q is neither %s nor %s", c.Model.Format, FormatXGBoost, FormatLightGBM)
	v.Check(c.Model.Path != "" || (c.Model.Format == "" && len(c.Model.Features) == 0),
		"MODEL_FORMAT and MODEL_FEATURE_NAMES apply only with MODEL_PATH")
	v.Check(c.MaxRequestBytes > 0, "MAX_REQUEST_BYTES %d is not positive", c.MaxRequestBytes)
	v.Check(c.DrainGrace >= 0, "DRAIN_GRACE %s is negative", c.DrainGrace)
	v.Check(c.DrainTimeout > 0, "DRAIN_TIMEOUT %s is not positive", c.DrainTimeout)
	return v.Err()
}
