package modelproxy

import (
	"errors"
	"log/slog"
	"net/url"
	"time"

	"k8s.io/utils/clock"

	"github.com/serverlessplane/operator/internal/envconfig"
)

// Defaults of the environment variables the operator sets on the sidecar.
const (
	DefaultPort                 = 8443
	DefaultMetricsPort          = 9090
	DefaultUpstream             = "http://127.0.0.1:8080"
	DefaultAllowedClientNames   = "serverlessplane-gateway"
	DefaultContainerConcurrency = 4
	// DefaultQueueDepthPerSlot times CONTAINER_CONCURRENCY is the default QUEUE_DEPTH.
	DefaultQueueDepthPerSlot = 10
	DefaultDrainTimeout      = 30 * time.Second
	DefaultDrainGrace        = 5 * time.Second
	// DefaultRequestTimeout bounds a request from its arrival, queueing included, to the end of
	// its response.
	DefaultRequestTimeout = 5 * time.Minute
	// DefaultMaxRequestBytes is the largest request body forwarded to the model.
	DefaultMaxRequestBytes = 16 << 20
	// DefaultCertReloadInterval is how often, at most, a handshake checks the PEM files for a
	// rotation: the kubelet refreshes a Secret volume within about a minute, so a few seconds
	// is prompt and costs one stat per file.
	DefaultCertReloadInterval = 2 * time.Second
)

// Config is what the proxy needs; FromEnv reads it from the environment.
type Config struct {
	// Port is the HTTPS port for scoring traffic, on all addresses.
	Port int
	// MetricsPort is the plain HTTP port of /metrics, /healthz and /readyz.
	MetricsPort int
	// Upstream is the model container's base URL (plain HTTP on localhost).
	Upstream *url.URL
	// TLSCertFile, TLSKeyFile and TLSClientCAFile are the PEM serving certificate, its key
	// and the CA that client certificates must chain to.
	TLSCertFile, TLSKeyFile, TLSClientCAFile string
	// AllowedClientNames are the client certificates' Subject common names that may connect.
	AllowedClientNames []string
	// ContainerConcurrency is how many requests are forwarded to the model at once.
	ContainerConcurrency int
	// QueueDepth is how many more requests may wait, first in first out.
	QueueDepth int
	// DrainGrace is how long the listener keeps accepting after SIGTERM, while endpoints
	// stop routing to the pod.
	DrainGrace time.Duration
	// DrainTimeout bounds the wait for in-flight and queued requests after the grace.
	DrainTimeout time.Duration
	// RequestTimeout bounds a request, queueing included.
	RequestTimeout time.Duration
	// MaxRequestBytes bounds a request body.
	MaxRequestBytes int64
	// CertReloadInterval is how often, at most, the PEM files are checked for a rotation;
	// 0 checks on every handshake.
	CertReloadInterval time.Duration

	// Clock drives the drain grace and certificate reload checks; nil is the real clock.
	Clock clock.Clock
	// Logger receives the proxy's logs; nil is slog.Default().
	Logger *slog.Logger
}

// FromEnv reads the configuration from environment variables through lookup (os.LookupEnv),
// with the defaults above for those unset or empty.
func FromEnv(lookup func(string) (string, bool)) (Config, error) {
	r := envconfig.Reader{Lookup: lookup}
	cfg := Config{
		Port:                 r.Int("PORT", DefaultPort),
		MetricsPort:          r.Int("METRICS_PORT", DefaultMetricsPort),
		Upstream:             r.URL("UPSTREAM", DefaultUpstream),
		TLSCertFile:          r.String("TLS_CERT_FILE", ""),
		TLSKeyFile:           r.String("TLS_KEY_FILE", ""),
		TLSClientCAFile:      r.String("TLS_CLIENT_CA_FILE", ""),
		AllowedClientNames:   r.List("ALLOWED_CLIENT_NAMES", DefaultAllowedClientNames),
		ContainerConcurrency: r.Int("CONTAINER_CONCURRENCY", DefaultContainerConcurrency),
		DrainGrace:           r.Duration("DRAIN_GRACE", DefaultDrainGrace),
		DrainTimeout:         r.Duration("DRAIN_TIMEOUT", DefaultDrainTimeout),
		RequestTimeout:       r.Duration("REQUEST_TIMEOUT", DefaultRequestTimeout),
		MaxRequestBytes:      int64(r.Int("MAX_REQUEST_BYTES", DefaultMaxRequestBytes)),
		CertReloadInterval:   DefaultCertReloadInterval,
	}
	cfg.QueueDepth = r.Int("QUEUE_DEPTH", DefaultQueueDepthPerSlot*cfg.ContainerConcurrency)
	if err := errors.Join(append(r.Errs, cfg.Validate())...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports every setting that cannot work, naming its variable.
func (c Config) Validate() error {
	var v envconfig.Checks
	v.Ports(c.Port, c.MetricsPort)
	if c.Upstream != nil {
		v.Check(c.Upstream.Scheme == "http" && c.Upstream.Host != "" && c.Upstream.RawQuery == "" && c.Upstream.Fragment == "",
			"UPSTREAM %q is not an http://host:port URL without query", c.Upstream)
	} else {
		v.Check(false, "UPSTREAM is not set")
	}
	v.Check(c.TLSCertFile != "", "TLS_CERT_FILE is not set")
	v.Check(c.TLSKeyFile != "", "TLS_KEY_FILE is not set")
	v.Check(c.TLSClientCAFile != "", "TLS_CLIENT_CA_FILE is not set")
	v.Check(len(c.AllowedClientNames) > 0, "ALLOWED_CLIENT_NAMES names no client")
	v.Check(c.ContainerConcurrency >= 1, "CONTAINER_CONCURRENCY %d is below 1", c.ContainerConcurrency)
	v.Check(c.QueueDepth >= 0, "QUEUE_DEPTH %d is negative", c.QueueDepth)
	v.Check(c.DrainGrace >= 0, "DRAIN_GRACE %s is negative", c.DrainGrace)
	v.Check(c.DrainTimeout > 0, "DRAIN_TIMEOUT %s is not positive", c.DrainTimeout)
	v.Check(c.RequestTimeout > 0, "REQUEST_TIMEOUT %s is not positive", c.RequestTimeout)
	v.Check(c.MaxRequestBytes > 0, "MAX_REQUEST_BYTES %d is not positive", c.MaxRequestBytes)
	v.Check(c.CertReloadInterval >= 0, "the certificate reload interval %s is negative", c.CertReloadInterval)
	return v.Err()
}
