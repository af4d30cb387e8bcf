// Package apply writes the operator's child objects with server-side apply, each controller
// under its own field manager, never over an object its owner does not control, and skips the write when the live object already says everything the operator would
// apply: a pass that changes nothing writes nothing.
package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// LegacyFieldManager is the field manager every controller applied with before each had its
// own. A write that finds fields it still owns drops them (see Apply).
const LegacyFieldManager = "serverlessplane"

// FieldManager names a controller's server-side apply field manager, so that managedFields say
// which controller wrote what.
func FieldManager(controller string) string { return LegacyFieldManager + "-" + controller }

// Applier applies desired objects.
type Applier struct {
	// Client writes; Reader reads the live object (the manager's cache).
	Client client.Client
	Reader client.Reader
	// APIReader reads past the cache, which holds only the objects the operator labelled as
	// its own: before an owned object is created, it says whether one of that name exists.
	APIReader client.Reader
	// FieldManager owns the fields the Applier writes.
	FieldManager string

	agreed agreements
}

// New returns an Applier that reads through c and apiReader and writes as fieldManager.
func New(c client.Client, apiReader client.Reader, fieldManager string) *Applier {
	return &Applier{Client: c, Reader: c, APIReader: apiReader, FieldManager: fieldManager}
}

// Apply makes the live object match desired in every field desired sets, creating it if
// needed, and reports whether it wrote. desired must carry its namespace and name; its GVK is
// looked up in the client's scheme. The managed-by label is added.
func (a *Applier) Apply(ctx context.Context, desired client.Object) (bool, error) {
	return a.apply(ctx, nil, desired)
}

// ApplyOwned applies desired with owner as its controller, so that garbage collection deletes
// it with the owner and the owner's controller sees its changes. An object of that name that
// owner does not control (another object's, or one somebody created by hand) is left as it is:
// the error is a ConflictError naming its controller.
func (a *Applier) ApplyOwned(ctx context.Context, owner, desired client.Object) error {
	if err := controllerutil.SetControllerReference(owner, desired, a.Client.Scheme()); err != nil {
		return err
	}
	_, err := a.apply(ctx, owner, desired)
	return err
}

func (a *Applier) apply(ctx context.Context, owner, desired client.Object) (bool, error) {
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

	// The live object is read typed, as the controllers' own watches cache it: reading it as
	// unstructured would make the cache keep a second, larger copy of every child object.
	typed, err := a.Client.Scheme().New(gvk)
	if err != nil {
		return false, err
	}
	live, ok := typed.(client.Object)
	if !ok {
		return false, fmt.Errorf("%s is not an object", gvk)
	}
	err = a.Reader.Get(ctx, client.ObjectKeyFromObject(desired), live)
	switch {
	case apierrors.IsNotFound(err) && owner != nil:
		// The cache holds only what the operator labelled; an object of that name that
		// somebody else made is not in it, and applying would take it over.
		if err := a.absentOrOwned(ctx, gvk, owner, desired); err != nil {
			return false, err
		}
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, err
	case owner != nil && !metav1.IsControlledBy(live, owner):
		return false, conflict(a.Client.Scheme(), gvk.Kind, live, owner)
	default:
		same, current, err := a.holds(ctx, gvk, live, intent.Object)
		if err != nil || same {
			return false, err
		}
		log.FromContext(ctx).V(1).Info("updating", "kind", gvk.Kind, "object", client.ObjectKeyFromObject(desired),
			"field", Diff(current, intent.Object))
	}
	if err := a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(intent), client.FieldOwner(a.FieldManager), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("applying %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(desired), err)
	}
	return true, a.dropLegacyFields(ctx, gvk, intent)
}

// holds says whether live already holds every field of intent, and returns the object it
// compared. A lean kind's cached copy lacks the fields Apply compares: the full object is read
// from the API server, unless it was found to hold the same intent at the same
// resourceVersion before.
func (a *Applier) holds(ctx context.Context, gvk schema.GroupVersionKind, live client.Object, intent map[string]any) (bool, map[string]any, error) {
	if live.GetDeletionTimestamp() != nil {
		return false, nil, nil
	}
	key := ""
	if IsLean(gvk.GroupKind()) {
		key = gvk.String() + "/" + live.GetNamespace() + "/" + live.GetName()
		if a.agreed.holds(key, intent, live.GetResourceVersion()) {
			return true, nil, nil
		}
		if err := a.APIReader.Get(ctx, client.ObjectKeyFromObject(live), live); err != nil {
			return false, nil, err
		}
	}
	live.GetObjectKind().SetGroupVersionKind(gvk)
	current, err := toMap(live)
	if err != nil {
		return false, nil, err
	}
	same := Contains(current, intent)
	if same && key != "" {
		a.agreed.record(key, intent, live.GetResourceVersion())
	}
	return same, current, nil
}

// absentOrOwned returns a ConflictError if an object of desired's name exists that owner does
// not control. It reads only the object's metadata.
func (a *Applier) absentOrOwned(ctx context.Context, gvk schema.GroupVersionKind, owner, desired client.Object) error {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	err := a.APIReader.Get(ctx, client.ObjectKeyFromObject(desired), m)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return err
	case !metav1.IsControlledBy(m, owner):
		return conflict(a.Client.Scheme(), gvk.Kind, m, owner)
	}
	return nil
}

// dropLegacyFields removes what the legacy field manager still owns of applied, the object as
// the API server answered the apply. The apply above took every field it sets from that
// manager, so what the manager still owns is what the operator no longer sets; applying an
// empty intent as that manager removes those fields (unless another manager owns them too) and
// its entry. Objects last written before the field managers were split need this once.
func (a *Applier) dropLegacyFields(ctx context.Context, gvk schema.GroupVersionKind, applied *unstructured.Unstructured) error {
	legacy := false
	for _, f := range applied.GetManagedFields() {
		legacy = legacy || (f.Manager == LegacyFieldManager && f.Operation == metav1.ManagedFieldsOperationApply)
	}
	if !legacy || a.FieldManager == LegacyFieldManager {
		return nil
	}
	empty := &unstructured.Unstructured{}
	empty.SetGroupVersionKind(gvk)
	empty.SetNamespace(applied.GetNamespace())
	empty.SetName(applied.GetName())
	if err := a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(empty), client.FieldOwner(LegacyFieldManager)); err != nil {
		return fmt.Errorf("dropping the fields of field manager %s from %s %s: %w", LegacyFieldManager, gvk.Kind, client.ObjectKeyFromObject(applied), err)
	}
	return nil
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
	u := &unstructured.Unstructured{}
	u.Object, err = toMap(m)
	return u, err
}

// toMap is v as its JSON decodes into a map.
func toMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(data, &m)
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

// Prune deletes the objects of list that owner controls, that match opts, and whose keys are
// not in keep. It returns how many it deleted. Labels alone never make an object the
// operator's to delete: anyone who can create one can label it.
func (a *Applier) Prune(ctx context.Context, owner client.Object, list client.ObjectList, keep sets.Set[client.ObjectKey], opts ...client.ListOption) (int, error) {
	if err := a.Reader.List(ctx, list, opts...); err != nil {
		return 0, err
	}
	objs, err := apiMetaList(list)
	if err != nil {
		return 0, err
	}
	deleted := 0
	for _, o := range objs {
		if keep.Has(client.ObjectKeyFromObject(o)) || !metav1.IsControlledBy(o, owner) || o.GetDeletionTimestamp() != nil {
			continue
		}
		err := a.Client.Delete(ctx, o, client.Preconditions{UID: ptr.To(o.GetUID())}, client.PropagationPolicy(metav1.DeletePropagationBackground))
		switch {
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		case err != nil:
			return deleted, err
		default:
			deleted++
		}
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
