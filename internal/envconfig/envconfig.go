// Package envconfig reads a container's settings from environment variables: typed values with
// defaults, and every variable that does not parse reported by name, all at once.
package envconfig

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Reader reads variables through Lookup (os.LookupEnv, or a map in tests) and collects the
// errors of those it cannot parse in Errs.
type Reader struct {
	Lookup func(string) (string, bool)
	Errs   []error
}

// String is the variable, trimmed, or def when it is unset or blank.
func (r *Reader) String(name, def string) string {
	if v, ok := r.Lookup(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// Int is the variable as an integer, or def.
func (r *Reader) Int(name string, def int) int {
	v := r.String(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.Errs = append(r.Errs, fmt.Errorf("%s %q is not an integer", name, v))
		return def
	}
	return n
}

// Duration accepts Go durations ("30s", "1m") and whole seconds ("30"), or is def.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	v := r.String(name, "")
	if v == "" {
		return def
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.Errs = append(r.Errs, fmt.Errorf("%s %q is neither a duration (30s) nor seconds (30)", name, v))
		return def
	}
	return d
}

// URL is the variable (or def) as a URL; nil when it does not parse.
func (r *Reader) URL(name, def string) *url.URL {
	v := r.String(name, def)
	u, err := url.Parse(v)
	if err != nil {
		r.Errs = append(r.Errs, fmt.Errorf("%s %q is not a URL", name, v))
		return nil
	}
	return u
}

// List is the variable (or def) split at commas, blanks dropped.
func (r *Reader) List(name, def string) []string {
	var out []string
	for n := range strings.SplitSeq(r.String(name, def), ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Checks collects every setting that cannot work, each naming its variable.
type Checks struct{ errs []error }

// Check records the message when ok is false.
func (c *Checks) Check(ok bool, format string, args ...any) {
	if !ok {
		c.errs = append(c.errs, fmt.Errorf(format, args...))
	}
}

// Ports checks PORT and METRICS_PORT: both ports, and not the same one.
func (c *Checks) Ports(port, metricsPort int) {
	c.Check(port > 0 && port < 65536, "PORT %d is not a port", port)
	c.Check(metricsPort > 0 && metricsPort < 65536, "METRICS_PORT %d is not a port", metricsPort)
	c.Check(port != metricsPort, "PORT and METRICS_PORT are both %d", port)
}

// Err joins what was recorded; nil when every check passed.
func (c *Checks) Err() error { return errors.Join(c.errs...) }
