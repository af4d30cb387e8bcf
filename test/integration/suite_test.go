// Package integration runs the operator's controllers against a real kube-apiserver and etcd
// (envtest), through the shared harness in test/framework.
package integration

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serverlessplane/operator/test/framework"
)

var (
	env *framework.Env
	k8s client.Client
)

func TestIntegration(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Integration")
}

var _ = BeforeSuite(func() {
	SetDefaultEventuallyTimeout(framework.Timeout)
	SetDefaultEventuallyPollingInterval(framework.Interval)
	SetDefaultConsistentlyDuration(framework.Short)
	SetDefaultConsistentlyPollingInterval(framework.Interval)
	var err error
	env, err = framework.Start(framework.Options{})
	Expect(err).NotTo(HaveOccurred())
	k8s = env.Client
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// bg is the context of helpers that run outside a spec's own context.
func bg() context.Context { return context.Background() }
