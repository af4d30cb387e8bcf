package apply

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// ReasonNameConflict is the Stalled reason of an object whose child's name is taken.
const ReasonNameConflict = "NameConflict"

// ConflictError says that an object the operator would write for Owner already exists and
// Owner does not control it. The operator neither changes nor deletes it.
type ConflictError struct {
	// Kind and Name are the object's; Holder names its controller ("Kind name"), empty when
	// it has none.
	Kind, Name, Holder string
	// Owner names the object the operator wrote it for ("Kind name").
	Owner string
}

func (e *ConflictError) Error() string {
	holder := "has no controller (it was not created by serverlessplane for " + e.Owner + ")"
	if e.Holder != "" {
		holder = "is controlled by " + e.Holder + ", not by " + e.Owner
	}
	return fmt.Sprintf("%s %s already exists and %s; it is left as it is: rename %s or delete that %s",
		e.Kind, e.Name, holder, e.Owner, e.Kind)
}

// StalledReason makes the pass that met the conflict Stalled: a user must rename or delete.
func (e *ConflictError) StalledReason() string { return ReasonNameConflict }

func conflict(scheme *runtime.Scheme, kind string, live, owner client.Object) *ConflictError {
	e := &ConflictError{Kind: kind, Name: live.GetName(), Owner: describe(scheme, owner)}
	if ref := metav1.GetControllerOf(live); ref != nil {
		e.Holder = ref.Kind + " " + ref.Name
		if e.Holder == e.Owner {
			// The owner was deleted and created again before garbage collection took its
			// children; this clears on its own.
			e.Holder = "an earlier " + e.Holder + " (uid " + string(ref.UID) + "), which garbage collection removes"
		}
	}
	return e
}

func describe(scheme *runtime.Scheme, o client.Object) string {
	kind := o.GetObjectKind().GroupVersionKind().Kind
	if gvk, err := apiutil.GVKForObject(o, scheme); err == nil {
		kind = gvk.Kind
	}
	return kind + " " + o.GetName()
}
