package deploy

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

// as returns a client that authenticates as user (with groups).
func as(user string, groups ...string) client.Client {
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// can asks the API server whether user may do verb on resource (in namespace).
func can(ctx SpecContext, user string, groups []string, verb, group, resource, subresource, namespace string) bool {
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: verb, Group: group, Resource: resource, Subresource: subresource, Namespace: namespace,
		},
	}}
	Expect(k8s.Create(ctx, review)).To(Succeed())
	return review.Status.Allowed
}

func ready(obj client.Object, conds func() []metav1.Condition) {
	EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8s.Get(bgCtx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(conds(), computev1.ConditionReady)).To(BeTrue(), "%+v", conds())
	}).Should(Succeed())
}

var _ = Describe("config/default", Ordered, func() {
	var (
		ws, other *computev1.Workspace
	)

	It("installs an operator that reconciles every kind as its own ServiceAccount", func(ctx SpecContext) {
		n := b.NCC(framework.Name("net")).Rule("db", computev1.ResourceRDS, []string{"10.0.0.9"}, 5432).Obj()
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ws = b.Workspace(framework.Name("team")).NCC(n.Name).Admin(computev1.SubjectUser, "alice", "").
			Quota(corev1.ResourceList{corev1.ResourcePods: resourceQuantity("50")}).Obj()
		other = b.Workspace(framework.Name("other")).Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())
		Expect(k8s.Create(ctx, other)).To(Succeed())
		ready(ws, func() []metav1.Condition { return ws.Status.Conditions })
		ready(other, func() []metav1.Condition { return other.Status.Conditions })
		ready(n, func() []metav1.Condition { return n.Status.Conditions })

		wh := b.Warehouse(ws.Name, "bi").Obj()
		ep := b.Endpoint(ws.Name, "churn").Entity("v1", "main.default.churn", "1").Obj()
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		ready(wh, func() []metav1.Condition { return wh.Status.Conditions })
		ready(ep, func() []metav1.Condition { return ep.Status.Conditions })
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ws.Name, Name: naming.ServingCertificate("churn")}, &corev1.Secret{})).To(Succeed())
		Expect(forbidden()).To(BeZero(), "no pass was refused by RBAC")
	})

	It("grants the operator no wildcard, no cluster-admin, and no escalation", func(ctx SpecContext) {
		root, err := framework.RepoRoot()
		Expect(err).NotTo(HaveOccurred())
		data, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
		Expect(err).NotTo(HaveOccurred())
		for _, doc := range strings.Split(string(data), "\n---\n") {
			role := &rbacv1.ClusterRole{}
			Expect(yaml.Unmarshal([]byte(doc), role)).To(Succeed())
			for _, r := range role.Rules {
				Expect(r.Verbs).NotTo(ContainElement("*"), "%+v", r)
				Expect(r.Resources).NotTo(ContainElement("*"), "%+v", r)
				Expect(r.APIGroups).NotTo(ContainElement("*"), "%+v", r)
			}
		}
		sa := []string{"system:serviceaccounts", "system:serviceaccounts:serverlessplane-system"}
		for _, denied := range []struct{ verb, group, resource, sub string }{
			{"create", "", "pods", ""},
			{"create", "", "pods", "exec"},
			{"delete", "", "namespaces", ""},
			{"delete", "", "secrets", ""},
			{"update", "", "secrets", ""},
			{"create", "rbac.authorization.k8s.io", "clusterrolebindings", ""},
			{"create", "rbac.authorization.k8s.io", "clusterroles", ""},
			{"update", "apiextensions.k8s.io", "customresourcedefinitions", ""},
			{"delete", "compute.serverlessplane.io", "workspaces", ""},
		} {
			Expect(can(ctx, OperatorUser, sa, denied.verb, denied.group, denied.resource, denied.sub, ws.Name)).
				To(BeFalse(), "the operator may %s %s/%s", denied.verb, denied.resource, denied.sub)
		}

		By("it can bind the workspace-admin role, and no other")
		op := as(OperatorUser, sa...)
		bind := func(role string) error {
			return op.Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: ws.Name, Name: framework.Name("rb")},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
				Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "mallory"}},
			})
		}
		Expect(apierrors.IsForbidden(bind("cluster-admin"))).To(BeTrue(), "escalation to cluster-admin")
		// The built-in admin role is aggregated by kube-controller-manager, which envtest lacks;
		// a role with the same kind of power stands in for it.
		powerful := &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: framework.Name("namespace-admin")},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"pods/exec", "secrets"}, Verbs: []string{"get", "create", "delete"}},
			},
		}
		Expect(k8s.Create(ctx, powerful)).To(Succeed())
		Expect(apierrors.IsForbidden(bind(powerful.Name))).To(BeTrue(), "escalation to a role with pods/exec and Secrets")
		Expect(bind(naming.WorkspaceAdminClusterRole)).To(Succeed())
	})

	It("confines the operator's writes to the workspace namespaces it created and its own namespace", func(ctx SpecContext) {
		sa := []string{"system:serviceaccounts", "system:serviceaccounts:serverlessplane-system"}
		op := as(OperatorUser, sa...)
		confined := MatchError(ContainSubstring("writes only in the workspace namespaces it created"))
		configMap := func(ns string) *corev1.ConfigMap {
			return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: framework.Name("probe")}}
		}
		plain := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: framework.Name("team-apps")}}
		Expect(k8s.Create(ctx, plain)).To(Succeed())

		By("RBAC allows each of these writes; the admission policy refuses those outside its namespaces")
		for _, ns := range []string{"kube-system", "default", plain.Name} {
			Expect(can(ctx, OperatorUser, sa, "create", "", "configmaps", "", ns)).To(BeTrue(), "RBAC alone would allow it in %s", ns)
			Expect(op.Create(ctx, configMap(ns), client.DryRunAll)).To(confined, "a ConfigMap in %s", ns)
		}
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "miner"}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "miner"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "miner"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "miner", Image: "miner"}}},
			},
		}}
		Expect(op.Create(ctx, dep, client.DryRunAll)).To(confined, "a Deployment in kube-system")
		Expect(op.Create(ctx, configMap(ws.Name), client.DryRunAll)).To(Succeed(), "its workspace namespace")
		Expect(op.Create(ctx, configMap("serverlessplane-system"), client.DryRunAll)).To(Succeed(), "its own namespace")

		By("it cannot take a namespace by labelling it, nor create one that is not a workspace's")
		kubeSystem := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: "kube-system"}, kubeSystem)).To(Succeed())
		patch := client.MergeFrom(kubeSystem.DeepCopy())
		kubeSystem.Labels[computev1.LabelManagedBy] = computev1.ManagedByValue
		Expect(op.Patch(ctx, kubeSystem, patch, client.DryRunAll)).To(confined)
		Expect(op.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: framework.Name("rogue")}}, client.DryRunAll)).To(confined)
		Expect(op.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: framework.Name("ours"),
			Labels: map[string]string{computev1.LabelManagedBy: computev1.ManagedByValue}}}, client.DryRunAll)).To(Succeed())
	})

	It("lets a workspace admin manage warehouses and endpoints in its workspace, and nothing more", func(ctx SpecContext) {
		alice := as("alice")
		wh := b.Warehouse(ws.Name, framework.Name("adhoc")).Obj()
		Expect(alice.Create(ctx, wh)).To(Succeed())
		Expect(alice.Create(ctx, b.Endpoint(ws.Name, framework.Name("ep")).Entity("v1", "m", "1").Obj())).To(Succeed())
		Expect(alice.List(ctx, &computev1.ServerlessWarehouseList{}, client.InNamespace(ws.Name))).To(Succeed())
		Expect(alice.Delete(ctx, wh)).To(Succeed())
		Expect(alice.List(ctx, &corev1.EventList{}, client.InNamespace(ws.Name))).To(Succeed())

		for what, err := range map[string]error{
			"read pods":                   alice.List(ctx, &corev1.PodList{}, client.InNamespace(ws.Name)),
			"read Secrets":                alice.List(ctx, &corev1.SecretList{}, client.InNamespace(ws.Name)),
			"read Deployments":            alice.List(ctx, &appsv1.DeploymentList{}, client.InNamespace(ws.Name)),
			"create pods":                 alice.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ws.Name, Name: "x"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}),
			"list another workspace's":    alice.List(ctx, &computev1.ServerlessWarehouseList{}, client.InNamespace(other.Name)),
			"create in another workspace": alice.Create(ctx, b.Warehouse(other.Name, framework.Name("x")).Obj()),
			"edit the workspace":          alice.Update(ctx, ws),
			"delete the workspace":        alice.Delete(ctx, ws),
			"change the network policies": alice.DeleteAllOf(ctx, &corev1.ConfigMap{}, client.InNamespace(ws.Name)),
		} {
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "alice may %s: %v", what, err)
		}
		Expect(can(ctx, "alice", nil, "create", "", "pods", "exec", ws.Name)).To(BeFalse())
	})
})

// forbidden counts reconcile errors the API server refused.
func forbidden() float64 {
	n, err := framework.CounterSum("serverlessplane_reconcile_errors_total", "reason", string(metav1.StatusReasonForbidden))
	Expect(err).NotTo(HaveOccurred())
	return n
}
