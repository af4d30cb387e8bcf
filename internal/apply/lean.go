package apply

import (
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
)

// The operator's cache keeps lean copies of the kinds below: it drops the parts that only
// Apply compares (a Deployment's pod spec, a NetworkPolicy's rules, the private key of a
// workload's serving certificate, which only its pods read), which are most of each object
// and most of the cache at scale. The controllers read these kinds' metadata, replicas
// and status only. Apply compares a lean kind with the full object read from the API server,
// and remembers what it found in agreement, so that a pass that changes nothing reads nothing
// more and writes nothing.
var lean = map[schema.GroupKind]func(any){
	{Group: appsv1.GroupName, Kind: "Deployment"}: func(o any) {
		if d, ok := o.(*appsv1.Deployment); ok {
			d.Spec.Template.Spec = corev1.PodSpec{}
		}
	},
	{Group: networkingv1.GroupName, Kind: "NetworkPolicy"}: func(o any) {
		if p, ok := o.(*networkingv1.NetworkPolicy); ok {
			p.Spec = networkingv1.NetworkPolicySpec{}
		}
	},
	{Kind: "Secret"}: func(o any) {
		if s, ok := o.(*corev1.Secret); ok && WorkloadCertificate(s) {
			delete(s.Data, corev1.TLSPrivateKeyKey)
		}
	},
}

// WorkloadCertificate says whether s is a warehouse's or an endpoint's serving certificate,
// whose private key the cache does not keep.
func WorkloadCertificate(s *corev1.Secret) bool {
	return s.Type == corev1.SecretTypeTLS && (s.Labels[computev1.LabelWarehouse] != "" || s.Labels[computev1.LabelEndpoint] != "")
}

// Lean wraps the cache's transform so that it also drops, from an object of a lean kind, what
// only Apply compares. It passes every other object through: one transform serves every kind.
func Lean(next cache.TransformFunc) cache.TransformFunc {
	return func(obj any) (any, error) {
		if next != nil {
			var err error
			if obj, err = next(obj); err != nil {
				return nil, err
			}
		}
		for _, strip := range lean {
			strip(obj)
		}
		return obj, nil
	}
}

// IsLean says whether the cache keeps lean copies of gk.
func IsLean(gk schema.GroupKind) bool { return lean[gk] != nil }

// agreementsKept bounds what an Applier remembers; past it, it forgets everything and reads
// each object once more.
const agreementsKept = 100000

// agreements remembers, per object, the intent it was last found to hold and the
// resourceVersion it had then: while both are the same, the object still holds it.
type agreements struct {
	mu   sync.Mutex
	seen map[string]agreement
}

type agreement struct{ intent, resourceVersion string }

func (a *agreements) holds(key string, intent map[string]any, resourceVersion string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[key] == agreement{intentHash(intent), resourceVersion}
}

func (a *agreements) record(key string, intent map[string]any, resourceVersion string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil || len(a.seen) >= agreementsKept {
		a.seen = map[string]agreement{}
	}
	a.seen[key] = agreement{intentHash(intent), resourceVersion}
}

func intentHash(intent map[string]any) string { return naming.Hash(intent, 16) }
