package integration

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/conditions"
	"github.com/serverlessplane/operator/test/framework"
)

// conditionsOf returns the conditions of any of the operator's kinds.
func conditionsOf(obj client.Object) []metav1.Condition {
	switch o := obj.(type) {
	case *computev1.Workspace:
		return o.Status.Conditions
	case *computev1.NetworkConnectivityConfig:
		return o.Status.Conditions
	case *computev1.ServerlessWarehouse:
		return o.Status.Conditions
	case *computev1.ModelEndpoint:
		return o.Status.Conditions
	}
	panic(fmt.Sprintf("no conditions on %T", obj))
}

// condition fetches obj and returns its condition of type typ (nil if absent).
func condition(g Gomega, obj client.Object, typ string) *metav1.Condition {
	g.Expect(k8s.Get(bg(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return meta.FindStatusCondition(conditionsOf(obj), typ)
}

// expectCondition waits until obj's condition typ has the status and reason, and returns it.
func expectCondition(obj client.Object, typ string, st metav1.ConditionStatus, reason string) *metav1.Condition {
	var c *metav1.Condition
	EventuallyWithOffset(1, func(g Gomega) {
		c = condition(g, obj, typ)
		g.Expect(c).NotTo(BeNil(), "condition %s", typ)
		g.Expect(c.Status).To(Equal(st), "condition %s: %s", typ, c.Message)
		g.Expect(c.Reason).To(Equal(reason), "condition %s: %s", typ, c.Message)
	}).Should(Succeed())
	return c
}

// expectKStatus waits until kstatus computes want for obj.
func expectKStatus(obj client.Object, want status.Status) {
	EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8s.Get(bg(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		got, msg, err := framework.KStatus(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(Equal(want), msg)
	}).Should(Succeed())
}

// reconciles returns how many passes a controller has finished, from controller-runtime's
// metrics.
func reconciles(controller string) float64 {
	n, err := framework.CounterSum("controller_runtime_reconcile_total", "controller", controller)
	Expect(err).NotTo(HaveOccurred())
	return n
}

// inNamespaceOrNamed selects writes to objects in namespace ns or to cluster-scoped name.
func inNamespaceOrNamed(ns, name string) func(framework.Write) bool {
	return func(w framework.Write) bool {
		return w.Namespace == ns || (w.Namespace == "" && w.Name == name)
	}
}

func names[T client.Object](items []T) []string {
	out := make([]string, 0, len(items))
	for _, o := range items {
		out = append(out, o.GetName())
	}
	return out
}

func joinWrites(ws []framework.Write) string {
	s := make([]string, 0, len(ws))
	for _, w := range ws {
		s = append(s, w.String())
	}
	return strings.Join(s, "\n")
}

// quiet waits until the operator has stopped writing the objects filter selects: no such write
// for framework.Short.
func quiet(filter func(framework.Write) bool) {
	EventuallyWithOffset(1, func(g Gomega) {
		mark := env.Writes.Len()
		g.Consistently(func() []framework.Write { return env.Writes.Since(mark, filter) }).Should(BeEmpty())
	}).Should(Succeed())
}

// update fetches obj, applies mutate and updates it, retrying when the operator wrote the
// object in between; it returns the update's error otherwise.
func update[T client.Object](obj T, mutate func(T)) error {
	var err error
	EventuallyWithOffset(1, func() bool {
		if err = k8s.Get(bg(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return true
		}
		mutate(obj)
		err = k8s.Update(bg(), obj)
		return !apierrors.IsConflict(err)
	}).Should(BeTrue())
	return err
}

func resourceQuantity(s string) resource.Quantity { return resource.MustParse(s) }

// Resources that denyByPolicy rules name.
var (
	namespaces      = admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"namespaces"}}
	deployments     = admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}}
	networkPolicies = admissionregistrationv1.Rule{APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"v1"}, Resources: []string{"networkpolicies"}}
	endpointSlices  = admissionregistrationv1.Rule{APIGroups: []string{"discovery.k8s.io"}, APIVersions: []string{"v1"}, Resources: []string{"endpointslices"}}
)

// denyByPolicy makes the API server refuse to create what rule names unless the CEL
// expression holds, with a ValidatingAdmissionPolicy and its binding named name, and waits
// until it does: a dry-run create of probe, a valid object, must be refused by the policy. The
// policy is removed when the spec ends, or earlier by the returned function.
func denyByPolicy(ctx SpecContext, name string, rule admissionregistrationv1.Rule, expression string, probe client.Object) (lift func()) {
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       rule,
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: expression}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: name, ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	Expect(k8s.Create(ctx, policy)).To(Succeed())
	Expect(k8s.Create(ctx, binding)).To(Succeed())
	lift = func() {
		Expect(client.IgnoreNotFound(k8s.Delete(bg(), binding))).To(Succeed())
		Expect(client.IgnoreNotFound(k8s.Delete(bg(), policy))).To(Succeed())
	}
	DeferCleanup(lift)
	Eventually(func() error {
		return k8s.Create(ctx, probe.DeepCopyObject().(client.Object), client.DryRunAll)
	}).Should(MatchError(ContainSubstring("ValidatingAdmissionPolicy")), "the API server enforces the policy")
	return lift
}

// probeDeployment is a valid Deployment in namespace, for denyByPolicy.
func probeDeployment(namespace string) *appsv1.Deployment {
	labels := map[string]string{"probe": "true"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "probe"}}},
			},
		},
	}
}

// expectFailedPass waits until obj's last pass failed with an error that contains says, and
// checks what such a pass leaves: Ready False and Reconciling True naming it, and
// observedGeneration short of the generation.
func expectFailedPass(obj client.Object, says string) {
	c := expectCondition(obj, computev1.ConditionReady, metav1.ConditionFalse, conditions.ReasonReconcileError)
	ExpectWithOffset(1, c.Message).To(ContainSubstring(says))
	expectCondition(obj, computev1.ConditionReconciling, metav1.ConditionTrue, conditions.ReasonReconcileError)
	expectKStatus(obj, status.InProgressStatus)
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	observed, _, _ := unstructured.NestedInt64(u, "status", "observedGeneration")
	ExpectWithOffset(1, observed).To(BeNumerically("<", obj.GetGeneration()), "observedGeneration moves only on success")
}
