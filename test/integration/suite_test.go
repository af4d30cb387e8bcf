// Package integration runs the operator's controllers against a real kube-apiserver and etcd
// (envtest), through the shared harness in test/framework.
package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/controllers"
	"github.com/serverlessplane/operator/pkg/metrics/metricstest"
	"github.com/serverlessplane/operator/test/framework"
)

var (
	env *framework.Env
	k8s client.Client
	// load is the scripted metrics source every controller reads.
	load = metricstest.NewFake()
)

// syncPeriod is the autoscaling tick of the suite: short, so that specs that step the fake
// clock see a decision promptly.
const syncPeriod = 200 * time.Millisecond

// protectedServiceCIDR stands for the cluster's Service network in the operator's protected ranges.
const protectedServiceCIDR = "10.96.0.0/12"

// Regions of the quota specs.
const (
	quotaRegion  = "quota-test-1"
	raceRegion   = "quota-race-1"
	ledgerRegion = "quota-ledger-1"
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
	cfg := configv1.Default()
	cfg.Autoscaling.SyncPeriod.Duration = syncPeriod
	// A platform that does not offer every size and type the API knows: the largest of each
	// are left out.
	cfg.Warehouses.ClusterSizes = slices.DeleteFunc(cfg.Warehouses.ClusterSizes, func(s configv1.ClusterSizeSpec) bool { return s.Name == string(computev1.ClusterSize4XLarge) })
	cfg.ModelServing.WorkloadTypes = slices.DeleteFunc(cfg.ModelServing.WorkloadTypes, func(t configv1.WorkloadTypeSpec) bool { return t.Name == string(computev1.WorkloadMultiGPUMedium) })
	// Regions with small serverless quotas, each for one spec: 24 DBU/h is two Small clusters.
	for _, r := range []string{quotaRegion, raceRegion, ledgerRegion} {
		cfg.Regions = append(cfg.Regions, configv1.Region{Name: r, Serverless: true, ServerlessQuotaDBU: 24,
			StableEgressCIDRs: []string{"198.51.100.96/28"}})
	}
	// The cluster's Service network is protected, as docs/configuration.md asks of a real install.
	cfg.ControlPlane.ProtectedCIDRs = append(cfg.ControlPlane.ProtectedCIDRs, protectedServiceCIDR)
	gatewayCRDs, err := framework.GatewayAPICRDs()
	Expect(err).NotTo(HaveOccurred())
	env, err = framework.Start(framework.Options{
		Config:    cfg,
		ExtraCRDs: gatewayCRDs,
		Customize: func(o *controllers.Options) { o.Metrics = load },
	})
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
