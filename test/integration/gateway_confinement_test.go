package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

// gatewayUser is the gateway's ServiceAccount as the API server names it.
const gatewayUser = "system:serviceaccount:serverlessplane-system:serverlessplane-gateway"

var _ = Describe("Gateway confinement", func() {
	It("lets the gateway's ServiceAccount change only the activation annotation of a tenant's warehouses and endpoints", func(ctx SpecContext) {
		By("the shipped policy, and the gateway's patch rights as its ClusterRole grants them")
		root, err := framework.RepoRoot()
		Expect(err).NotTo(HaveOccurred())
		raw, err := os.ReadFile(filepath.Join(root, "config", "gateway", "confinement.yaml"))
		Expect(err).NotTo(HaveOccurred())
		docs := strings.Split(string(raw), "\n---\n")
		Expect(docs).To(HaveLen(2))
		policy, binding := &admissionregistrationv1.ValidatingAdmissionPolicy{}, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
		Expect(yaml.UnmarshalStrict([]byte(docs[0]), policy)).To(Succeed())
		Expect(yaml.UnmarshalStrict([]byte(docs[1]), binding)).To(Succeed())
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: framework.Name("gateway-patch")}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{computev1.GroupVersion.Group}, Resources: []string{"modelendpoints", "serverlesswarehouses"}, Verbs: []string{"get", "patch"},
		}}}
		roleBinding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: gatewayUser}}}
		for _, o := range []client.Object{policy, binding, role, roleBinding} {
			Expect(k8s.Create(ctx, o)).To(Succeed())
		}
		DeferCleanup(func() {
			for _, o := range []client.Object{binding, policy, roleBinding, role} {
				Expect(client.IgnoreNotFound(k8s.Delete(bg(), o))).To(Succeed())
			}
		})
		cfg := rest.CopyConfig(env.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: gatewayUser,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:serverlessplane-system", "system:authenticated"}}
		gw, err := client.New(cfg, client.Options{Scheme: env.Scheme})
		Expect(err).NotTo(HaveOccurred())

		ns := readyWorkspace(ctx, b.Workspace(framework.Name("gw-confined")).Obj())
		wh := b.Warehouse(ns, "bi").AutoStop(0).Obj()
		ep := b.Endpoint(ns, "iris").Entity("a", "main.default.iris", "1").Obj()
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		patch := func(obj client.Object, body map[string]any, opts ...client.PatchOption) error {
			data, _ := json.Marshal(body)
			return gw.Patch(ctx, obj, client.RawPatch(types.MergePatchType, data), opts...)
		}
		annotate := func(key, value string) map[string]any {
			return map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}}
		}

		By("a change of the spec is refused, naming the one thing it may change")
		evil := map[string]any{"spec": map[string]any{"engine": map[string]any{"image": "evil.example/miner:1"}}}
		// Probed as a dry run until the API server enforces the new policy: a patch that landed
		// before would make every later one a no-op, which the policy rightly allows.
		Eventually(func() error { return patch(wh, evil, client.DryRunAll) }).
			Should(MatchError(ContainSubstring("may change only the compute.serverlessplane.io/activation annotation")), "the API server enforces the policy")
		Expect(patch(wh, evil)).To(MatchError(ContainSubstring("may change only")))
		Expect(patch(ep, map[string]any{"spec": map[string]any{"servedEntities": []map[string]any{{"name": "a", "model": map[string]string{"name": "x", "version": "1"}, "image": "evil.example/miner:1"}}}})).
			To(MatchError(ContainSubstring("may change only")))
		By("so are another annotation, a label and a finalizer")
		Expect(patch(wh, annotate("example.com/other", "x"))).To(MatchError(ContainSubstring("may change only")))
		Expect(patch(wh, map[string]any{"metadata": map[string]any{"labels": map[string]string{"tier": "free"}}})).To(MatchError(ContainSubstring("may change only")))
		Expect(patch(ep, map[string]any{"metadata": map[string]any{"finalizers": []string{"example.com/stuck"}}})).To(MatchError(ContainSubstring("may change only")))

		By("the activation annotation, as the gateway writes it, is allowed on both kinds")
		Expect(patch(wh, annotate(computev1.AnnotationActivation, "statements@2026-12-08T00:00:00Z"))).To(Succeed())
		Expect(patch(ep, annotate(computev1.AnnotationActivation, "a@2026-12-08T00:00:00Z"))).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wh), wh)).To(Succeed())
		Expect(wh.Spec.Engine).To(BeNil(), "the refused image never landed")
	})
})
