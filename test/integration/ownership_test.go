package integration

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/controllers/modelendpoint"
	"github.com/serverlessplane/operator/controllers/warehouse"
	"github.com/serverlessplane/operator/internal/apply"
	"github.com/serverlessplane/operator/pkg/naming"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

// managers lists the field managers of an object's managedFields.
func managers(obj client.Object) []string {
	var out []string
	for _, f := range obj.GetManagedFields() {
		out = append(out, f.Manager)
	}
	return out
}

var _ = Describe("Ownership of what the operator names", func() {
	It("gives endpoints whose names join alike (a-b with c, a with b-c) their own objects", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("alike")).Obj())
		first := b.Endpoint(ns, "a-b").Entity("c", "main.default.churn", "1").Obj()
		second := b.Endpoint(ns, "a").Entity("b-c", "main.default.churn", "2").Obj()
		for _, ep := range []*computev1.ModelEndpoint{first, second} {
			load.SetInFlight(ns, ep.Name, ep.Spec.ServedEntities[0].Name, 1)
			Expect(k8s.Create(ctx, ep)).To(Succeed())
		}
		for _, ep := range []*computev1.ModelEndpoint{first, second} {
			expectCondition(ep, computev1.ConditionReady, metav1.ConditionTrue, modelendpoint.ReasonReady)
			d := deploymentOf(Default, ep, ep.Spec.ServedEntities[0].Name)
			expectControlledBy(d, ep)
			Expect(d.Spec.Template.Spec.Containers[0].Env).To(ContainElement(corev1.EnvVar{Name: "MODEL_VERSION", Value: ep.Spec.ServedEntities[0].Model.Version}))
			Expect(managers(d)).To(ContainElement(apply.FieldManager("modelendpoint")), "each controller writes under its own field manager")
		}
	})

	It("leaves alone a Service it did not create, names it in a NameConflict, and proceeds once it is gone", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("taken")).Obj())
		theirs := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "bi", Namespace: ns, Labels: map[string]string{"team": "theirs"}},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "theirs"}, Ports: []corev1.ServicePort{{Port: 80}}},
		}
		Expect(k8s.Create(ctx, theirs)).To(Succeed())
		wh := b.Warehouse(ns, "bi").Obj()
		Expect(k8s.Create(ctx, wh)).To(Succeed())

		c := expectCondition(wh, computev1.ConditionStalled, metav1.ConditionTrue, apply.ReasonNameConflict)
		Expect(c.Message).To(And(ContainSubstring("Service bi already exists"), ContainSubstring("ServerlessWarehouse bi")))
		expectKStatus(wh, status.FailedStatus)
		Consistently(func(g Gomega) {
			svc := &corev1.Service{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(theirs), svc)).To(Succeed())
			g.Expect(svc.Labels).To(Equal(theirs.Labels), "labels untouched")
			g.Expect(svc.OwnerReferences).To(BeEmpty())
			g.Expect(svc.Spec.Selector).To(Equal(theirs.Spec.Selector))
		}).Should(Succeed())

		Expect(k8s.Delete(ctx, theirs)).To(Succeed())
		expectState(wh, computev1.WarehouseRunning, 1)
		expectCondition(wh, computev1.ConditionReady, metav1.ConditionTrue, warehouse.ReasonRunning)
		svc := &corev1.Service{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(theirs), svc)).To(Succeed())
		expectControlledBy(svc, wh)
	})

	It("says which object holds a name another owner's child would take", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("held")).Obj())
		ep := b.Endpoint(ns, "churn").Entity("champion", "main.default.churn", "1").Obj()
		load.SetInFlight(ns, "churn", "champion", 1)
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		expectCondition(ep, computev1.ConditionReady, metav1.ConditionTrue, modelendpoint.ReasonReady)

		// A warehouse named as the entity's Service: its own Service would be the endpoint's.
		wh := b.Warehouse(ns, naming.ServedEntity("churn", "champion")).Obj()
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		c := expectCondition(wh, computev1.ConditionStalled, metav1.ConditionTrue, apply.ReasonNameConflict)
		Expect(c.Message).To(ContainSubstring("is controlled by ModelEndpoint churn"))
		expectCondition(ep, computev1.ConditionReady, metav1.ConditionTrue, modelendpoint.ReasonReady)
		svc := &corev1.Service{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: wh.Name}, svc)).To(Succeed())
		expectControlledBy(svc, ep)
	})
})

var _ = Describe("Applier", func() {
	It("drops the fields the legacy field manager owned that the operator no longer sets", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("legacy")).Obj())
		old := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "settings", "namespace": ns, "labels": map[string]any{computev1.LabelManagedBy: computev1.ManagedByValue}},
			"data":     map[string]any{"kept": "1", "dropped": "1"},
		}}
		Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(old), client.FieldOwner(apply.LegacyFieldManager))).To(Succeed())

		a := apply.New(k8s, k8s, apply.FieldManager("test"))
		wrote, err := a.Apply(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns}, Data: map[string]string{"kept": "2"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(wrote).To(BeTrue())
		cm := &corev1.ConfigMap{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "settings"}, cm)).To(Succeed())
		Expect(cm.Data).To(Equal(map[string]string{"kept": "2"}))
		Expect(managers(cm)).To(Equal([]string{apply.FieldManager("test")}))
	})

	It("prunes only what the owner controls, whatever the labels say", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("prune")).Obj())
		owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: ns}}
		Expect(k8s.Create(ctx, owner)).To(Succeed())
		labels := map[string]string{computev1.LabelManagedBy: computev1.ManagedByValue, "set": "x"}
		a := apply.New(k8s, k8s, apply.FieldManager("test"))
		for _, name := range []string{"kept", "stale"} {
			Expect(a.ApplyOwned(ctx, owner, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}})).To(Succeed())
		}
		stranger := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stranger", Namespace: ns, Labels: labels}}
		Expect(k8s.Create(ctx, stranger)).To(Succeed())

		deleted, err := a.Prune(ctx, owner, &corev1.ConfigMapList{}, sets.New(client.ObjectKey{Namespace: ns, Name: "kept"}),
			client.InNamespace(ns), client.MatchingLabels{"set": "x"})
		Expect(err).NotTo(HaveOccurred())
		Expect(deleted).To(Equal(1))
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "stale"}, &corev1.ConfigMap{}))).To(BeTrue())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(stranger), &corev1.ConfigMap{})).To(Succeed(), "labelled like the operator's, but not controlled by the owner")
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kept"}, &corev1.ConfigMap{})).To(Succeed())

		By("and never applies over an object the owner does not control")
		err = a.ApplyOwned(ctx, owner, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stranger", Namespace: ns}, Data: map[string]string{"x": "y"}})
		Expect(err).To(MatchError(ContainSubstring("ConfigMap stranger already exists and has no controller")))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(stranger), stranger)).To(Succeed())
		Expect(stranger.Data).To(BeEmpty())
	})
})
