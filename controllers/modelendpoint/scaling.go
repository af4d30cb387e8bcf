package modelendpoint

import (
	"context"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/activation"
	"github.com/serverlessplane/operator/internal/pods"
	"github.com/serverlessplane/operator/internal/scalestate"
	"github.com/serverlessplane/operator/pkg/autoscaler"
	"github.com/serverlessplane/operator/pkg/metrics"
)

// scaleEntities decides each served entity's replica count from its load and applies its
// objects with that count, one entity after the other, then adds to obs the entities that
// left the spec but still run.
func (r *Reconciler) scaleEntities(ctx context.Context, ep *computev1.ModelEndpoint, live map[string]*appsv1.Deployment, obs *observation) error {
	now := r.Clock.Now()
	for i := range ep.Spec.ServedEntities {
		e := &ep.Spec.ServedEntities[i]
		p := entityPolicy(e, r.Config)
		scale := decideReplicas(&r.states, stateKey(ep, e.Name), p, r.observeLoad(ctx, ep, e.Name, p, live[e.Name], now), now)
		hash, err := r.applyEntity(ctx, ep, e, scale.decision.Desired)
		if err != nil {
			return err
		}
		view := entityView{decision: &scale.decision, inFlight: scale.inFlight, err: scale.err}
		view.obs = observeEntity(e.Name, live[e.Name], hash)
		view.obs.InSpec, view.obs.ScaleToZero = true, e.ScaleToZero == computev1.ScaleToZeroEnabled
		if view.obs.Exists {
			view.obs.Desired = scale.decision.Desired
		}
		obs.entities[e.Name] = view
		obs.order = append(obs.order, e.Name)
	}
	var removed []string
	for name, d := range live {
		if _, ok := obs.entities[name]; !ok {
			obs.entities[name] = entityView{obs: observeEntity(name, d, "")}
			removed = append(removed, name)
		}
	}
	slices.Sort(removed)
	obs.order = append(obs.order, removed...)
	return nil
}

// loadObservation is what a pass saw of one served entity for its replica decision.
type loadObservation struct {
	// inFlight is the entity's in-flight requests as its pods report them, unless err says
	// why they could not be read (metrics.ErrDisabled without a metrics source).
	inFlight float64
	err      error
	// activated is whether the gateway holds requests for the entity, within the idle grace.
	activated bool
	// current and ready are the replicas of the entity's Deployment; 0 before it exists.
	current, ready int32
}

// observeLoad reads a served entity's load from the metrics source and its replicas from its
// Deployment (nil before it exists).
func (r *Reconciler) observeLoad(ctx context.Context, ep *computev1.ModelEndpoint, entity string, p autoscaler.Policy, d *appsv1.Deployment, now time.Time) loadObservation {
	o := loadObservation{activated: activation.Requested(ep, entity, now, p.IdleGrace)}
	o.inFlight, o.err = r.Metrics.InFlight(ctx, r.target(ctx, ep, entity))
	if d != nil && d.Spec.Replicas != nil {
		o.current, o.ready = *d.Spec.Replicas, d.Status.ReadyReplicas
	}
	return o
}

// target is what the metrics source reads: the entity's ready pods.
func (r *Reconciler) target(ctx context.Context, ep *computev1.ModelEndpoint, entity string) metrics.Target {
	return metrics.Target{Namespace: ep.Namespace, Name: ep.Name, Entity: entity,
		Pods: pods.Targets(ctx, r.Client, ep.Namespace, client.MatchingLabels{computev1.LabelEndpoint: ep.Name, computev1.LabelServedEntity: entity})}
}

// entityScale is the replica decision for one served entity and the load it saw.
type entityScale struct {
	decision autoscaler.Decision
	// inFlight is the load the decision saw; nil when it could not be read, and err says why.
	inFlight *float64
	err      error
}

// decideReplicas decides a served entity's replica count from what the pass observed, in one
// autoscaling pass of the entity's memory in states (key): the load observed when it could be
// read, the decision, and the count recorded. It reads and writes nothing else.
func decideReplicas(states *scalestate.Store, key string, p autoscaler.Policy, o loadObservation, now time.Time) entityScale {
	inFlight, err := o.inFlight, o.err
	// Requests the gateway holds for an entity at zero are load its pods cannot report.
	if o.activated {
		inFlight, err = max(inFlight, 1), nil
	}
	out := entityScale{err: err}
	var sample *autoscaler.Sample
	if err == nil {
		sample = &autoscaler.Sample{Time: now, Load: inFlight}
		out.inFlight = &inFlight
	}
	out.decision, _ = states.Pass(key, p, func() *autoscaler.State { return &autoscaler.State{LastActive: now} }, sample,
		autoscaler.Input{Now: now, Current: o.current, Ready: o.ready, Cap: -1}, nil)
	return out
}

// entityPolicy is a served entity's autoscaling policy: replicas scale on in-flight requests
// against the per-replica concurrency, within the workload size's bounds.
func entityPolicy(e *computev1.ServedEntity, cfg *configv1.OperatorConfig) autoscaler.Policy {
	b := replicaBounds(e, cfg)
	p := scalestate.BasePolicy(&cfg.Autoscaling)
	p.Min, p.Max = b.Min, b.Max
	p.TargetPerReplica = float64(cfg.ModelServing.ConcurrencyPerReplica)
	// Served entities follow request load without a scale-down delay by default (the KPA's way).
	p.ScaleDownStabilization = cfg.ModelServing.ScaleDownStabilization.Duration
	p.ScaleToZero = e.ScaleToZero == computev1.ScaleToZeroEnabled
	p.Sizing = autoscaler.Sizing(cfg.ModelServing.Sizing)
	return p
}

// stateKey names a served entity's autoscaler memory; an endpoint's keys share the prefix
// "namespace/name/".
func stateKey(ep *computev1.ModelEndpoint, entity string) string {
	return client.ObjectKeyFromObject(ep).String() + "/" + entity
}
