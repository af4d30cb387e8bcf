package certs

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func TestIssueVerifiesAgainstTheCA(t *testing.T) {
	ca, err := NewCA("test-ca", t0, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"ep-a.ws.svc", "ep-a.ws.svc.cluster.local"}
	leaf, err := Issue(ca, Serving, "ep", names, t0, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCert(leaf.Cert)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := ParseCert(ca.Cert)
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	for _, n := range names {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: n, Roots: roots, CurrentTime: t0.Add(time.Hour)}); err != nil {
			t.Errorf("verify %s: %v", n, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "other.ws.svc", Roots: roots, CurrentTime: t0}); err == nil {
		t.Error("a name outside the SANs verified")
	}
	client, err := Issue(ca, Client, "gateway", nil, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := ParseCert(client.Cert)
	if _, err := cc.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
}

func TestIssueNeverOutlivesTheCA(t *testing.T) {
	ca, _ := NewCA("short", t0, 24*time.Hour)
	leaf, err := Issue(ca, Serving, "x", []string{"x"}, t0, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ParseCert(leaf.Cert)
	if !cert.NotAfter.Equal(t0.Add(24 * time.Hour)) {
		t.Fatalf("NotAfter = %s, want the CA's", cert.NotAfter)
	}
}

func TestRenewal(t *testing.T) {
	ca, _ := NewCA("ca", t0, 365*24*time.Hour)
	other, _ := NewCA("other", t0, 365*24*time.Hour)
	names := []string{"b", "a"}
	leaf, _ := Issue(ca, Serving, "x", names, t0, 90*24*time.Hour)
	renewBefore := 30 * 24 * time.Hour
	tests := []struct {
		name    string
		cert    []byte
		ca      []byte
		names   []string
		at      time.Time
		renew   bool
		because string
	}{
		{name: "fresh", cert: leaf.Cert, ca: ca.Cert, names: []string{"a", "b"}, at: t0},
		{name: "just outside the window", cert: leaf.Cert, ca: ca.Cert, names: names, at: t0.Add(59*24*time.Hour + 23*time.Hour)},
		{name: "inside the window", cert: leaf.Cert, ca: ca.Cert, names: names, at: t0.Add(60 * 24 * time.Hour), renew: true, because: "renewal window"},
		{name: "missing", ca: ca.Cert, names: names, at: t0, renew: true, because: "no valid certificate"},
		{name: "names changed", cert: leaf.Cert, ca: ca.Cert, names: []string{"a"}, at: t0, renew: true, because: "DNS names"},
		{name: "other CA", cert: leaf.Cert, ca: other.Cert, names: names, at: t0, renew: true, because: "another CA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			renew, why := Renewal(tc.cert, tc.ca, tc.names, tc.at, renewBefore)
			if renew != tc.renew || !strings.Contains(why, tc.because) {
				t.Fatalf("Renewal = %t %q, want %t %q", renew, why, tc.renew, tc.because)
			}
		})
	}
}
