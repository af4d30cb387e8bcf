package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

var rotation = Rotation{CommonName: "test-ca", Validity: 365 * day, Leaf: 120 * day, Overlap: day}

func mustCA(t *testing.T, at time.Time, validity time.Duration) Pair {
	t.Helper()
	ca, err := NewCA("test-ca", at, validity)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func certCount(bundle []byte) int {
	n := 0
	for rest := bundle; ; n++ {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return n
		}
	}
}

func TestRotationStep(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca := mustCA(t, t0, 365*day)
	expires := t0.Add(365 * day)
	rotateAt := expires.Add(-rotation.Leaf - rotation.Overlap)
	next := mustCA(t, rotateAt, 365*day)
	other := mustCA(t, t0, 365*day)
	tests := []struct {
		name    string
		in      Authority
		now     time.Time
		check   func(t *testing.T, in, out Authority)
		changes string // a substring of the changes; empty: nothing changes
	}{
		{"a fresh CA is left alone", Authority{Current: ca}, t0.Add(day), nil, ""},
		{"a second before the rotation point nothing changes", Authority{Current: ca}, rotateAt.Add(-time.Second), nil, ""},
		{"at the rotation point the next CA is published, not signing", Authority{Current: ca}, rotateAt,
			func(t *testing.T, in, out Authority) {
				if !bytes.Equal(out.Current.Cert, ca.Cert) || out.Next == nil || certCount(out.Bundle()) != 2 {
					t.Fatalf("want the same signer and a published next CA, bundle of 2; got next %v, bundle of %d", out.Next != nil, certCount(out.Bundle()))
				}
			}, "published the next CA"},
		{"a second before the overlap ends the next CA still waits", Authority{Current: ca, Next: &next}, rotateAt.Add(rotation.Overlap - time.Second), nil, ""},
		{"once the overlap ends the next CA signs and the old one stays trusted", Authority{Current: ca, Next: &next}, rotateAt.Add(rotation.Overlap),
			func(t *testing.T, in, out Authority) {
				if !bytes.Equal(out.Current.Cert, next.Cert) || out.Next != nil || !bytes.Equal(out.Previous, ca.Cert) {
					t.Fatal("want next as the signer and the old CA as previous")
				}
			}, "the next CA signs now"},
		{"a second before the previous CA expires it is trusted", Authority{Current: next, Previous: ca.Cert}, expires.Add(-time.Second), nil, ""},
		{"once the previous CA expires it is dropped", Authority{Current: next, Previous: ca.Cert}, expires,
			func(t *testing.T, in, out Authority) {
				if len(out.Previous) != 0 || certCount(out.Bundle()) != 1 {
					t.Fatalf("bundle of %d, want only the current CA", certCount(out.Bundle()))
				}
			}, "stopped trusting a previous CA"},
		{"a key that is not the certificate's: a new CA signs, the old certificate stays trusted", Authority{Current: Pair{Cert: ca.Cert, Key: other.Key}}, t0.Add(day),
			func(t *testing.T, in, out Authority) {
				if bytes.Equal(out.Current.Cert, ca.Cert) || usable(out.Current, t0.Add(day)) != nil || !bytes.Equal(out.Previous, ca.Cert) {
					t.Fatal("want a new usable CA and the damaged one's certificate as previous")
				}
			}, "the key is not the certificate's"},
		{"garbage: a new CA", Authority{Current: Pair{Cert: []byte("x"), Key: []byte("y")}}, t0,
			func(t *testing.T, in, out Authority) {
				if usable(out.Current, t0) != nil || len(out.Previous) != 0 {
					t.Fatal("want a new usable CA and nothing previous")
				}
			}, "created a new CA"},
		{"an expired CA with a published next: the next signs at once", Authority{Current: ca, Next: &next}, expires,
			func(t *testing.T, in, out Authority) {
				if !bytes.Equal(out.Current.Cert, next.Cert) || len(out.Previous) != 0 {
					t.Fatal("want next as the signer and the expired CA not trusted")
				}
			}, "the next CA signs now"},
		{"a damaged next CA is dropped and published again", Authority{Current: ca, Next: &Pair{Cert: next.Cert, Key: other.Key}}, rotateAt.Add(time.Hour),
			func(t *testing.T, in, out Authority) {
				if out.Next == nil || bytes.Equal(out.Next.Cert, next.Cert) || usable(*out.Next, rotateAt) != nil {
					t.Fatal("want a new usable next CA")
				}
			}, "dropped a next CA that cannot sign"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, changes, err := rotation.Step(tc.in, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.changes == "" && changes != "" || !strings.Contains(changes, tc.changes) {
				t.Fatalf("changes = %q, want %q", changes, tc.changes)
			}
			if tc.changes == "" && !bytes.Equal(out.Bundle(), tc.in.Bundle()) {
				t.Fatal("nothing is due, yet the bundle changed")
			}
			if tc.check != nil {
				tc.check(t, tc.in, out)
			}
			if again, more, _ := rotation.Step(out, tc.now); more != "" || !bytes.Equal(again.Bundle(), out.Bundle()) {
				t.Fatalf("a second step at the same time changes again: %q", more)
			}
		})
	}
}

// TestRotationNeverClampsALeaf walks two years in one-day steps, re-issuing a leaf whenever
// Renewal says so, as the operator does: no leaf is ever issued clamped to its CA's expiry (the
// cause of re-keying on every pass), every live leaf verifies against the bundle, and each leaf
// is renewed only near the end of its validity or once after a rotation.
func TestRotationNeverClampsALeaf(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	validity, renewBefore := 90*day, 30*day
	r := Rotation{CommonName: "test-ca", Validity: 365 * day, Leaf: validity + renewBefore, Overlap: day}
	a := Authority{Current: mustCA(t, now, r.Validity)}
	var leaf []byte
	issued, rotations := 0, 0
	for end := now.Add(2 * 365 * day); now.Before(end); now = now.Add(day) {
		var changes string
		var err error
		if a, changes, err = r.Step(a, now); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(changes, "signs now") {
			rotations++
		}
		if renew, _ := Renewal(leaf, a.Current.Cert, []string{"svc"}, now, renewBefore); renew {
			pair, err := Issue(a.Current, Serving, "svc", []string{"svc"}, now, validity)
			if err != nil {
				t.Fatal(err)
			}
			leaf, issued = pair.Cert, issued+1
			if c, _ := ParseCert(leaf); c.NotAfter.Before(now.Add(validity)) {
				t.Fatalf("%s: a leaf clamped to its CA's expiry %s", now.Format(time.DateOnly), c.NotAfter)
			}
		}
		if err := verifies(leaf, a.Bundle(), now); err != nil {
			t.Fatalf("%s: the live leaf does not verify against the bundle: %v", now.Format(time.DateOnly), err)
		}
	}
	// 730 days: a renewal every 60 days (about 12) and one re-issue per rotation (2).
	if rotations != 2 || issued > 12+rotations+1 {
		t.Fatalf("%d rotations and %d leaves issued in two years, want 2 and at most %d", rotations, issued, 12+rotations+1)
	}
}

func verifies(leafPEM, bundle []byte, now time.Time) error {
	leaf, err := ParseCert(leafPEM)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now})
	return err
}
