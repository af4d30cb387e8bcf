package realnode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/test/framework"
	"github.com/serverlessplane/operator/test/localcluster"
)

// README's load: a closed loop of 12 clients for the sample endpoint's challenger, made a
// Medium entity (up to 4 replicas of 4 concurrent requests, 70% target, so 12 in flight need 4)
// without the sample's rate limit, by README's patch.
const (
	loadClients     = 12
	loadDuration    = 45 * time.Second
	readmeLoadPatch = `[{"op":"replace","path":"/spec/servedEntities/1/workloadSize","value":"Medium"},{"op":"remove","path":"/spec/rateLimits"}]`
)

// loadSummary is the part of loadgen's -json summary the tier checks.
type loadSummary struct {
	Sent   int            `json:"sent"`
	OK     int            `json:"ok"`
	Codes  map[string]int `json:"codes"`
	Served map[string]int `json:"served"`
	Errors []string       `json:"errors"`
	Rate   float64        `json:"rate"`
	P50Ms  float64        `json:"p50_ms"`
	P99Ms  float64        `json:"p99_ms"`
}

// expectLoad runs README's load on the samples and proves the autoscaler on real load:
// test/gatewaybench's load generator sends scoring requests through the gateway to challenger,
// a Medium entity that may scale to zero; the gateway's in-flight requests scale it out to more
// than one ready pod with no request failing, and once the load stops it scales back to zero
// after the idle grace period.
func (f *fixture) expectLoad(tm *timings) {
	t := f.t
	const ns, endpoint, entity = "ml-platform", "churn", "challenger"
	loadgen := f.buildLoadgen()
	f.kubectl("patch", "modelendpoint", endpoint, "-n", ns, "--type=json", "-p", readmeLoadPatch)
	f.eventually("the patched endpoint observed", func() (bool, error) {
		ep := &computev1.ModelEndpoint{}
		err := f.k8s.Get(f.ctx, client.ObjectKey{Namespace: ns, Name: endpoint}, ep)
		return err == nil && ep.Status.ObservedGeneration == ep.Generation && len(ep.Spec.RateLimits) == 0, nil
	})
	token := f.serviceAccountToken(ns, "loadgen", true)
	deployment := naming.ServedEntity(endpoint, entity)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, []byte(f.caBundle()), 0o600); err != nil {
		t.Fatal(err)
	}

	// Watch the Deployment while the load runs: when it first asks for more than one replica,
	// and the most pods it had ready. Read once the watcher has returned.
	start := time.Now()
	var (
		scaledOut             time.Duration
		mostWanted, mostReady int32
	)
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			d := &appsv1.Deployment{}
			if err := f.k8s.Get(f.ctx, client.ObjectKey{Namespace: ns, Name: deployment}, d); err != nil {
				continue
			}
			wanted := ptr.Deref(d.Spec.Replicas, 0)
			if wanted > 1 && scaledOut == 0 {
				scaledOut = time.Since(start)
			}
			mostWanted, mostReady = max(mostWanted, wanted), max(mostReady, d.Status.ReadyReplicas)
		}
	}()
	cmd := exec.CommandContext(f.ctx, loadgen, "-gateway", f.gatewayAddr(), "-cacert", ca, "-workspace", ns, "-endpoint", endpoint, "-entity", entity,
		"-concurrency", fmt.Sprint(loadClients), "-duration", loadDuration.String(), "-json")
	cmd.Env = append(os.Environ(), "TOKEN="+token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	close(stop)
	<-watched
	t.Logf("loadgen progress:\n%s", stderr.String())
	if runErr != nil {
		t.Fatalf("loadgen: %v", runErr)
	}
	var got loadSummary
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("loadgen's summary %q: %v", stdout.String(), err)
	}
	if got.Sent == 0 || got.OK != got.Sent || got.Served[entity] != got.OK {
		t.Errorf("under load: %d sent, %d answered 200 (codes %v, errors %v), served %v; want every request answered by "+entity,
			got.Sent, got.OK, got.Codes, got.Errors, got.Served)
	}
	if mostReady < 2 {
		t.Errorf("under %d clients the entity had at most %d pods ready (%d asked for); want it scaled out to 2 or more", loadClients, mostReady, mostWanted)
	}
	tm.mark(fmt.Sprintf("README's load on challenger (%d clients, %s): %d requests, %.0f req/s, p50 %.1fms p99 %.1fms, 0 failed; scaled out to %d replicas (%d ready), first after %s",
		loadClients, loadDuration, got.Sent, got.Rate, got.P50Ms, got.P99Ms, mostWanted, mostReady, scaledOut.Round(100*time.Millisecond)))

	// Idle: down to zero after the idle grace period, pods gone.
	idle := time.Now()
	f.eventually("entity "+entity+" back at zero after the load", func() (bool, error) { return f.entityAtZero(ns, endpoint, entity), nil })
	tm.mark(fmt.Sprintf("load stopped: scaled to zero %s later (the idle grace period, then the pods' termination)", time.Since(idle).Round(time.Second)))
}

// buildLoadgen builds test/gatewaybench's load generator (its own module, so that vegeta stays
// out of the operator's dependencies).
func (f *fixture) buildLoadgen() string {
	root, err := framework.RepoRoot()
	if err != nil {
		f.t.Fatal(err)
	}
	out := filepath.Join(f.t.TempDir(), "loadgen")
	cmd := exec.CommandContext(f.ctx, "go", "build", "-o", out, "./cmd/loadgen")
	cmd.Dir = filepath.Join(root, "test", "gatewaybench")
	if b, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("building loadgen: %v\n%s", err, strings.TrimSpace(string(b)))
	}
	return out
}

// caBundle is the operator CA bundle that clients of the gateway trust.
func (f *fixture) caBundle() string {
	bundle := &corev1.ConfigMap{}
	if err := f.k8s.Get(f.ctx, client.ObjectKey{Namespace: localcluster.OperatorNamespace, Name: naming.CABundle}, bundle); err != nil {
		f.t.Fatal(err)
	}
	return bundle.Data["ca.crt"]
}
