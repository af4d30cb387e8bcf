// Package servingcert keeps a workload's serving certificate, signed by the operator CA, current
// in a Secret of its namespace: issued on first use, renewed before it expires or when its
// names or the CA change.
package servingcert

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serverlessplane/operator/internal/apply"
	"github.com/serverlessplane/operator/pkg/certs"
)

// Request is the certificate to keep.
type Request struct {
	// Owner owns the Secret; it is garbage-collected with it.
	Owner client.Object
	// Secret is the Secret's name in the owner's namespace; Labels are its labels.
	Secret string
	Labels map[string]string
	// CommonName and DNSNames are the certificate's subject and names.
	CommonName string
	DNSNames   []string
	// RenewBefore and Validity come from the operator configuration.
	RenewBefore, Validity time.Duration
}

// Ensure keeps the certificate current and returns when it is next due for renewal and, when it
// replaced an existing certificate, why.
func Ensure(ctx context.Context, c client.Client, applier *apply.Applier, ca certs.Pair, r Request, now time.Time) (time.Time, string, error) {
	ns := r.Owner.GetNamespace()
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: r.Secret}, secret); client.IgnoreNotFound(err) != nil {
		return time.Time{}, "", err
	}
	current, renewed := secret.Data[corev1.TLSCertKey], ""
	if renew, why := certs.Renewal(current, ca.Cert, r.DNSNames, now, r.RenewBefore); renew {
		pair, err := certs.Issue(ca, certs.Serving, r.CommonName, r.DNSNames, now, r.Validity)
		if err != nil {
			return time.Time{}, "", err
		}
		s := Secret(ns, r.Secret, pair, ca)
		s.Labels = r.Labels
		if err := applier.ApplyOwned(ctx, r.Owner, s); err != nil {
			return time.Time{}, "", err
		}
		if len(current) > 0 {
			renewed = why
		}
		current = pair.Cert
	}
	cert, err := certs.ParseCert(current)
	if err != nil {
		return time.Time{}, "", err
	}
	return cert.NotAfter.Add(-r.RenewBefore), renewed, nil
}

// Secret holds a certificate, its key and the CA that signed it.
func Secret(namespace, name string, pair, ca certs.Pair) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey: pair.Cert, corev1.TLSPrivateKeyKey: pair.Key, "ca.crt": ca.Cert,
		},
	}
}

// ServiceDNSNames are the in-cluster names of a Service.
func ServiceDNSNames(namespace, service string) []string {
	return []string{service, service + "." + namespace, service + "." + namespace + ".svc", service + "." + namespace + ".svc.cluster.local"}
}
