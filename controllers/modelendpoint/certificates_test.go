package modelendpoint

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/servingcert"
	"github.com/serverlessplane/operator/pkg/certs"
	"github.com/serverlessplane/operator/pkg/naming"
)

func TestServingRequest(t *testing.T) {
	cfg := configv1.Default()
	cfg.Certificates.RenewBefore.Duration, cfg.Certificates.ServingValidity.Duration = 24*time.Hour, 30*24*time.Hour
	endpoint := func(entities ...string) *computev1.ModelEndpoint {
		ep := &computev1.ModelEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "churn", Namespace: "ws"}}
		for _, e := range entities {
			ep.Spec.ServedEntities = append(ep.Spec.ServedEntities, computev1.ServedEntity{Name: e})
		}
		return ep
	}
	// dnsNames are the names a Service in namespace ws answers to.
	dnsNames := func(entity string) []string {
		svc := naming.ServedEntity("churn", entity)
		return []string{svc, svc + ".ws", svc + ".ws.svc", svc + ".ws.svc.cluster.local"}
	}
	tests := []struct {
		name      string
		ep        *computev1.ModelEndpoint
		wantNames []string
	}{
		{
			name:      "one certificate names every served entity's Service, in spec order",
			ep:        endpoint("champion", "challenger"),
			wantNames: append(dnsNames("champion"), dnsNames("challenger")...),
		},
		{
			name:      "an entity left out of the spec is left out of the certificate",
			ep:        endpoint("challenger"),
			wantNames: dnsNames("challenger"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := servingcert.Request{
				Owner: tc.ep, Secret: naming.ServingCertificate("churn"), Labels: map[string]string{computev1.LabelEndpoint: "churn"},
				CommonName: "churn.ws", DNSNames: tc.wantNames, RenewBefore: 24 * time.Hour, Validity: 30 * 24 * time.Hour,
			}
			if diff := cmp.Diff(want, servingRequest(tc.ep, cfg)); diff != "" {
				t.Errorf("servingRequest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCABundle(t *testing.T) {
	// The bundle carries the successor and the predecessors too, so that a gateway verifying
	// against it accepts certificates of any CA that still signs or has signed.
	ep := &computev1.ModelEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "churn", Namespace: "ws"}}
	ca := certs.Authority{Current: certs.Pair{Cert: []byte("current\n")}, Next: &certs.Pair{Cert: []byte("next\n")}, Previous: []byte("previous\n")}
	want := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "churn-ca", Namespace: "ws", Labels: map[string]string{computev1.LabelEndpoint: "churn"}},
		Data:       map[string]string{servingcert.BundleKey: "current\nnext\nprevious\n"},
	}
	if diff := cmp.Diff(want, caBundle(ep, ca)); diff != "" {
		t.Errorf("caBundle (-want +got):\n%s", diff)
	}
}
