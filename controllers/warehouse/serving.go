package warehouse

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/servingcert"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/netpolicy"
)

// applyService applies the Service that fronts the warehouse's serving pods and returns the
// warehouse endpoint.
func (r *Reconciler) applyService(ctx context.Context, wh *computev1.ServerlessWarehouse) (string, error) {
	port := resolveEngine(wh, r.Config).Port
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: wh.Name, Namespace: wh.Namespace, Labels: map[string]string{
			computev1.LabelWarehouse: wh.Name, computev1.LabelWorkspace: wh.Namespace,
		}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{computev1.LabelWarehouse: wh.Name, LabelServing: "true"},
			Ports: []corev1.ServicePort{{
				Name: netpolicy.PortSQL, Port: port, TargetPort: intstr.FromString(netpolicy.PortSQL), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
	if err := r.applier.ApplyOwned(ctx, wh, svc); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s.%s.svc:%d", wh.Name, wh.Namespace, port), nil
}

// ensureCertificate keeps the engines' serving certificate current, for the warehouse
// Service's names (the gateway verifies them).
func (r *Reconciler) ensureCertificate(ctx context.Context, wh *computev1.ServerlessWarehouse) error {
	ca, err := r.CA.Ensure(ctx)
	if err != nil {
		return err
	}
	_, renewed, err := servingcert.Ensure(ctx, r.Client, r.applier, ca, servingcert.Request{
		Owner: wh, Secret: naming.WarehouseCertificate(wh.Name), Labels: map[string]string{computev1.LabelWarehouse: wh.Name},
		CommonName: wh.Name + "." + wh.Namespace, DNSNames: servingcert.ServiceDNSNames(wh.Namespace, wh.Name),
		RenewBefore: r.Config.Certificates.RenewBefore.Duration, Validity: r.Config.Certificates.ServingValidity.Duration,
	}, r.Clock.Now())
	if renewed != "" {
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, "CertificateRenewed", "Renew", "renewed the engines' serving certificate: %s", renewed)
	}
	return err
}
