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

// Ensure returns the CA, creating it on first use, and keeps the CA bundle ConfigMap and the
// gateway's client certificate current in the operator namespace.
func (a *Authority) Ensure(ctx context.Context) (certs.Pair, error) {
	ca, err := a.load(ctx)
	if err != nil {
		return ca, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.Clock.Now()
	if bytes.Equal(a.checkedCA, ca.Cert) && now.Before(a.nextCheck) {
		return ca, nil
	}
	renewAt, err := a.ensureOperatorObjects(ctx, ca, now)
	if err != nil {
		return ca, err
	}
	a.checkedCA, a.nextCheck = ca.Cert, now.Add(recheck)
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
func (a *Authority) ensureOperatorObjects(ctx context.Context, ca certs.Pair, now time.Time) (time.Time, error) {
	ns := a.Config.OperatorNamespace
	bundle := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: naming.CABundle, Namespace: ns},
		Data:       map[string]string{"ca.crt": string(ca.Cert)},
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
		renewAt, err := a.ensureLeaf(ctx, ca, ns, want.secret, want.usage, want.names, now)
		if err != nil {
			return now, err
		}
		if renewAt.Before(next) {
			next = renewAt
		}
	}
	return next, nil
}

// ensureLeaf keeps one of the gateway's certificates current in the operator namespace, and
// returns when it is next due.
func (a *Authority) ensureLeaf(ctx context.Context, ca certs.Pair, ns, secret string, usage certs.Usage, names []string, now time.Time) (time.Time, error) {
	renewBefore := a.Config.Certificates.RenewBefore.Duration
	current := &corev1.Secret{}
	err := a.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: secret}, current)
	if client.IgnoreNotFound(err) != nil {
		return now, err
	}
	cert := current.Data[corev1.TLSCertKey]
	if renew, _ := certs.Renewal(cert, ca.Cert, names, now, renewBefore); renew {
		pair, err := certs.Issue(ca, usage, GatewayClientName, names, now, a.Config.Certificates.ServingValidity.Duration)
		if err != nil {
			return now, err
		}
		if _, err := a.Applier.Apply(ctx, servingcert.Secret(ns, secret, pair, ca)); err != nil {
			return now, err
		}
		cert = pair.Cert
	}
	parsed, err := certs.ParseCert(cert)
	if err != nil {
		return now, err
	}
	return parsed.NotAfter.Add(-renewBefore), nil
}

// load reads the CA Secret, or creates it. Create, not apply: of two writers, one wins and
// the other reads the winner's CA.
func (a *Authority) load(ctx context.Context) (certs.Pair, error) {
	key := client.ObjectKey{Namespace: a.Config.OperatorNamespace, Name: naming.CASecret}
	s := &corev1.Secret{}
	err := a.Client.Get(ctx, key, s)
	if apierrors.IsNotFound(err) {
		err = a.Reader.Get(ctx, key, s)
	}
	if err == nil {
		return certs.Pair{Cert: s.Data[corev1.TLSCertKey], Key: s.Data[corev1.TLSPrivateKeyKey]}, nil
	}
	if !apierrors.IsNotFound(err) {
		return certs.Pair{}, err
	}
	ca, err := certs.NewCA("serverlessplane-ca", a.Clock.Now(), a.Config.Certificates.CAValidity.Duration)
	if err != nil {
		return ca, err
	}
	s = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: map[string]string{
			computev1.LabelManagedBy: computev1.ManagedByValue,
		}},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: ca.Cert, corev1.TLSPrivateKeyKey: ca.Key},
	}
	if err := a.Client.Create(ctx, s); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return certs.Pair{}, fmt.Errorf("the CA was created concurrently; retrying: %w", err)
		}
		return certs.Pair{}, err
	}
	return ca, nil
}
