package localcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
)

// Operator identity as config/rbac installs it.
const (
	OperatorNamespace      = "serverlessplane-system"
	OperatorServiceAccount = "serverlessplane-operator"
	OperatorDeployment     = "serverlessplane-operator"
	// GatewayDeployment is the control-plane gateway, in the operator namespace.
	GatewayDeployment = "serverlessplane-gateway"
)

// InstallOperator installs config/local (config/default with the operator Deployment scaled to
// zero, since the operator runs as a local process) with kubectl's kustomize, and waits for the
// CRDs. root is the repository.
func InstallOperator(ctx context.Context, cfg *rest.Config, root, kubectl string) error {
	objs, err := Kustomize(ctx, kubectl, filepath.Join(root, "config", "local"))
	if err != nil {
		return err
	}
	return ApplyAndWait(ctx, cfg, objs)
}

// Kustomize builds a kustomization with kubectl and returns its objects.
func Kustomize(ctx context.Context, kubectl, dir string) ([]*unstructured.Unstructured, error) {
	cmd := exec.CommandContext(ctx, kubectl, "kustomize", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kubectl kustomize %s: %v: %s", dir, err, stderr.String())
	}
	return decode(out, dir)
}

// OperatorKubeconfig writes a kubeconfig that authenticates as the operator's ServiceAccount,
// with a token from the TokenRequest API valid for ttl, so that the operator process runs with
// exactly the RBAC config/rbac grants it.
func OperatorKubeconfig(ctx context.Context, cfg *rest.Config, path string, ttl time.Duration) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	tr, err := cs.CoreV1().ServiceAccounts(OperatorNamespace).CreateToken(ctx, OperatorServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(ttl.Seconds()))}},
		metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for %s/%s: %w", OperatorNamespace, OperatorServiceAccount, err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["cluster"] = &clientcmdapi.Cluster{
		Server: cfg.Host, CertificateAuthority: cfg.CAFile, CertificateAuthorityData: cfg.CAData,
		InsecureSkipTLSVerify: cfg.Insecure,
	}
	kc.AuthInfos[OperatorServiceAccount] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["operator"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: OperatorServiceAccount}
	kc.CurrentContext = "operator"
	return clientcmd.WriteToFile(*kc, path)
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

// InstallOperatorPod installs config/localnode (config/default, the operator running from its
// image on the real node, with the local size table, and the gateway) and waits until every
// operator replica is Ready, which needs its readiness probe and, for one of them, the leader
// lease, and every gateway replica is Ready, which needs its certificates from the operator.
func InstallOperatorPod(ctx context.Context, cfg *rest.Config, root, kubectl string) error {
	objs, err := Kustomize(ctx, kubectl, filepath.Join(root, "config", "localnode"))
	if err != nil {
		return err
	}
	if err := ApplyAndWait(ctx, cfg, objs); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, name := range []string{OperatorDeployment, GatewayDeployment} {
		var last string
		err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			d, err := cs.AppsV1().Deployments(OperatorNamespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			want := ptr.Deref(d.Spec.Replicas, 1)
			last = fmt.Sprintf("%d of %d replicas ready", d.Status.ReadyReplicas, want)
			return d.Status.ObservedGeneration == d.Generation && d.Status.ReadyReplicas == want && d.Status.UpdatedReplicas == want, nil
		})
		if err != nil {
			return fmt.Errorf("the %s Deployment did not become ready (%s): %w", name, last, err)
		}
	}
	return nil
}
