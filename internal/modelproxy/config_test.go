package modelproxy

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFromEnv(t *testing.T) {
	tlsEnv := map[string]string{"TLS_CERT_FILE": "/tls/tls.crt", "TLS_KEY_FILE": "/tls/tls.key", "TLS_CLIENT_CA_FILE": "/tls/ca.crt"}
	defaults := Config{
		Port: 8443, MetricsPort: 9090, Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:8080"},
		TLSCertFile: "/tls/tls.crt", TLSKeyFile: "/tls/tls.key", TLSClientCAFile: "/tls/ca.crt",
		AllowedClientNames: []string{"serverlessplane-gateway"}, ContainerConcurrency: 4, QueueDepth: 40,
		DrainGrace: 5 * time.Second, DrainTimeout: 30 * time.Second, RequestTimeout: 5 * time.Minute,
		MaxRequestBytes: 16 << 20, CertReloadInterval: 2 * time.Second,
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    func(*Config)
		wantErr []string
	}{
		{name: "defaults", env: tlsEnv, want: func(*Config) {}},
		{
			name: "everything set",
			env: merge(tlsEnv, map[string]string{
				"PORT": "9443", "METRICS_PORT": "9091", "UPSTREAM": "http://localhost:5000",
				"ALLOWED_CLIENT_NAMES": " gateway-a , gateway-b,,", "CONTAINER_CONCURRENCY": "2", "QUEUE_DEPTH": "7",
				"DRAIN_GRACE": "0", "DRAIN_TIMEOUT": "1m", "REQUEST_TIMEOUT": "45", "MAX_REQUEST_BYTES": "1024",
			}),
			want: func(c *Config) {
				c.Port, c.MetricsPort, c.Upstream = 9443, 9091, &url.URL{Scheme: "http", Host: "localhost:5000"}
				c.AllowedClientNames = []string{"gateway-a", "gateway-b"}
				c.ContainerConcurrency, c.QueueDepth = 2, 7
				c.DrainGrace, c.DrainTimeout, c.RequestTimeout, c.MaxRequestBytes = 0, time.Minute, 45*time.Second, 1024
			},
		},
		{name: "queue depth follows concurrency", env: merge(tlsEnv, map[string]string{"CONTAINER_CONCURRENCY": "3"}), want: func(c *Config) {
			c.ContainerConcurrency, c.QueueDepth = 3, 30
		}},
		{name: "no queue", env: merge(tlsEnv, map[string]string{"QUEUE_DEPTH": "0"}), want: func(c *Config) { c.QueueDepth = 0 }},
		{name: "TLS files missing", env: map[string]string{}, wantErr: []string{"TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CLIENT_CA_FILE"}},
		{
			name: "bad values",
			env: merge(tlsEnv, map[string]string{
				"PORT": "https", "CONTAINER_CONCURRENCY": "0", "DRAIN_TIMEOUT": "soon", "UPSTREAM": "https://model:8080",
				"ALLOWED_CLIENT_NAMES": ",", "METRICS_PORT": "8443",
			}),
			wantErr: []string{`PORT "https"`, "CONTAINER_CONCURRENCY 0", `DRAIN_TIMEOUT "soon"`, "UPSTREAM", "ALLOWED_CLIENT_NAMES", "PORT and METRICS_PORT"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("want an error naming %v, got none", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			want.AllowedClientNames = append([]string(nil), defaults.AllowedClientNames...)
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
