package modelendpoint

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/apply"
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
}

// Ensure returns the CA, creating it on first use, and keeps the CA bundle ConfigMap and the
// gateway's client certificate current in the operator namespace.
func (a *Authority) Ensure(ctx context.Context) (certs.Pair, error) {
	ca, err := a.load(ctx)
	if err != nil {
		return ca, err
	}
	ns := a.Config.OperatorNamespace
	bundle := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: naming.CABundle, Namespace: ns},
		Data:       map[string]string{"ca.crt": string(ca.Cert)},
	}
	if _, err := a.Applier.Apply(ctx, bundle); err != nil {
		return ca, err
	}
	current := &corev1.Secret{}
	err = a.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.GatewayClientSecret}, current)
	if client.IgnoreNotFound(err) != nil {
		return ca, err
	}
	if renew, _ := certs.Renewal(current.Data[corev1.TLSCertKey], ca.Cert, nil, a.Clock.Now(), a.Config.Certificates.RenewBefore.Duration); !renew {
		return ca, nil
	}
	pair, err := certs.Issue(ca, certs.Client, GatewayClientName, nil, a.Clock.Now(), a.Config.Certificates.ServingValidity.Duration)
	if err != nil {
		return ca, err
	}
	_, err = a.Applier.Apply(ctx, tlsSecret(ns, naming.GatewayClientSecret, pair, ca))
	return ca, err
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

// tlsSecret holds a certificate, its key and the CA that signed it.
func tlsSecret(namespace, name string, pair, ca certs.Pair) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey: pair.Cert, corev1.TLSPrivateKeyKey: pair.Key, "ca.crt": ca.Cert,
		},
	}
}
