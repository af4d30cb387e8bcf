package autoscalebench

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/zap"
	autoscalingapi "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubernetes/pkg/controller/podautoscaler"
	metricsclient "k8s.io/kubernetes/pkg/controller/podautoscaler/metrics"
	"knative.dev/serving/pkg/autoscaler/scaling"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/internal/scalestate"
	"github.com/serverlessplane/operator/pkg/autoscaler"
)

// Ours is the operator's engine with the served-entity policy of the default configuration
// (the model endpoint controller's policy), sampling load once per tick as the controller does,
// with the default sizing (modelServing.sizing) or another.
type Ours struct {
	policy  autoscaler.Policy
	state   autoscaler.State
	tick    time.Duration
	latest  float64
	label   string
	current int32
	reason  string
}

// LastReason is the reason of the last decision.
func (o *Ours) LastReason() string { return o.reason }

// NewOurs builds the operator's engine for per-replica capacity, scale to zero allowed. An
// empty sizing is the default configuration's.
func NewOurs(p Params, tick time.Duration, sizing configv1.AutoscalerSizing) *Ours {
	cfg := configv1.Default()
	label := fmt.Sprintf("serverlessplane (%s tick)", tick)
	if sizing == "" {
		sizing = cfg.ModelServing.Sizing
	} else {
		label = fmt.Sprintf("serverlessplane, sizing %s (%s tick)", sizing, tick)
	}
	// The policy the model endpoint controller gives a served entity that may scale to zero.
	policy := scalestate.BasePolicy(&cfg.Autoscaling)
	policy.Min, policy.Max, policy.TargetPerReplica, policy.TargetUtilization = 0, p.MaxReplicas, p.Capacity, p.Utilization
	policy.ScaleDownStabilization = cfg.ModelServing.ScaleDownStabilization.Duration
	policy.ScaleToZero, policy.Sizing = true, autoscaler.Sizing(sizing)
	return &Ours{tick: tick, label: label, state: autoscaler.State{LastActive: Start}, policy: policy}
}

func (o *Ours) Name() string        { return o.label }
func (o *Ours) Tick() time.Duration { return o.tick }

func (o *Ours) Observe(_ time.Time, demand float64, _, _ int32) { o.latest = demand }

func (o *Ours) Decide(now time.Time, ready, replicas int32) int32 {
	o.state.Observe(o.policy, autoscaler.Sample{Time: now, Load: o.latest})
	d := autoscaler.Decide(o.policy, &o.state, autoscaler.Input{Now: now, Current: replicas, Ready: ready, Cap: -1})
	o.state.Record(now, replicas, d.Desired)
	o.reason = d.Reason
	return d.Desired
}

// HPA is the upstream Kubernetes HPA: its exported ReplicaCalculator computes the raw
// recommendation from per-pod metrics (a pods metric, target average value), and the
// stabilization window and rate limits, which are unexported methods of HorizontalController,
// are ported below from k8s.io/kubernetes v1.36.3 pkg/controller/podautoscaler/horizontal.go
// with the default behavior (scale-up: 100% or 4 pods per 15s, the larger; scale-down: 300s
// stabilization, 100% per 15s). The HPA cannot scale to zero: minReplicas is 1.
type HPA struct {
	calc       *podautoscaler.ReplicaCalculator
	metrics    *podMetrics
	pods       cache.Indexer
	tolerances podautoscaler.Tolerances
	target     int64
	max        int32
	// The HorizontalController's memory, per horizontal.go.
	recommendations []timestamped
	scaleUpEvents   []timestamped
	scaleDownEvents []timestamped
}

type timestamped struct {
	value int32
	at    time.Time
}

// NewHPA builds the HPA with the default 10% tolerance.
func NewHPA(p Params) *HPA {
	h := &HPA{
		metrics: &podMetrics{}, pods: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}),
		target: int64(p.Capacity * p.Utilization * 1000), max: p.MaxReplicas,
		tolerances: tolerances(0.1),
	}
	h.calc = podautoscaler.NewReplicaCalculator(h.metrics, corelisters.NewPodLister(h.pods), 5*time.Minute, 30*time.Second)
	return h
}

// tolerances builds podautoscaler.Tolerances, whose fields are unexported: the controller
// fills them from --horizontal-pod-autoscaler-tolerance (horizontal.go, tolerancesForHpa).
func tolerances(t float64) podautoscaler.Tolerances {
	var tol podautoscaler.Tolerances
	v := reflect.ValueOf(&tol).Elem()
	for _, f := range []string{"scaleDown", "scaleUp"} {
		field := v.FieldByName(f)
		reflect.NewAt(field.Type(), unsafe.Pointer(field.UnsafeAddr())).Elem().SetFloat(t)
	}
	return tol
}

func (h *HPA) Name() string        { return "Kubernetes HPA (15s sync)" }
func (h *HPA) Tick() time.Duration { return 15 * time.Second }

// Observe keeps the per-pod metric the custom metrics API would report: the demand spread
// over the ready pods; pods still starting report nothing and are Pending.
func (h *HPA) Observe(now time.Time, demand float64, ready, replicas int32) {
	h.metrics.values = metricsclient.PodMetricsInfo{}
	_ = h.pods.Replace(nil, "")
	for i := range replicas {
		name := fmt.Sprintf("pod-%d", i)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench", Labels: map[string]string{"app": "bench"}}}
		pod.Status.Phase = corev1.PodPending
		if i < ready {
			pod.Status.Phase = corev1.PodRunning
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			h.metrics.values[name] = metricsclient.PodMetric{Timestamp: now, Window: time.Minute, Value: int64(demand / float64(ready) * 1000)}
		}
		_ = h.pods.Add(pod)
	}
}

func (h *HPA) Decide(now time.Time, ready, replicas int32) int32 {
	current := max(replicas, 1)
	desired := current
	if replicas > 0 {
		raw, _, _, err := h.calc.GetMetricReplicas(replicas, h.target, "concurrency", h.tolerances, "bench",
			labels.SelectorFromSet(labels.Set{"app": "bench"}), labels.Everything())
		if err == nil {
			desired = raw
		}
	}
	next := h.normalize(now, current, desired)
	if next > current {
		h.scaleUpEvents = append(h.scaleUpEvents, timestamped{next - current, now})
	} else if next < current {
		h.scaleDownEvents = append(h.scaleDownEvents, timestamped{current - next, now})
	}
	return next
}

// normalize is normalizeDesiredReplicasWithBehaviors with the default behavior:
// stabilizeRecommendationWithBehaviors, then convertDesiredReplicasWithBehaviorRate.
func (h *HPA) normalize(now time.Time, current, desired int32) int32 {
	downCutoff := now.Add(-300 * time.Second)
	down := desired
	kept := h.recommendations[:0]
	for _, r := range h.recommendations {
		if r.at.After(downCutoff) {
			down = max(down, r.value)
			kept = append(kept, r)
		}
	}
	h.recommendations = append(kept, timestamped{desired, now})
	rec := current
	if rec < desired { // the scale-up stabilization window is 0 by default
		rec = desired
	}
	if rec > down {
		rec = down
	}
	period := now.Add(-15 * time.Second)
	added, removed := changes(h.scaleUpEvents, period), changes(h.scaleDownEvents, period)
	start := current - added + removed
	if rec > current {
		upLimit := max(int32(math.Ceil(float64(start)*2)), start+4) // 100% or 4 pods per 15s
		rec = min(rec, max(upLimit, current), h.max)
	} else if rec < current {
		downLimit := start - start // 100% per 15s: down to zero
		rec = max(rec, min(downLimit, current), 1)
	}
	return min(max(rec, 1), h.max)
}

func changes(events []timestamped, cutoff time.Time) int32 {
	var n int32
	for _, e := range events {
		if e.at.After(cutoff) {
			n += e.value
		}
	}
	return n
}

// podMetrics is the HPA's metrics client: per-pod values, nothing else.
type podMetrics struct{ values metricsclient.PodMetricsInfo }

func (m *podMetrics) GetResourceMetric(context.Context, corev1.ResourceName, string, labels.Selector, string) (metricsclient.PodMetricsInfo, time.Time, error) {
	return nil, time.Time{}, fmt.Errorf("not used")
}

func (m *podMetrics) GetRawMetric(string, string, labels.Selector, labels.Selector) (metricsclient.PodMetricsInfo, time.Time, error) {
	out := metricsclient.PodMetricsInfo{}
	for k, v := range m.values {
		out[k] = v
	}
	return out, time.Time{}, nil
}

func (m *podMetrics) GetObjectMetric(string, string, *autoscalingapi.CrossVersionObjectReference, labels.Selector) (int64, time.Time, error) {
	return 0, time.Time{}, fmt.Errorf("not used")
}

func (m *podMetrics) GetExternalMetric(string, string, labels.Selector) ([]int64, time.Time, error) {
	return nil, time.Time{}, fmt.Errorf("not used")
}

// KPA is the upstream Knative KPA decider (knative.dev/serving/pkg/autoscaler/scaling), driven
// through its own interfaces: a MetricClient with the stable (60s) and panic (6s) concurrency
// averages, as the autoscaler's metric collector computes them from one-second buckets, and an
// EndpointsCounter of ready pods. The KPA reconciler keeps a revision at one pod for the 30s
// scale-to-zero grace period after the decider first asks for zero
// (pkg/reconciler/autoscaling/kpa/scaler.go); that is ported here.
type KPA struct {
	uni       scaling.UniScaler
	metrics   *concurrency
	pods      *endpoints
	zeroSince time.Time
	logger    *zap.SugaredLogger
}

// NewKPA builds the KPA with Knative's defaults and the benchmark's capacity and utilization.
func NewKPA(p Params) *KPA {
	k := &KPA{metrics: &concurrency{}, pods: &endpoints{}, logger: zap.NewNop().Sugar()}
	spec := &scaling.DeciderSpec{
		MaxScaleUpRate: 1000, MaxScaleDownRate: 2, ScalingMetric: "concurrency",
		TargetValue: p.Capacity * p.Utilization, TotalValue: p.Capacity, TargetBurstCapacity: 211,
		ActivatorCapacity: 100, PanicThreshold: 2, StableWindow: 60 * time.Second,
		InitialScale: 1, Reachable: true, ActivationScale: 1,
	}
	k.uni = scaling.New(attribute.NewSet(), noop.NewMeterProvider(), "bench", "rev", k.metrics, k.pods, spec)
	return k
}

func (k *KPA) Name() string        { return "Knative KPA (2s tick)" }
func (k *KPA) Tick() time.Duration { return 2 * time.Second }

func (k *KPA) Observe(now time.Time, demand float64, ready, replicas int32) {
	k.metrics.add(now, demand)
	k.pods.ready, k.pods.notReady = int(ready), int(replicas-ready)
}

func (k *KPA) Decide(now time.Time, _, replicas int32) int32 {
	r := k.uni.Scale(k.logger, now)
	if !r.ScaleValid {
		return replicas
	}
	want := r.DesiredPodCount
	if want > 0 {
		k.zeroSince = time.Time{}
		return want
	}
	if k.zeroSince.IsZero() {
		k.zeroSince = now
	}
	if replicas > 0 && now.Sub(k.zeroSince) < 30*time.Second {
		return 1
	}
	return 0
}

// concurrency keeps per-second observed concurrency and averages it over the KPA's windows.
type concurrency struct {
	samples []timedValue
}

type timedValue struct {
	at time.Time
	v  float64
}

func (c *concurrency) add(now time.Time, v float64) {
	c.samples = append(c.samples, timedValue{now, v})
	cutoff := now.Add(-60 * time.Second)
	for len(c.samples) > 0 && !c.samples[0].at.After(cutoff) {
		c.samples = c.samples[1:]
	}
}

func (c *concurrency) avg(now time.Time, window time.Duration) float64 {
	sum, n := 0.0, 0
	for _, s := range c.samples {
		if s.at.After(now.Add(-window)) && !s.at.After(now) {
			sum += s.v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func (c *concurrency) StableAndPanicConcurrency(_ types.NamespacedName, now time.Time) (float64, float64, error) {
	return c.avg(now, 60*time.Second), c.avg(now, 6*time.Second), nil
}

func (c *concurrency) StableAndPanicRPS(types.NamespacedName, time.Time) (float64, float64, error) {
	return 0, 0, fmt.Errorf("not used")
}

type endpoints struct{ ready, notReady int }

func (e *endpoints) ReadyCount() (int, error)    { return e.ready, nil }
func (e *endpoints) NotReadyCount() (int, error) { return e.notReady, nil }
