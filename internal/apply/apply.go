// Package apply writes the operator's child objects with server-side apply under one field
// manager, and skips the write when the live object already says everything the operator would
// apply: a pass that changes nothing writes nothing.
package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// FieldManager is the server-side apply field manager of everything the operator writes.
const FieldManager = "serverlessplane"

// Applier applies desired objects.
type Applier struct {
	// Client writes; Reader reads the live object (the manager's cache).
	Client client.Client
	Reader client.Reader
}

// New returns an Applier that reads through c.
func New(c client.Client) *Applier { return &Applier{Client: c, Reader: c} }

// Apply makes the live object match desired in every field desired sets, creating it if
// needed, and reports whether it wrote. desired must carry its namespace and name; its GVK is
// looked up in the client's scheme. The managed-by label is added.
func (a *Applier) Apply(ctx context.Context, desired client.Object) (bool, error) {
	gvk, err := apiutil.GVKForObject(desired, a.Client.Scheme())
	if err != nil {
		return false, err
	}
	labels := desired.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[computev1.LabelManagedBy] = computev1.ManagedByValue
	desired.SetLabels(labels)

	intent, err := toUnstructured(desired)
	if err != nil {
		return false, err
	}
	intent.SetGroupVersionKind(gvk)

	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(gvk)
	err = a.Reader.Get(ctx, client.ObjectKeyFromObject(desired), live)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, err
	case live.GetDeletionTimestamp() == nil && Contains(live.Object, intent.Object):
		return false, nil
	default:
		log.FromContext(ctx).V(1).Info("updating", "kind", gvk.Kind, "object", client.ObjectKeyFromObject(desired),
			"field", Diff(live.Object, intent.Object))
	}
	if err := a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(intent), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("applying %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(desired), err)
	}
	return true, nil
}

// ApplyOwned applies desired with owner as its controller, so that garbage collection deletes
// it with the owner and the owner's controller sees its changes.
func (a *Applier) ApplyOwned(ctx context.Context, owner, desired client.Object) error {
	if err := controllerutil.SetControllerReference(owner, desired, a.Client.Scheme()); err != nil {
		return err
	}
	_, err := a.Apply(ctx, desired)
	return err
}

// toUnstructured turns a typed object into the apply intent: no status, no server-set metadata.
func toUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok {
		for _, f := range []string{"creationTimestamp", "resourceVersion", "uid", "generation", "managedFields"} {
			delete(meta, f)
		}
	}
	// Round-trip through JSON so numbers compare as the live object's do.
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	return u, json.Unmarshal(data, &u.Object)
}

// Contains reports whether live holds every field of want with the same value. Maps may hold
// more keys (defaults, other managers' fields); lists must have the same length, item by item.
// Empty strings, maps and lists in want (as typed structs serialize them) match absent ones in
// live; false and 0 do not, since they can be meaningful.
func Contains(live, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return len(w) == 0 && live == nil
		}
		for k, wv := range w {
			lv, present := l[k]
			if !present {
				if isEmpty(wv) {
					continue
				}
				return false
			}
			if !Contains(lv, wv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok {
			return len(w) == 0 && live == nil
		}
		if len(l) != len(w) {
			return false
		}
		for i := range w {
			if !Contains(l[i], w[i]) {
				return false
			}
		}
		return true
	default:
		if live == nil && isEmpty(want) {
			return true
		}
		if l, ok := number(live); ok {
			w, ok := number(want)
			return ok && l == w
		}
		return reflect.DeepEqual(live, want)
	}
}

// number reads a JSON number as decoded by either encoding/json (float64) or the API
// machinery (int64).
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		for _, x := range t {
			if !isEmpty(x) {
				return false
			}
		}
		return true
	case []any:
		return len(t) == 0
	case string:
		return t == ""
	}
	return false
}

// Prune deletes the objects of list that the operator manages, that match the given labels,
// and whose names are not in keep. It returns how many it deleted.
func (a *Applier) Prune(ctx context.Context, list client.ObjectList, keep sets.Set[string], opts ...client.ListOption) (int, error) {
	if err := a.Reader.List(ctx, list, opts...); err != nil {
		return 0, err
	}
	objs, err := apiMetaList(list)
	if err != nil {
		return 0, err
	}
	deleted := 0
	for _, o := range objs {
		if keep.Has(o.GetName()) || o.GetLabels()[computev1.LabelManagedBy] != computev1.ManagedByValue ||
			o.GetDeletionTimestamp() != nil {
			continue
		}
		if err := a.Client.Delete(ctx, o, client.PropagationPolicy("Background")); client.IgnoreNotFound(err) != nil {
			return deleted, err
		}
		deleted++
	}
	return deleted, nil
}

func apiMetaList(list client.ObjectList) ([]client.Object, error) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(items))
	for _, it := range items {
		o, ok := it.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%T is not a client.Object", it)
		}
		out = append(out, o)
	}
	return out, nil
}

// Diff returns the path of the first field of want that live does not hold, for logs that say
// why a write happened; empty when Contains(live, want).
func Diff(live, want any) string {
	switch w := want.(type) {
	case map[string]any:
		l, _ := live.(map[string]any)
		for k, wv := range w {
			lv, present := l[k]
			if !present {
				if isEmpty(wv) {
					continue
				}
				return "." + k + " (missing)"
			}
			if d := Diff(lv, wv); d != "" {
				return "." + k + d
			}
		}
		return ""
	case []any:
		l, _ := live.([]any)
		if len(l) != len(w) {
			return fmt.Sprintf(" (length %d, want %d)", len(l), len(w))
		}
		for i := range w {
			if d := Diff(l[i], w[i]); d != "" {
				return fmt.Sprintf("[%d]%s", i, d)
			}
		}
		return ""
	default:
		if Contains(live, want) {
			return ""
		}
		return fmt.Sprintf(" (%v, want %v)", live, want)
	}
}
