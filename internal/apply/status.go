package apply

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
