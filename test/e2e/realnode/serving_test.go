package realnode

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/localcluster"
)

// irisRow is one flower of the sample model's data, in MLflow's dataframe_split format.
const irisRow = `{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "data": [[5.1, 3.5, 1.4, 0.2]]}}`

// scorer is a caller of the gateway from this machine, as a workspace user would be.
type scorer struct {
	client *http.Client
	// base is https://<gateway pod>:8443/workspaces/<workspace>.
	base string
}

// expectServing proves the serving path on the real node: a prediction of the sample model
// through the gateway and the model proxy over mTLS, the gateway's authentication and
// authorization against the real API server, and an entity at zero that a request starts and
// that answers it.
func (f *fixture) expectServing(tm *timings) {
	t := f.t
	ns := f.nsA
	// An endpoint of the default model image: one entity always up, one that scales to zero and
	// is reached by name.
	ep := b.Endpoint(ns, "iris").Entity("v1", "iris", "1").Entity("cold", "iris", "1").ScaleToZero().Route("v1", 100).Obj()
	if err := f.k8s.Create(f.ctx, ep); err != nil {
		t.Fatal(err)
	}
	user := f.serviceAccountToken(ns, "scorer", true)
	stranger := f.serviceAccountToken(f.nsB, "stranger", true)
	f.waitPods(ns, computev1.LabelEndpoint+"=iris,"+computev1.LabelServedEntity+"=v1", 1)
	s := f.gatewayScorer(ns)
	tm.mark("gateway reachable, endpoint iris serving")

	// Authentication and authorization by the real API server.
	for _, c := range []struct {
		name, token string
		code        int
		errorCode   string
	}{
		{"no token", "", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"a forged token", "not-a-token", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"a user of another workspace", stranger, http.StatusForbidden, "PERMISSION_DENIED"},
	} {
		code, body, _ := s.invoke(f.ctx, "/serving-endpoints/iris/invocations", c.token)
		if code != c.code || !strings.Contains(body, `"error_code":"`+c.errorCode+`"`) {
			t.Errorf("%s: got %d %s, want %d with error_code %s", c.name, code, body, c.code, c.errorCode)
		}
	}
	code, body, _ := s.invoke(f.ctx, "/serving-endpoints/nope/invocations", user)
	if code != http.StatusNotFound {
		t.Errorf("an endpoint that does not exist: got %d %s, want 404", code, body)
	}

	// A prediction: three class probabilities for the flower, from entity v1.
	code, body, header := s.invoke(f.ctx, "/serving-endpoints/iris/invocations", user)
	if code != http.StatusOK {
		t.Fatalf("a prediction through the gateway: got %d %s", code, body)
	}
	var got struct {
		Predictions [][]float64 `json:"predictions"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Predictions) != 1 || len(got.Predictions[0]) != 3 ||
		got.Predictions[0][0] < 0.5 {
		t.Errorf("the prediction for a setosa flower: %s (%v), want three probabilities, setosa's the highest", body, err)
	}
	if header.Get("served-model-name") != "v1" {
		t.Errorf("served-model-name = %q, want v1", header.Get("served-model-name"))
	}
	t.Logf("prediction through the gateway: %s", strings.TrimSpace(body))
	tm.mark("prediction through gateway and model proxy over mTLS; 401/403/404 by the API server")

	// Scale from zero: wait for entity cold to reach zero, then call it by name.
	f.eventually("entity cold at zero", func() (bool, error) { return f.entityAtZero(ns, "iris", "cold"), nil })
	tm.mark("entity cold scaled to zero after its idle grace")
	const held = 5
	start := time.Now()
	codes := make([]int, held)
	var wg sync.WaitGroup
	for i := range held {
		wg.Go(func() {
			codes[i], _, _ = s.invoke(f.ctx, "/serving-endpoints/iris/served-models/cold/invocations", user)
		})
	}
	var decided time.Duration
	f.eventually("entity cold scaled up by the held requests", func() (bool, error) {
		d, err := f.cs.AppsV1().Deployments(ns).Get(f.ctx, naming.ServedEntity("iris", "cold"), metav1.GetOptions{})
		if err != nil || ptr.Deref(d.Spec.Replicas, 0) == 0 {
			return false, nil
		}
		decided = time.Since(start)
		return true, nil
	})
	wg.Wait()
	answered := time.Since(start)
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("held request %d: got %d, want 200", i, c)
		}
	}
	t.Logf("scale from zero: %d requests held, first request to scale decision %s, to every answer %s",
		held, decided.Round(10*time.Millisecond), answered.Round(10*time.Millisecond))
	tm.mark(fmt.Sprintf("entity cold started by %d held requests: decision after %s, answered after %s, 0 lost",
		held, decided.Round(10*time.Millisecond), answered.Round(10*time.Millisecond)))
}

// serviceAccountToken makes a ServiceAccount in ns, bound to the workspace-user role in ns when
// user is set, and returns a token of it.
func (f *fixture) serviceAccountToken(ns, name string, user bool) string {
	t := f.t
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := f.k8s.Create(f.ctx, sa); err != nil {
		t.Fatal(err)
	}
	if user {
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-user"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "serverlessplane-workspace-user"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
		}
		if err := f.k8s.Create(f.ctx, rb); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := f.cs.CoreV1().ServiceAccounts(ns).CreateToken(f.ctx, name, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// entityAtZero says whether an entity's Deployment asks for no replica and its pods are gone.
func (f *fixture) entityAtZero(ns, endpoint, entity string) bool {
	pods, err := f.cs.CoreV1().Pods(ns).List(f.ctx, metav1.ListOptions{LabelSelector: computev1.LabelEndpoint + "=" + endpoint + "," + computev1.LabelServedEntity + "=" + entity})
	if err != nil {
		return false
	}
	d, err := f.cs.AppsV1().Deployments(ns).Get(f.ctx, naming.ServedEntity(endpoint, entity), metav1.GetOptions{})
	return err == nil && ptr.Deref(d.Spec.Replicas, 1) == 0 && len(pods.Items) == 0
}

// gatewayScorer reaches a ready gateway pod from this machine, trusting the operator CA and
// verifying the gateway's Service name.
func (f *fixture) gatewayScorer(ns string) *scorer {
	t := f.t
	addr := f.gatewayAddr()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(f.caBundle())) {
		t.Fatal("the CA bundle holds no certificate")
	}
	return &scorer{
		base: "https://" + addr + "/workspaces/" + ns,
		client: &http.Client{Timeout: 3 * time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, ServerName: naming.GatewayService + "." + localcluster.OperatorNamespace + ".svc",
		}}},
	}
}

// gatewayAddr is the TLS address (pod IP and 8443) of a ready gateway pod, reachable from this
// machine.
func (f *fixture) gatewayAddr() string {
	var addr string
	f.eventually("a ready gateway pod", func() (bool, error) {
		var slices discoveryv1.EndpointSliceList
		if err := f.k8s.List(f.ctx, &slices, client.InNamespace(localcluster.OperatorNamespace),
			client.MatchingLabels{discoveryv1.LabelServiceName: naming.GatewayService}); err != nil {
			return false, nil
		}
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if ptr.Deref(e.Conditions.Ready, false) && len(e.Addresses) > 0 {
					addr = net.JoinHostPort(e.Addresses[0], "8443")
					return true, nil
				}
			}
		}
		return false, nil
	})
	return addr
}

// invoke posts the iris row to path under the workspace, with token when set.
func (s *scorer) invoke(ctx context.Context, path, token string) (int, string, http.Header) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, bytes.NewBufferString(irisRow))
	if err != nil {
		return 0, err.Error(), nil
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}
