// Package deploy installs config/default into a real kube-apiserver and runs the operator as its
// ServiceAccount, with the configuration config/default ships: the install manifests and the
// least-privilege RBAC are what the operator runs with, and what these specs prove.
package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/test/framework"
	"github.com/serverlessplane/operator/test/localcluster"
)

// OperatorUser is the operator's ServiceAccount as the API server authenticates it.
const OperatorUser = "system:serviceaccount:serverlessplane-system:serverlessplane-operator"

var (
	env *framework.Env
	k8s client.Client
)

func TestDeploy(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Deploy")
}

var _ = BeforeSuite(func() {
	SetDefaultEventuallyTimeout(framework.Timeout)
	SetDefaultEventuallyPollingInterval(framework.Interval)
	var err error
	env, err = framework.Start(framework.Options{NoCRDs: true, Impersonate: OperatorUser, Prepare: install})
	Expect(err).NotTo(HaveOccurred())
	k8s = env.Client
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// install applies `kubectl kustomize config/default` and returns the operator configuration
// from its ConfigMap.
func install(cfg *rest.Config) (*configv1.OperatorConfig, error) {
	root, err := framework.RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := framework.BinaryAssets(root)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	installed, err := localcluster.Kustomize(ctx, filepath.Join(assets, "kubectl"), filepath.Join(root, "config", "default"))
	if err != nil {
		return nil, err
	}
	if err := localcluster.ApplyAndWait(ctx, cfg, installed); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, err
	}
	for _, o := range installed {
		if o.GetKind() != "ConfigMap" || !strings.HasPrefix(o.GetName(), "serverlessplane-operator-config") {
			continue
		}
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), cm); err != nil {
			return nil, err
		}
		return configv1.Parse([]byte(cm.Data["operator-config.yaml"]))
	}
	return nil, fmt.Errorf("config/default has no operator ConfigMap")
}

// bgCtx is the context of helpers that run outside a spec's own context.
var bgCtx = context.Background()

func resourceQuantity(s string) resource.Quantity { return resource.MustParse(s) }
