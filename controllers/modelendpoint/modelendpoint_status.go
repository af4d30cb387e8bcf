package modelendpoint

import (
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/autoscaler"
	"github.com/serverlessplane/operator/pkg/conditions"
	"github.com/serverlessplane/operator/pkg/metrics"
)

// Reasons of the endpoint conditions.
const (
	ReasonReady                 = "Ready"
	ReasonNotReady              = "NotReady"
	ReasonUpdating              = "Updating"
	ReasonUpdateFailed          = "UpdateFailed"
	ReasonWaitingForWorkspace   = "WaitingForWorkspace"
	ReasonRouted                = "Routed"
	ReasonGatewayAPIUnavailable = "GatewayAPIUnavailable"
	// ReasonWorkloadNotConfigured: a served entity names a workload type or size the operator
	// configuration does not offer.
	ReasonWorkloadNotConfigured = "WorkloadNotConfigured"
)

// entityView is one served entity as status shows it.
type entityView struct {
	obs      entityObs
	decision *autoscaler.Decision
	inFlight *float64
	err      error
}

// observation is what one pass learned; status is a function of it alone.
type observation struct {
	stalledReason, stalledMessage, waiting string
	order                                  []string // entities in spec order, then removed ones
	entities                               map[string]entityView
	rollout                                rollout
	weighted                               bool
	url                                    string
}

// entityObs is what the pass observed of each entity's Deployment, for the rollout decision.
func (o observation) entityObs() map[string]entityObs {
	out := make(map[string]entityObs, len(o.entities))
	for name, v := range o.entities {
		out[name] = v.obs
	}
	return out
}

// computeStatus returns the endpoint status for what a pass observed.
func computeStatus(ep *computev1.ModelEndpoint, obs observation, now time.Time) computev1.ModelEndpointStatus {
	st := *ep.Status.DeepCopy()
	st.ObservedGeneration = ep.Generation
	if obs.stalledReason != "" || obs.waiting != "" {
		summary := conditions.Summary{Stalled: obs.stalledReason != "", Reconciling: obs.waiting != "",
			Reason: obs.stalledReason, Message: obs.stalledMessage}
		if obs.waiting != "" {
			summary.Reason, summary.Message = ReasonWaitingForWorkspace, obs.waiting
		}
		st.State = computev1.EndpointState{Ready: computev1.EndpointNotReady, ConfigUpdate: computev1.ConfigInProgress}
		conditions.Apply(&st.Conditions, summary, ep.Generation, now)
		return st
	}
	st.ServedEntities = nil
	for _, name := range obs.order {
		v := obs.entities[name]
		es := computev1.ServedEntityStatus{
			Name: name, Replicas: v.obs.Replicas, ReadyReplicas: v.obs.Ready, DesiredReplicas: v.obs.Desired,
			State: v.obs.state(), Message: entityMessage(v),
		}
		if v.inFlight != nil {
			es.InFlightRequests = ptrInt32(int32(*v.inFlight))
		}
		if v.decision != nil && !v.decision.NoData {
			// The reason changes with every load sample; it is rewritten only when the count
			// changes, so that a steady entity does not write its status on every tick.
			es.Autoscaling = &computev1.AutoscalingStatus{Reason: conditions.Truncate(v.decision.Reason, 512)}
			old := previousEntity(ep, name)
			switch {
			case old == nil || old.DesiredReplicas != es.DesiredReplicas || old.Autoscaling == nil:
				es.Autoscaling.LastScaleTime = &metav1.Time{Time: now.Truncate(time.Second)}
			default:
				es.Autoscaling = old.Autoscaling.DeepCopy()
			}
		}
		st.ServedEntities = append(st.ServedEntities, es)
	}
	st.ActiveTraffic = nil
	if len(obs.rollout.Active) > 0 {
		st.ActiveTraffic = &computev1.TrafficConfig{Routes: obs.rollout.Active}
	}
	st.URL = obs.url
	ready := len(obs.rollout.Active) > 0
	for _, r := range obs.rollout.Active {
		if r.Percent > 0 && !obs.entities[r.ServedEntity].obs.serving() {
			ready = false
		}
	}
	st.State = computev1.EndpointState{Ready: computev1.EndpointNotReady, ConfigUpdate: obs.rollout.Update}
	if ready {
		st.State.Ready = computev1.EndpointReady
	}
	weighted(&st.Conditions, obs.weighted, ep.Generation, now)
	metricsCondition(&st.Conditions, obs, ep.Generation, now)
	conditions.Apply(&st.Conditions, summarize(obs, ready), ep.Generation, now)
	return st
}

func summarize(obs observation, ready bool) conditions.Summary {
	s := conditions.Summary{Ready: ready, Reason: ReasonReady, Message: "every served entity of the active config is ready"}
	if !ready {
		s.Reason, s.Message = ReasonNotReady, "waiting for served entities: "+notServing(obs)
	}
	switch obs.rollout.Update {
	case computev1.ConfigUpdateFailed:
		var why []string
		for _, name := range obs.rollout.Failed {
			why = append(why, name+": "+obs.entities[name].obs.Message)
		}
		s.Stalled, s.Reason = true, ReasonUpdateFailed
		s.Message = "config update failed (" + strings.Join(why, "; ") + "); the previous config keeps serving and routed. Fix the served entity's spec (model, image, workload) to roll again"
	case computev1.ConfigInProgress:
		s.Reconciling = true
		if ready {
			s.Reason, s.Message = ReasonUpdating, "config update in progress; the previous config serves until the new one is ready"
		}
	}
	return s
}

func notServing(obs observation) string {
	var names []string
	for _, name := range obs.order {
		if !obs.entities[name].obs.serving() {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "traffic not yet routed"
	}
	return strings.Join(names, ", ")
}

// metricsCondition says whether every served entity's load could be read.
func metricsCondition(conds *[]metav1.Condition, obs observation, gen int64, now time.Time) {
	var failures []string
	disabled := len(obs.order) > 0
	for _, name := range obs.order {
		err := obs.entities[name].err
		if !errors.Is(err, metrics.ErrDisabled) {
			disabled = false
		}
		if err != nil && !errors.Is(err, metrics.ErrDisabled) {
			failures = append(failures, name+": "+err.Error())
		}
	}
	conditions.Metrics(conds, disabled, strings.Join(failures, "; "), gen, now)
}

func weighted(conds *[]metav1.Condition, ok bool, gen int64, now time.Time) {
	if ok {
		conditions.Set(conds, ConditionWeightedRouting, metav1.ConditionTrue, ReasonRouted,
			"the gateway routes the active traffic split through an HTTPRoute", gen, now)
		return
	}
	conditions.Set(conds, ConditionWeightedRouting, metav1.ConditionFalse, ReasonGatewayAPIUnavailable,
		"the Gateway API (HTTPRoute, BackendTLSPolicy) is not installed, so no HTTPRoute is written; the control-plane gateway (serverlessplane-gateway) routes the active split itself. Install the Gateway API CRDs and restart the operator to route it through a Gateway as well",
		gen, now)
}

func entityMessage(v entityView) string {
	switch {
	case v.obs.Failed:
		return conditions.Truncate(v.obs.Message, 1024)
	case v.err != nil && v.err != metrics.ErrDisabled:
		return conditions.Truncate(fmt.Sprintf("cannot read the load, so the replica count is held: %v", v.err), 1024)
	case !v.obs.Exists:
		return "creating"
	case !v.obs.InSpec:
		return "removed from the spec: deleted once no traffic routes to it"
	}
	return fmt.Sprintf("%d of %d replicas ready", v.obs.Ready, v.obs.Desired)
}

func previousEntity(ep *computev1.ModelEndpoint, name string) *computev1.ServedEntityStatus {
	for i := range ep.Status.ServedEntities {
		if ep.Status.ServedEntities[i].Name == name {
			return &ep.Status.ServedEntities[i]
		}
	}
	return nil
}

func ptrInt32(v int32) *int32 { return &v }
