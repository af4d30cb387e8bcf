package modelendpoint

import (
	"context"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
)

// deployments lists the endpoint's Deployments by served entity.
func (r *Reconciler) deployments(ctx context.Context, ep *computev1.ModelEndpoint) (map[string]*appsv1.Deployment, error) {
	list := &appsv1.DeploymentList{}
	if err := r.Client.List(ctx, list, client.InNamespace(ep.Namespace), client.MatchingLabels{computev1.LabelEndpoint: ep.Name}); err != nil {
		return nil, err
	}
	out := map[string]*appsv1.Deployment{}
	for i := range list.Items {
		d := &list.Items[i]
		// A Deployment by another name than its entity's is an older release's, pruned once
		// the pass has applied the entity's own.
		entity := d.Labels[computev1.LabelServedEntity]
		if metav1.IsControlledBy(d, ep) && d.DeletionTimestamp.IsZero() && d.Name == naming.ServedEntity(ep.Name, entity) {
			out[entity] = d
		}
	}
	return out, nil
}

// applyEntity applies a served entity's Deployment, at the replica count decided for it, and
// its Service, and returns the hash of the config the Deployment now asks for.
func (r *Reconciler) applyEntity(ctx context.Context, ep *computev1.ModelEndpoint, e *computev1.ServedEntity, replicas int32) (string, error) {
	dep, err := entityDeployment(ep, e, r.Config, replicas)
	if err != nil {
		return "", err
	}
	if err := r.applier.ApplyOwned(ctx, ep, dep); err != nil {
		return "", err
	}
	if err := r.applier.ApplyOwned(ctx, ep, entityService(ep, e.Name)); err != nil {
		return "", err
	}
	return dep.Annotations[AnnotationConfigHash], nil
}

// removeEntities deletes the objects of entities that left the spec and the route, and any
// other object of the endpoint by a name it no longer uses (the names of an older release).
// Only objects the endpoint controls are deleted.
func (r *Reconciler) removeEntities(ctx context.Context, ep *computev1.ModelEndpoint, order, removed []string) error {
	keep := sets.New(client.ObjectKey{Namespace: ep.Namespace, Name: naming.ServingCertificate(ep.Name)})
	for _, name := range order {
		if !slices.Contains(removed, name) {
			keep.Insert(client.ObjectKey{Namespace: ep.Namespace, Name: naming.ServedEntity(ep.Name, name)})
		}
	}
	lists := []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.SecretList{}}
	if r.gatewayAPI {
		lists = append(lists, &gatewayv1.BackendTLSPolicyList{})
	}
	for _, list := range lists {
		if _, err := r.applier.Prune(ctx, ep, list, keep, client.InNamespace(ep.Namespace), client.MatchingLabels{computev1.LabelEndpoint: ep.Name}); err != nil {
			return err
		}
	}
	for _, name := range removed {
		r.Recorder.Eventf(ep, nil, corev1.EventTypeNormal, "ServedEntityRemoved", "Route", "removed served entity %s: no traffic routes to it", name)
	}
	return nil
}
