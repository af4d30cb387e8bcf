package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
)

// InstallOperator installs what the operator needs in a cluster before it runs as a process:
// the CRDs, the workspace roles and the operator namespace. root is the repository.
func InstallOperator(ctx context.Context, cfg *rest.Config, root string, operatorNamespace string) error {
	if err := InstallCRDs(ctx, cfg, filepath.Join(root, "config", "crd", "bases")); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	roles, err := ReadManifests(filepath.Join(root, "config", "rbac", "workspace_roles.yaml"))
	if err != nil {
		return err
	}
	if err := Apply(ctx, c, roles); err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", operatorNamespace, err)
	}
	return nil
}

// WriteOperatorConfig writes, to path, the OperatorConfig of base with the autoscaler reading
// load from the Prometheus API at prometheusURL (the load simulator), and returns it loaded.
func WriteOperatorConfig(base, path, prometheusURL string) (*configv1.OperatorConfig, error) {
	data, err := os.ReadFile(base)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", base, err)
	}
	m, _ := doc["metrics"].(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	m["source"], m["prometheusURL"] = string(configv1.MetricsPrometheus), prometheusURL
	doc["metrics"] = m
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	header := []byte("# Generated from " + base + " with metrics from the load simulator.\n")
	if err := os.WriteFile(path, append(header, out...), 0o644); err != nil {
		return nil, err
	}
	return configv1.Load(path)
}
