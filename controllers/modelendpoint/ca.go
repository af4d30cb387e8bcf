package modelendpoint

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/apply"
	"github.com/serverlessplane/operator/internal/servingcert"
	"github.com/serverlessplane/operator/pkg/certs"
	"github.com/serverlessplane/operator/pkg/naming"
)

// GatewayClientName is the common name of the control-plane gateway's client certificate.
const GatewayClientName = "serverlessplane-gateway"

// Authority is the operator-managed CA. Its key never leaves the operator namespace; it signs
// each endpoint's serving certificate (written only to the endpoint's namespace) and the
// gateway's client certificate (written only to the operator namespace).
type Authority struct {
	Client client.Client
	// Reader reads the CA Secret fresh when creating it, so that two operator replicas agree.
	Reader  client.Reader
	Config  *configv1.OperatorConfig
	Clock   clock.PassiveClock
	Applier *apply.Applier

	// mu guards what the last check of the operator-wide objects saw: the CA it checked them
	// against and when they are next due.
	mu        sync.Mutex
	checkedCA []byte
	nextCheck time.Time
}

// recheck bounds how long the operator-wide objects (the CA bundle and the gateway's client
// certificate) go unchecked between endpoint passes: every endpoint needs the CA on every pass,
// but these change only with the CA or at renewal.
const recheck = 5 * time.Minute

// Ensure returns the CA, creating it on first use and rotating it when due, and keeps the CA
// bundle ConfigMap and the gateway's certificates current in the operator namespace.
func (a *Authority) Ensure(ctx context.Context) (certs.Authority, error) {
	ca, err := a.load(ctx)
	if err != nil {
		return ca, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.Clock.Now()
	bundle := ca.Bundle()
	if bytes.Equal(a.checkedCA, bundle) && now.Before(a.nextCheck) {
		return ca, nil
	}
	renewAt, err := a.ensureOperatorObjects(ctx, ca, now)
	if err != nil {
		return ca, err
	}
	a.checkedCA, a.nextCheck = bundle, now.Add(recheck)
	if renewAt.Before(a.nextCheck) {
		a.nextCheck = renewAt
	}
	return ca, nil
}

// Start keeps the CA and the gateway's certificates current while the operator leads, whether
// or not any endpoint exists: a manager Runnable. A failed check is retried after a short wait.
func (a *Authority) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("ca")
	for {
		wait := recheck
		if _, err := a.Ensure(ctx); err != nil {
			log.Error(err, "keeping the CA and the gateway's certificates current")
			wait = 5 * time.Second
		}
		// Real time: the injected clock dates certificates, this only paces the checks.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// ensureOperatorObjects applies the CA bundle and renews the gateway's client and serving
// certificates when due, and returns when they will next be due.
func (a *Authority) ensureOperatorObjects(ctx context.Context, ca certs.Authority, now time.Time) (time.Time, error) {
	ns := a.Config.OperatorNamespace
	bundle := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: naming.CABundle, Namespace: ns},
		Data:       map[string]string{servingcert.BundleKey: string(ca.Bundle())},
	}
	if _, err := a.Applier.Apply(ctx, bundle); err != nil {
		return now, err
	}
	gatewayNames := append(servingcert.ServiceDNSNames(ns, naming.GatewayService), a.Config.ControlPlane.Gateway.Hostname, "*."+a.Config.ControlPlane.Gateway.Hostname)
	next := now.Add(recheck)
	for _, want := range []struct {
		secret string
		usage  certs.Usage
		names  []string
	}{
		{naming.GatewayClientSecret, certs.Client, nil},
		{naming.GatewayServingSecret, certs.Serving, gatewayNames},
	} {
		renewAt, _, err := servingcert.Ensure(ctx, a.Client, a.Applier, ca, servingcert.Request{
			Namespace: ns, Secret: want.secret, Usage: want.usage, CommonName: GatewayClientName, DNSNames: want.names,
			RenewBefore: a.Config.Certificates.RenewBefore.Duration, Validity: a.Config.Certificates.ServingValidity.Duration,
		}, now)
		if err != nil {
			return now, err
		}
		if renewAt.Before(next) {
			next = renewAt
		}
	}
	return next, nil
}

// Keys of the CA Secret besides tls.crt and tls.key (the CA that signs).
const (
	caNextCert     = "next.crt"
	caNextKey      = "next.key"
	caPreviousCert = "previous.crt"
)

// rotation is when the CA rotates, from the operator configuration.
func (a *Authority) rotation() certs.Rotation {
	c := a.Config.Certificates
	return certs.Rotation{CommonName: "serverlessplane-ca", Validity: c.CAValidity.Duration,
		Leaf: c.ServingValidity.Duration + c.RenewBefore.Duration, Overlap: c.CAOverlap.Duration}
}

// load reads the CA Secret, or creates it, and writes the rotation steps that are due. Create,
// not apply, and update at the resourceVersion read: of two writers, one wins and the other
// reads the winner's CA.
func (a *Authority) load(ctx context.Context) (certs.Authority, error) {
	key := client.ObjectKey{Namespace: a.Config.OperatorNamespace, Name: naming.CASecret}
	s := &corev1.Secret{}
	err := a.Client.Get(ctx, key, s)
	if apierrors.IsNotFound(err) {
		err = a.Reader.Get(ctx, key, s)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return certs.Authority{}, err
	}
	found := err == nil
	was := decodeCA(s)
	ca, changes, err := a.rotation().Step(was, a.Clock.Now())
	if err != nil || changes == "" {
		return ca, err
	}
	if !found {
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: map[string]string{
			computev1.LabelManagedBy: computev1.ManagedByValue,
		}}, Type: corev1.SecretTypeTLS}
		encodeCA(s, ca)
		if err := a.Client.Create(ctx, s); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return certs.Authority{}, fmt.Errorf("the CA was created concurrently; retrying: %w", err)
			}
			return certs.Authority{}, err
		}
		return ca, nil
	}
	s = s.DeepCopy()
	encodeCA(s, ca)
	if err := a.Client.Update(ctx, s); err != nil {
		return certs.Authority{}, fmt.Errorf("rotating the CA (%s): %w", changes, err)
	}
	ctrl.LoggerFrom(ctx).Info("rotated the CA", "changes", changes)
	return ca, nil
}

// decodeCA reads the CA Secret's certificates; what is missing stays empty, for Step to judge.
func decodeCA(s *corev1.Secret) certs.Authority {
	ca := certs.Authority{Current: certs.Pair{Cert: s.Data[corev1.TLSCertKey], Key: s.Data[corev1.TLSPrivateKeyKey]},
		Previous: s.Data[caPreviousCert]}
	if cert, ok := s.Data[caNextCert]; ok {
		ca.Next = &certs.Pair{Cert: cert, Key: s.Data[caNextKey]}
	}
	return ca
}

// encodeCA writes ca into the CA Secret's data.
func encodeCA(s *corev1.Secret, ca certs.Authority) {
	s.Data = map[string][]byte{corev1.TLSCertKey: ca.Current.Cert, corev1.TLSPrivateKeyKey: ca.Current.Key}
	if ca.Next != nil {
		s.Data[caNextCert], s.Data[caNextKey] = ca.Next.Cert, ca.Next.Key
	}
	if len(ca.Previous) > 0 {
		s.Data[caPreviousCert] = ca.Previous
	}
}
