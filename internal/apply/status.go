package apply

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serverlessplane/operator/pkg/conditions"
)

// PatchStatus writes obj's status through the status subresource if it differs from before's,
// and reports whether it wrote. before is obj as read at the start of the pass. An object that
// is gone is not an error.
func PatchStatus(ctx context.Context, c client.Client, before, obj client.Object) (bool, error) {
	was, err := runtime.DefaultUnstructuredConverter.ToUnstructured(before)
	if err != nil {
		return false, err
	}
	is, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return false, err
	}
	if equality.Semantic.DeepEqual(was["status"], is["status"]) {
		return false, nil
	}
	// An object deleted during the pass has no status left to write.
	return true, client.IgnoreNotFound(c.Status().Patch(ctx, obj, client.MergeFrom(before)))
}

// PatchFailedStatus ends a pass that failed with err: failed is a copy of before, whose
// conditions conds say that the pass failed (conditions.Failed) and whose status is otherwise
// what it was, observedGeneration included, since nothing new was observed in full. It returns
// err, joined with the status write's error. A conflict or an object that already exists is
// the cache lagging behind the API server, not a failure: it is retried at once and writes
// nothing. A write refused because the namespace is being deleted ends the pass quietly: the
// deletion takes what the pass would have written, and the namespace's removal starts the next
// pass (a workspace recreates its namespace).
func PatchFailedStatus(ctx context.Context, c client.Client, before, failed client.Object, conds *[]metav1.Condition, err error, now time.Time) error {
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return err
	}
	conditions.Failed(conds, err, failed.GetGeneration(), now)
	_, patchErr := PatchStatus(ctx, c, before, failed)
	return errors.Join(err, patchErr)
}
