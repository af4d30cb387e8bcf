package integration

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

// workloadImages is config/policy/workload-images.yaml as it installs: the ConfigMap of
// allowed prefixes, the policy and its binding.
type workloadImages struct {
	params  *corev1.ConfigMap
	policy  *admissionregistrationv1.ValidatingAdmissionPolicy
	binding *admissionregistrationv1.ValidatingAdmissionPolicyBinding
}

func readWorkloadImages() workloadImages {
	root, err := framework.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	raw, err := os.ReadFile(filepath.Join(root, "config", "policy", "workload-images.yaml"))
	Expect(err).NotTo(HaveOccurred())
	docs := strings.Split(string(raw), "\n---\n")
	Expect(docs).To(HaveLen(3))
	w := workloadImages{params: &corev1.ConfigMap{}, policy: &admissionregistrationv1.ValidatingAdmissionPolicy{},
		binding: &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}}
	for i, into := range []any{w.params, w.policy, w.binding} {
		Expect(yaml.UnmarshalStrict([]byte(docs[i]), into)).To(Succeed())
	}
	return w
}

var _ = Describe("Workload image policy", func() {
	It("refuses an image outside the allowed prefixes at admission, naming the field, and never blocks an unchanged image", func(ctx SpecContext) {
		// The policy as shipped, bound to this spec's namespace only, with its own ConfigMap.
		w := readWorkloadImages()
		Expect(strings.TrimSpace(w.params.Data["allowedPrefixes"])).To(Equal("*"), "the default allows any image")
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: framework.Name("images"), Labels: map[string]string{"image-policy": "under-test"}}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		w.params.Namespace = ns.Name
		w.params.Data["allowedPrefixes"] = "registry.example.com/approved/\n  registry.example.com/models/  \n"
		w.policy.Name, w.binding.Name = framework.Name("images"), framework.Name("images")
		w.binding.Spec.PolicyName = w.policy.Name
		w.binding.Spec.ParamRef.Namespace = ns.Name
		w.binding.Spec.MatchResources = &admissionregistrationv1.MatchResources{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"image-policy": "under-test"}},
		}
		for _, o := range []client.Object{w.params, w.policy, w.binding} {
			Expect(k8s.Create(ctx, o)).To(Succeed())
		}
		DeferCleanup(func() {
			Expect(client.IgnoreNotFound(k8s.Delete(bg(), w.binding))).To(Succeed())
			Expect(client.IgnoreNotFound(k8s.Delete(bg(), w.policy))).To(Succeed())
		})

		withImage := func(name, image string) *computev1.ServerlessWarehouse {
			wh := b.Warehouse(ns.Name, name).Obj()
			if image != "" {
				wh.Spec.Engine = &computev1.WarehouseEngine{Image: image}
			}
			return wh
		}
		By("a warehouse naming another registry is refused with the field and the allowed prefixes")
		var err error
		Eventually(func() error {
			err = k8s.Create(ctx, withImage("miner", "evil.example/miner:1"), client.DryRunAll)
			return err
		}).Should(HaveOccurred(), "the API server enforces the policy")
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
		Expect(err.Error()).To(And(ContainSubstring("spec.engine.image: image evil.example/miner:1 is not allowed"),
			ContainSubstring("registry.example.com/approved/, registry.example.com/models/"),
			ContainSubstring("remove the field to run the platform default")))
		Expect(k8s.Create(ctx, withImage("lookalike", "registry.example.com/approved-not/engine:1"))).NotTo(Succeed(),
			"a prefix matches only what starts with it")

		By("an allowed image and the platform default are accepted")
		wh := withImage("sales", "registry.example.com/approved/engine:1")
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		Expect(k8s.Create(ctx, withImage("plain", ""))).To(Succeed())

		By("a model endpoint names the entity whose image is refused")
		ep := b.Endpoint(ns.Name, "fraud").Entity("champion", "fraud", "1").Image("registry.example.com/models/server:2").
			Entity("challenger", "fraud", "2").Image("docker.io/someone/server:latest").Route("champion", 100).Obj()
		err = k8s.Create(ctx, ep)
		Expect(err).To(MatchError(ContainSubstring("spec.servedEntities[name=challenger].image: image docker.io/someone/server:latest is not allowed")))
		ep.Spec.ServedEntities[1].Image = ""
		Expect(k8s.Create(ctx, ep)).To(Succeed())

		By("narrowing the list keeps what runs: an update that leaves the image alone is accepted, one that changes it is checked")
		w.params.Data["allowedPrefixes"] = "registry.example.com/models/\n"
		Expect(k8s.Update(ctx, w.params)).To(Succeed())
		Eventually(func() error {
			return k8s.Create(ctx, withImage("probe", "registry.example.com/approved/engine:1"), client.DryRunAll)
		}).Should(HaveOccurred(), "the API server reads the new list")
		Expect(update(wh, func(wh *computev1.ServerlessWarehouse) { wh.Spec.Tags = map[string]string{"team": "sales"} })).To(Succeed())
		err = update(wh, func(wh *computev1.ServerlessWarehouse) {
			wh.Spec.Engine.Image = "registry.example.com/approved/engine:2"
		})
		Expect(err).To(MatchError(ContainSubstring("spec.engine.image: image registry.example.com/approved/engine:2 is not allowed")))
		Expect(update(ep, func(ep *computev1.ModelEndpoint) {
			ep.Spec.ServedEntities[0].Image = "registry.example.com/models/server:3"
		})).To(Succeed())
	})
})
