// Package servingcert keeps a workload's serving certificate, signed by the operator CA, current
// in a Secret of its namespace: issued on first use, renewed before it expires or when its
// names or the CA change.
package servingcert

import (
	"bytes"
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
	// Owner owns the Secret, which is garbage-collected with it and kept in its namespace.
	// Without an owner the Secret is in Namespace.
	Owner     client.Object
	Namespace string
	// Secret is the Secret's name; Labels are its labels.
	Secret string
	Labels map[string]string
	// Usage, CommonName and DNSNames are the certificate's use, subject and names.
	Usage      certs.Usage
	CommonName string
	DNSNames   []string
	// RenewBefore and Validity come from the operator configuration.
	RenewBefore, Validity time.Duration
}

// Ensure keeps the certificate current, signed by the CA's current certificate and with the
// CA's bundle as ca.crt, and returns when it is next due for renewal and, when it replaced an
// existing certificate, why. A bundle that changed (a CA published or retired) is written
// without re-issuing the certificate.
func Ensure(ctx context.Context, c client.Client, applier *apply.Applier, ca certs.Authority, r Request, now time.Time) (time.Time, string, error) {
	ns := r.Namespace
	if r.Owner != nil {
		ns = r.Owner.GetNamespace()
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: r.Secret}, secret); client.IgnoreNotFound(err) != nil {
		return time.Time{}, "", err
	}
	current := certs.Pair{Cert: secret.Data[corev1.TLSCertKey], Key: secret.Data[corev1.TLSPrivateKeyKey]}
	bundle, renewed := ca.Bundle(), ""
	renew, why := certs.Renewal(current.Cert, ca.Current.Cert, r.DNSNames, now, r.RenewBefore)
	if renew {
		pair, err := certs.Issue(ca.Current, r.Usage, r.CommonName, r.DNSNames, now, r.Validity)
		if err != nil {
			return time.Time{}, "", err
		}
		if len(current.Cert) > 0 {
			renewed = why
		}
		current = pair
	}
	if !renew && !bytes.Equal(secret.Data[BundleKey], bundle) && len(current.Key) == 0 {
		// The cache keeps no private key of a workload's certificate (apply.Lean): the new
		// bundle is written with the key the API server has.
		if err := applier.APIReader.Get(ctx, client.ObjectKeyFromObject(secret), secret); err != nil {
			return time.Time{}, "", err
		}
		current.Key = secret.Data[corev1.TLSPrivateKeyKey]
	}
	if renew || !bytes.Equal(secret.Data[BundleKey], bundle) {
		s := Secret(ns, r.Secret, current, bundle)
		s.Labels = r.Labels
		var err error
		if r.Owner != nil {
			err = applier.ApplyOwned(ctx, r.Owner, s)
		} else {
			_, err = applier.Apply(ctx, s)
		}
		if err != nil {
			return time.Time{}, "", err
		}
	}
	cert, err := certs.ParseCert(current.Cert)
	if err != nil {
		return time.Time{}, "", err
	}
	return cert.NotAfter.Add(-r.RenewBefore), renewed, nil
}

// BundleKey is the key of the CA bundle in a certificate's Secret and in CA bundle ConfigMaps.
const BundleKey = "ca.crt"

// Secret holds a certificate, its key and the CA bundle its peers are verified against.
func Secret(namespace, name string, pair certs.Pair, bundle []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey: pair.Cert, corev1.TLSPrivateKeyKey: pair.Key, BundleKey: bundle,
		},
	}
}

// ServiceDNSNames are the in-cluster names of a Service.
func ServiceDNSNames(namespace, service string) []string {
	return []string{service, service + "." + namespace, service + "." + namespace + ".svc", service + "." + namespace + ".svc.cluster.local"}
}
