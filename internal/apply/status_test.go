package apply

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// terminating is the API server's answer to a create in a namespace being deleted.
func terminating() error {
	err := apierrors.NewForbidden(corev1.Resource("serviceaccounts"), "workspace-workload",
		fmt.Errorf("unable to create new content in namespace analytics because it is being terminated"))
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: corev1.NamespaceTerminatingCause})
	return err
}

func TestPatchFailedStatus(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := computev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		err       error
		wantErr   bool
		wantWrite bool
	}{
		{"a failure is written and returned", fmt.Errorf("applying: %w", apierrors.NewBadRequest("no")), true, true},
		{"a conflict is retried without a write", apierrors.NewConflict(corev1.Resource("services"), "x", fmt.Errorf("stale")), true, false},
		{"a terminating namespace ends the pass quietly", fmt.Errorf("applying ServiceAccount: %w", terminating()), false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := &computev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "analytics", Generation: 1}}
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(ws).WithStatusSubresource(ws).Build()
			before := ws.DeepCopy()
			failed := before.DeepCopy()
			err := PatchFailedStatus(context.Background(), c, before, failed, &failed.Status.Conditions, tc.err, time.Unix(0, 0))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want an error: %t", err, tc.wantErr)
			}
			live := &computev1.Workspace{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(ws), live); err != nil {
				t.Fatal(err)
			}
			if wrote := len(live.Status.Conditions) > 0; wrote != tc.wantWrite {
				t.Fatalf("status written: %t, want %t (%+v)", wrote, tc.wantWrite, live.Status.Conditions)
			}
		})
	}
}
