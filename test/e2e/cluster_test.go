package e2e

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serverlessplane/operator/test/framework"
)

// The local cluster schedules a Deployment's pods onto kwok's fake nodes and runs them.
func TestDeploymentRunsOnFakeNodes(t *testing.T) {
	g := NewWithT(t)
	ns := framework.Name("deploy")
	mustKubectl(t, "create", "namespace", ns)
	t.Cleanup(func() { _, _ = kubectl("delete", "namespace", ns, "--wait=false") })
	mustKubectl(t, "-n", ns, "create", "deployment", "web", "--image=registry.k8s.io/pause:3.10", "--replicas=3")

	g.Eventually(func(g Gomega) {
		pods := &corev1.PodList{}
		g.Expect(k8s.List(t.Context(), pods, client.InNamespace(ns))).To(Succeed())
		g.Expect(pods.Items).To(HaveLen(3))
		for _, p := range pods.Items {
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "pod %s", p.Name)
			g.Expect(p.Spec.NodeName).To(HavePrefix("kwok-node-"), "pods without tolerations land on untainted nodes")
		}
	}, timeout, interval).Should(Succeed())

	d := &appsv1.Deployment{}
	g.Expect(k8s.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "web"}, d)).To(Succeed())
	g.Eventually(func() int32 {
		_ = k8s.Get(t.Context(), client.ObjectKeyFromObject(d), d)
		return d.Status.ReadyReplicas
	}, timeout, interval).Should(BeEquivalentTo(3))
}
