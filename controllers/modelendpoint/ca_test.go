package modelendpoint

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/pkg/certs"
)

func TestCASecretRoundTrip(t *testing.T) {
	current := certs.Pair{Cert: []byte("current cert"), Key: []byte("current key")}
	tests := []struct {
		name     string
		ca       certs.Authority
		wantKeys []string
	}{
		{
			name:     "a CA alone writes only its certificate and key",
			ca:       certs.Authority{Current: current},
			wantKeys: []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey},
		},
		{
			name:     "a CA publishing its successor keeps the successor's key",
			ca:       certs.Authority{Current: current, Next: &certs.Pair{Cert: []byte("next cert"), Key: []byte("next key")}},
			wantKeys: []string{caNextCert, caNextKey, corev1.TLSCertKey, corev1.TLSPrivateKeyKey},
		},
		{
			name:     "a CA still publishing its predecessors keeps their certificates",
			ca:       certs.Authority{Current: current, Previous: []byte("previous certs")},
			wantKeys: []string{caPreviousCert, corev1.TLSCertKey, corev1.TLSPrivateKeyKey},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &corev1.Secret{Data: map[string][]byte{"stale": []byte("from an older release")}}
			encodeCA(s, tc.ca)
			if diff := cmp.Diff(tc.wantKeys, slices.Sorted(maps.Keys(s.Data))); diff != "" {
				t.Errorf("Secret keys (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.ca, decodeCA(s)); diff != "" {
				t.Errorf("decodeCA(encodeCA(ca)) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCAReadBackNeedsNoRotation(t *testing.T) {
	// What the operator writes to the CA Secret is all the rotation needs: read back (after a
	// restart, or by the other replica) the same CA is due for no step, not a new one.
	cfg := configv1.Default()
	a := &Authority{Config: cfg}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	created, changes, err := a.rotation().Step(certs.Authority{}, now)
	if err != nil || changes == "" {
		t.Fatalf("Step from no CA: changes %q, err %v; want a new CA", changes, err)
	}
	s := &corev1.Secret{}
	encodeCA(s, created)
	again, changes, err := a.rotation().Step(decodeCA(s), now.Add(time.Minute))
	if err != nil || changes != "" {
		t.Fatalf("Step of the CA read back: changes %q, err %v; want none", changes, err)
	}
	if diff := cmp.Diff(created, again); diff != "" {
		t.Errorf("CA read back (-want +got):\n%s", diff)
	}

	// Close to its end the CA publishes a successor, and that too survives the Secret.
	end := now.Add(cfg.Certificates.CAValidity.Duration - cfg.Certificates.ServingValidity.Duration - cfg.Certificates.RenewBefore.Duration)
	rotating, changes, err := a.rotation().Step(again, end)
	if err != nil || rotating.Next == nil {
		t.Fatalf("Step near the CA's end: changes %q, err %v, next %v; want a successor", changes, err, rotating.Next != nil)
	}
	encodeCA(s, rotating)
	if diff := cmp.Diff(rotating, decodeCA(s)); diff != "" {
		t.Errorf("rotating CA read back (-want +got):\n%s", diff)
	}
}
