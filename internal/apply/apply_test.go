package apply

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// TestContainsAndDiff decides whether Apply writes: Contains says whether the live object
// already holds the intent, and Diff names the first field that makes it write.
func TestContainsAndDiff(t *testing.T) {
	type verdict struct {
		Contains bool
		Diff     string
	}
	tests := []struct {
		name       string
		live, want any
		verdict    verdict
	}{
		{"equal", map[string]any{"a": "x"}, map[string]any{"a": "x"}, verdict{true, ""}},
		{"live has more keys", map[string]any{"a": "x", "b": "y"}, map[string]any{"a": "x"}, verdict{true, ""}},
		{"value differs", map[string]any{"a": "x"}, map[string]any{"a": "z"}, verdict{false, ".a (x, want z)"}},
		{"missing key", map[string]any{}, map[string]any{"a": "x"}, verdict{false, ".a (missing)"}},
		{"empty wanted values match absent ones", map[string]any{}, map[string]any{"a": "", "b": map[string]any{}, "c": []any{}, "d": nil}, verdict{true, ""}},
		{"a wanted map of empty values matches an absent one", map[string]any{}, map[string]any{"m": map[string]any{"a": "", "b": []any{}}}, verdict{true, ""}},
		{"an empty wanted map matches a null one", map[string]any{"m": nil}, map[string]any{"m": map[string]any{}}, verdict{true, ""}},
		{"an empty wanted string matches a null one", map[string]any{"s": nil}, map[string]any{"s": ""}, verdict{true, ""}},
		{"false is not empty", map[string]any{}, map[string]any{"automount": false}, verdict{false, ".automount (missing)"}},
		{"zero is not empty", map[string]any{}, map[string]any{"replicas": float64(0)}, verdict{false, ".replicas (missing)"}},
		{"false differs from true", map[string]any{"automount": true}, map[string]any{"automount": false}, verdict{false, ".automount (true, want false)"}},
		{"numbers compare across int64 and float64", map[string]any{"port": int64(53)}, map[string]any{"port": float64(53)}, verdict{true, ""}},
		{"numbers compare across int32 and int", map[string]any{"port": int32(53)}, map[string]any{"port": 53}, verdict{true, ""}},
		{"different numbers differ across types", map[string]any{"port": int64(53)}, map[string]any{"port": float64(54)}, verdict{false, ".port (53, want 54)"}},
		{"a number does not match its string", map[string]any{"port": "53"}, map[string]any{"port": float64(53)}, verdict{false, ".port (53, want 53)"}},
		{"a string does not match a number", map[string]any{"port": int64(53)}, map[string]any{"port": "53"}, verdict{false, ".port (53, want 53)"}},
		{"a wanted map does not match a scalar", map[string]any{"m": "x"}, map[string]any{"m": map[string]any{"a": "x"}}, verdict{false, ".m.a (missing)"}},
		{"a wanted list does not match a scalar", map[string]any{"l": "x"}, map[string]any{"l": []any{"x"}}, verdict{false, ".l (length 0, want 1)"}},
		{"lists must have the same length", map[string]any{"l": []any{"a", "b"}}, map[string]any{"l": []any{"a"}}, verdict{false, ".l (length 2, want 1)"}},
		{"a shorter live list differs", map[string]any{"l": []any{"a"}}, map[string]any{"l": []any{"a", "b"}}, verdict{false, ".l (length 1, want 2)"}},
		{"lists compare in order", map[string]any{"l": []any{"b", "a"}}, map[string]any{"l": []any{"a", "b"}}, verdict{false, ".l[0] (b, want a)"}},
		{"lists compare item by item", map[string]any{"l": []any{map[string]any{"a": "x", "extra": "y"}}}, map[string]any{"l": []any{map[string]any{"a": "x"}}}, verdict{true, ""}},
		{"a nested difference names its path", map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(80)}}}},
			map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": float64(443)}}}}, verdict{false, ".spec.ports[0].port (80, want 443)"}},
		{"a label the operator wants and the object lacks", map[string]any{"metadata": map[string]any{"labels": map[string]any{"other": "x"}}},
			map[string]any{"metadata": map[string]any{"labels": map[string]any{computev1.LabelManagedBy: computev1.ManagedByValue}}},
			verdict{false, ".metadata.labels." + computev1.LabelManagedBy + " (missing)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := verdict{Contains(tc.live, tc.want), Diff(tc.live, tc.want)}
			if diff := cmp.Diff(tc.verdict, got); diff != "" {
				t.Errorf("Contains and Diff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPrune deletes only what the owner controls, is not kept and is not already going: a
// pass whose children are all kept deletes nothing.
func TestPrune(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := computev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	owner := &computev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "team", UID: "owner-uid"}}
	ref := func(uid types.UID, controller bool) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: computev1.GroupVersion.String(), Kind: "Workspace", Name: "team", UID: uid, Controller: ptr.To(controller)}
	}
	cm := func(name, namespace string, refs ...metav1.OwnerReference) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, OwnerReferences: refs,
			Labels: map[string]string{computev1.LabelWorkspace: "team"}}}
	}
	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: "team", Name: name} }
	tests := []struct {
		name        string
		objs        []client.Object
		keep        []client.ObjectKey
		opts        []client.ListOption
		wantDeleted int
		wantLeft    []string
	}{
		{name: "a controlled object that is not kept is deleted",
			objs: []client.Object{cm("old", "team", ref("owner-uid", true))}, wantDeleted: 1},
		{name: "a kept object stays",
			objs: []client.Object{cm("current", "team", ref("owner-uid", true))}, keep: []client.ObjectKey{key("current")},
			wantLeft: []string{"team/current"}},
		{name: "everything kept deletes nothing",
			objs: []client.Object{cm("a", "team", ref("owner-uid", true)), cm("b", "team", ref("owner-uid", true))},
			keep: []client.ObjectKey{key("a"), key("b")}, wantLeft: []string{"team/a", "team/b"}},
		{name: "an object with the owner's labels but no owner reference stays",
			objs: []client.Object{cm("hand-made", "team")}, wantLeft: []string{"team/hand-made"}},
		{name: "an object the owner owns but does not control stays",
			objs: []client.Object{cm("shared", "team", ref("owner-uid", false))}, wantLeft: []string{"team/shared"}},
		{name: "an object of an earlier owner of the same name stays",
			objs: []client.Object{cm("older", "team", ref("earlier-uid", true))}, wantLeft: []string{"team/older"}},
		{name: "an object already being deleted is not deleted again",
			objs: []client.Object{func() client.Object {
				o := cm("going", "team", ref("owner-uid", true))
				o.DeletionTimestamp, o.Finalizers = ptr.To(metav1.Now()), []string{"example.com/hold"}
				return o
			}()}, wantLeft: []string{"team/going"}},
		{name: "the list options bound what is considered",
			objs: []client.Object{cm("here", "team", ref("owner-uid", true)), cm("elsewhere", "other", ref("owner-uid", true))},
			opts: []client.ListOption{client.InNamespace("team")}, wantDeleted: 1, wantLeft: []string{"other/elsewhere"}},
		{name: "only what is not kept goes",
			objs: []client.Object{cm("a", "team", ref("owner-uid", true)), cm("b", "team", ref("owner-uid", true)), cm("c", "team", ref("owner-uid", true))},
			keep: []client.ObjectKey{key("b")}, wantDeleted: 2, wantLeft: []string{"team/b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tc.objs...).Build()
			a := New(c, c, FieldManager("test"))
			deleted, err := a.Prune(context.Background(), owner, &corev1.ConfigMapList{}, sets.New(tc.keep...), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if deleted != tc.wantDeleted {
				t.Errorf("Prune deleted %d, want %d", deleted, tc.wantDeleted)
			}
			left := &corev1.ConfigMapList{}
			if err := c.List(context.Background(), left); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range left.Items {
				got = append(got, o.Namespace+"/"+o.Name)
			}
			if diff := cmp.Diff(tc.wantLeft, got); diff != "" {
				t.Errorf("objects left (-want +got):\n%s", diff)
			}
		})
	}
}
