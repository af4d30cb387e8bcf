package modelendpoint

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/servingcert"
	"github.com/serverlessplane/operator/pkg/certs"
	"github.com/serverlessplane/operator/pkg/naming"
)

// ensureCertificate keeps the endpoint's serving certificate (for every entity Service's DNS
// names) and the CA bundle current in its namespace, and returns when renewal is due.
func (r *Reconciler) ensureCertificate(ctx context.Context, ep *computev1.ModelEndpoint) (time.Time, error) {
	ca, err := r.Authority.Ensure(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if err := r.applier.ApplyOwned(ctx, ep, caBundle(ep, ca)); err != nil {
		return time.Time{}, err
	}
	renewAt, renewed, err := servingcert.Ensure(ctx, r.Client, r.applier, ca, servingRequest(ep, r.Config), r.Clock.Now())
	if err != nil {
		return time.Time{}, err
	}
	if renewed != "" {
		r.Recorder.Eventf(ep, nil, corev1.EventTypeNormal, "CertificateRenewed", "Renew", "renewed the serving certificate: %s", renewed)
	}
	return renewAt, nil
}

// caBundle is the ConfigMap with the CA bundle in the endpoint's namespace, which its
// BackendTLSPolicies name for the gateway to verify the entities' Services.
func caBundle(ep *computev1.ModelEndpoint, ca certs.Authority) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: caBundleName(ep), Namespace: ep.Namespace, Labels: map[string]string{computev1.LabelEndpoint: ep.Name}},
		Data:       map[string]string{servingcert.BundleKey: string(ca.Bundle())},
	}
}

// caBundleName names the ConfigMap with the CA certificate in an endpoint's namespace.
func caBundleName(ep *computev1.ModelEndpoint) string { return ep.Name + "-ca" }

// servingRequest is the endpoint's serving certificate: one for the Service names of every
// served entity in the spec, owned by the endpoint.
func servingRequest(ep *computev1.ModelEndpoint, cfg *configv1.OperatorConfig) servingcert.Request {
	var names []string
	for _, e := range ep.Spec.ServedEntities {
		names = append(names, servingcert.ServiceDNSNames(ep.Namespace, naming.ServedEntity(ep.Name, e.Name))...)
	}
	return servingcert.Request{
		Owner: ep, Secret: naming.ServingCertificate(ep.Name), Labels: map[string]string{computev1.LabelEndpoint: ep.Name},
		CommonName: ep.Name + "." + ep.Namespace, DNSNames: names,
		RenewBefore: cfg.Certificates.RenewBefore.Duration, Validity: cfg.Certificates.ServingValidity.Duration,
	}
}
