package sqlengine

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/serverlessplane/operator/internal/envconfig"
	"github.com/serverlessplane/operator/internal/tpch"
)

// Defaults of the engine's settings.
const (
	DefaultPort        = 8443
	DefaultMetricsPort = 9090
	// DefaultTLSDir is where the operator mounts the pod's serving certificate.
	DefaultTLSDir = "/etc/serverlessplane/tls"
	// DefaultTPCHDir holds the TPC-H data the image carries, one directory per scale
	// (tpch.ScaleDirName); a scale the image lacks is generated into GeneratedTPCHDir.
	DefaultTPCHDir   = "/usr/share/serverlessplane/tpch"
	GeneratedTPCHDir = "/tmp/tpch"
	// DefaultAllowedClients is the gateway's client certificate name.
	DefaultAllowedClients = "serverlessplane-gateway"
	DefaultMaxRunning     = 16
)

// Config is the engine's settings, from environment variables (docs/sql-engine.md).
type Config struct {
	Port, MetricsPort            int
	TLSCert, TLSKey, TLSClientCA string
	AllowedClients               []string
	// TPCHScale is the TPC-H scale factor to show as the schema tpch; 0: none.
	TPCHScale float64
	// TPCHDirs are where the data of that scale is looked for, first the image's, then the
	// one it is generated into when missing.
	TPCHImageDir, TPCHGeneratedDir string
	DataDir                        string
	MaxRunning                     int
	StatementTimeout               time.Duration
	DrainTimeout                   time.Duration
	Threads                        int
	MemoryLimit                    string
	// TempDir is where DuckDB spills ("": nowhere); MaxTempSize bounds it (Options).
	TempDir, MaxTempSize string
}

// FromEnv reads the configuration through lookup (os.LookupEnv).
func FromEnv(lookup func(string) (string, bool)) (Config, error) {
	r := envconfig.Reader{Lookup: lookup}
	tlsDir := r.String("TLS_DIR", DefaultTLSDir)
	c := Config{
		Port:             r.Int("SERVERLESSPLANE_SQL_PORT", DefaultPort),
		MetricsPort:      r.Int("SERVERLESSPLANE_METRICS_PORT", DefaultMetricsPort),
		TLSCert:          filepath.Join(tlsDir, "tls.crt"),
		TLSKey:           filepath.Join(tlsDir, "tls.key"),
		TLSClientCA:      filepath.Join(tlsDir, "ca.crt"),
		AllowedClients:   r.List("ALLOWED_CLIENT_NAMES", DefaultAllowedClients),
		TPCHImageDir:     r.String("SERVERLESSPLANE_TPCH_DIR", DefaultTPCHDir),
		TPCHGeneratedDir: r.String("SERVERLESSPLANE_TPCH_GENERATED_DIR", GeneratedTPCHDir),
		DataDir:          r.String("SERVERLESSPLANE_DATA_DIR", ""),
		MaxRunning:       r.Int("MAX_RUNNING_STATEMENTS", DefaultMaxRunning),
		StatementTimeout: r.Duration("STATEMENT_TIMEOUT", 2*24*time.Hour),
		DrainTimeout:     r.Duration("DRAIN_TIMEOUT", 25*time.Second),
		Threads:          r.Int("SERVERLESSPLANE_THREADS", 0),
		MemoryLimit:      r.String("SERVERLESSPLANE_MEMORY_LIMIT", ""),
		TempDir:          r.String("SERVERLESSPLANE_TEMP_DIR", ""),
		MaxTempSize:      r.String("SERVERLESSPLANE_MAX_TEMP_SIZE", DefaultMaxTempSize),
	}
	// The container's memory limit (the downward API's limits.memory, in bytes): DuckDB gets
	// three quarters of it, leaving the rest to Go and the result being streamed.
	if n := r.Int("SERVERLESSPLANE_MEMORY_LIMIT_BYTES", 0); n > 0 && c.MemoryLimit == "" {
		c.MemoryLimit = strconv.Itoa(n/4*3/(1<<20)) + "MiB"
	}
	var v envconfig.Checks
	if s := r.String("SERVERLESSPLANE_TPCH_SCALE", ""); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		v.Check(err == nil && f >= 0, "SERVERLESSPLANE_TPCH_SCALE %q is not a scale factor: use a number such as 0.01 or 1", s)
		c.TPCHScale = f
	}
	v.Ports(c.Port, c.MetricsPort)
	v.Check(len(c.AllowedClients) > 0, "ALLOWED_CLIENT_NAMES names no client")
	v.Check(c.MaxRunning >= 1, "MAX_RUNNING_STATEMENTS %d is below 1", c.MaxRunning)
	v.Check(c.StatementTimeout > 0, "STATEMENT_TIMEOUT %s is not positive", c.StatementTimeout)
	v.Check(c.Threads >= 0, "SERVERLESSPLANE_THREADS %d is negative", c.Threads)
	if err := errors.Join(append(r.Errs, v.Err())...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// TPCHDir is the directory that holds the configured TPC-H scale: the image's when it carries
// it, else the generated one (which the caller generates); empty when no TPC-H data is asked.
func (c Config) TPCHDir() (dir string, generate bool) {
	if c.TPCHScale <= 0 {
		return "", false
	}
	name := tpch.ScaleDirName(c.TPCHScale)
	image := filepath.Join(c.TPCHImageDir, name)
	if _, err := os.Stat(filepath.Join(image, "lineitem.parquet")); err == nil {
		return image, false
	}
	return filepath.Join(c.TPCHGeneratedDir, name), true
}
