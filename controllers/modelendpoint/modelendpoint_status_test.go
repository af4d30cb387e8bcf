package modelendpoint

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/workspaceref"
	"github.com/serverlessplane/operator/pkg/autoscaler"
	"github.com/serverlessplane/operator/pkg/conditions"
	"github.com/serverlessplane/operator/pkg/metrics"
)

// statusSummary is what a user reads of an endpoint's status: conditions as "Status Reason"
// by type (their times and generations are the condition helpers' business).
type statusSummary struct {
	State      computev1.EndpointState
	Conditions map[string]string
	Entities   []computev1.ServedEntityStatus
	Traffic    *computev1.TrafficConfig
	URL        string
}

func summarizeStatus(st computev1.ModelEndpointStatus) statusSummary {
	s := statusSummary{State: st.State, Conditions: map[string]string{}, Entities: st.ServedEntities, Traffic: st.ActiveTraffic, URL: st.URL}
	for _, c := range st.Conditions {
		s.Conditions[c.Type] = string(c.Status) + " " + c.Reason
	}
	return s
}

const testURL = "https://serving.example.com/workspaces/ws/serving-endpoints/churn/invocations"

// steady is an entity view with load 1 and a decision that keeps its count.
func steady(o entityObs) entityView {
	return entityView{obs: o, inFlight: ptr.To(1.0), decision: &autoscaler.Decision{Desired: o.Desired, Reason: "load 1.0 within 10% of the target for 1"}}
}

// routedTo is a pass over the given entities, the active traffic routed as given.
func routedTo(active []computev1.TrafficRoute, views ...entityView) observation {
	obs := observation{entities: map[string]entityView{}, weighted: true, url: testURL,
		rollout: rollout{Active: active, Update: computev1.ConfigNotUpdating}}
	for _, v := range views {
		obs.entities[v.obs.Name] = v
		obs.order = append(obs.order, v.obs.Name)
	}
	return obs
}

func TestComputeStatus(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	earlier := metav1.NewTime(now.Add(-time.Hour))
	routed := map[string]string{ConditionWeightedRouting: "True " + ReasonRouted, conditions.ConditionMetricsAvailable: "True " + conditions.ReasonMetricsAvailable}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	// readyStatus is entity a's status after a pass of steady(ready("a")) with no earlier status.
	readyStatus := computev1.ServedEntityStatus{Name: "a", Replicas: 1, ReadyReplicas: 1, DesiredReplicas: 1,
		State: computev1.EntityReady, Message: "1 of 1 replicas ready", InFlightRequests: ptr.To[int32](1),
		Autoscaling: &computev1.AutoscalingStatus{Reason: "load 1.0 within 10% of the target for 1", LastScaleTime: &metav1.Time{Time: now}}}
	lastPass := []computev1.ServedEntityStatus{readyStatus}
	noLoad := errors.New("no route to host")

	tests := []struct {
		name string
		// previous is the status the pass starts from.
		previous computev1.ModelEndpointStatus
		obs      observation
		want     statusSummary
	}{
		{
			name:     "an endpoint outside any workspace is stalled and keeps what the last pass showed",
			previous: computev1.ModelEndpointStatus{ServedEntities: lastPass, URL: testURL},
			obs:      observation{stalledReason: workspaceref.ReasonNotInWorkspace, stalledMessage: "namespace ws is not a workspace"},
			want: statusSummary{
				State: computev1.EndpointState{Ready: computev1.EndpointNotReady, ConfigUpdate: computev1.ConfigInProgress},
				Conditions: map[string]string{
					computev1.ConditionReady:   "False " + workspaceref.ReasonNotInWorkspace,
					computev1.ConditionStalled: "True " + workspaceref.ReasonNotInWorkspace,
				},
				Entities: lastPass, URL: testURL,
			},
		},
		{
			name: "an endpoint whose workspace is not ready yet is reconciling",
			obs:  observation{waiting: "workspace ws is not ready"},
			want: statusSummary{
				State: computev1.EndpointState{Ready: computev1.EndpointNotReady, ConfigUpdate: computev1.ConfigInProgress},
				Conditions: map[string]string{
					computev1.ConditionReady:       "False " + ReasonWaitingForWorkspace,
					computev1.ConditionReconciling: "True " + ReasonWaitingForWorkspace,
				},
			},
		},
		{
			name: "every routed entity serving makes the endpoint ready",
			obs:  routedTo(routes("a", 100), steady(ready("a"))),
			want: statusSummary{
				State:      computev1.EndpointState{Ready: computev1.EndpointReady, ConfigUpdate: computev1.ConfigNotUpdating},
				Conditions: with(routed, computev1.ConditionReady, "True "+ReasonReady),
				Entities:   lastPass, Traffic: &computev1.TrafficConfig{Routes: routes("a", 100)}, URL: testURL,
			},
		},
		{
			name: "an entity scaled to zero on purpose serves its share",
			obs:  routedTo(routes("a", 100), steady(entityObs{Name: "a", Exists: true, RolledOut: true, InSpec: true, ScaleToZero: true})),
			want: statusSummary{
				State:      computev1.EndpointState{Ready: computev1.EndpointReady, ConfigUpdate: computev1.ConfigNotUpdating},
				Conditions: with(routed, computev1.ConditionReady, "True "+ReasonReady),
				Entities: []computev1.ServedEntityStatus{{Name: "a", State: computev1.EntityScaledToZero, Message: "0 of 0 replicas ready",
					InFlightRequests: ptr.To[int32](1), Autoscaling: readyStatus.Autoscaling}},
				Traffic: &computev1.TrafficConfig{Routes: routes("a", 100)}, URL: testURL,
			},
		},
		{
			name: "a routed entity without ready replicas leaves the endpoint not ready",
			obs: func() observation {
				v := steady(ready("a"))
				v.obs.Ready = 0
				return routedTo(routes("a", 100), v)
			}(),
			want: statusSummary{
				State:      computev1.EndpointState{Ready: computev1.EndpointNotReady, ConfigUpdate: computev1.ConfigNotUpdating},
				Conditions: with(routed, computev1.ConditionReady, "False "+ReasonNotReady),
				Entities: []computev1.ServedEntityStatus{{Name: "a", Replicas: 1, DesiredReplicas: 1, State: computev1.EntityNotReady,
					Message: "0 of 1 replicas ready", InFlightRequests: ptr.To[int32](1), Autoscaling: readyStatus.Autoscaling}},
				Traffic: &computev1.TrafficConfig{Routes: routes("a", 100)}, URL: testURL,
			},
		},
		{
			name: "an entity with no route yet leaves the endpoint not ready",
			obs:  routedTo(nil, steady(ready("a"))),
			want: statusSummary{
				State:      computev1.EndpointState{Ready: computev1.EndpointNotReady, ConfigUpdate: computev1.ConfigNotUpdating},
				Conditions: with(routed, computev1.ConditionReady, "False "+ReasonNotReady),
				Entities:   lastPass, URL: testURL,
			},
		},
		{
			name: "a failed rollout stalls the endpoint while the previous config serves",
			obs: func() observation {
				b := failed("b")
				b.Message = "rollout exceeded its progress deadline: pods never ready"
				obs := routedTo(routes("a", 100), steady(ready("a")), steady(b))
				obs.rollout.Update, obs.rollout.Failed = computev1.ConfigUpdateFailed, []string{"b"}
				return obs
			}(),
			want: statusSummary{
				State:      computev1.EndpointState{Ready: computev1.EndpointReady, ConfigUpdate: computev1.ConfigUpdateFailed},
				Conditions: with(routed, computev1.ConditionReady, "True "+ReasonUpdateFailed, computev1.ConditionStalled, "True "+ReasonUpdateFailed),
				Entities: []computev1.ServedEntityStatus{readyStatus, {Name: "b", Replicas: 1, ReadyReplicas: 1, DesiredReplicas: 1,
					State: computev1.EntityFailed, Message: "rollout exceeded its progress deadline: pods never ready",
					InFlightRequests: ptr.To[int32](1), Autoscaling: readyStatus.Autoscaling}},
				Traffic: &computev1.TrafficConfig{Routes: routes("a", 100)}, URL: testURL,
			},
		},
		{
			name: "a config update in progress is reconciling while the previous config serves",
			obs: func() observation {
				obs := routedTo(routes("a", 100), steady(ready("a")), steady(rolling("b")))
				obs.rollout.Update = computev1.ConfigInProgress
				return obs
			}(),
			want: statusSummary{
				State:      computev1.EndpointState{Ready: computev1.EndpointReady, ConfigUpdate: computev1.ConfigInProgress},
				Conditions: with(routed, computev1.ConditionReady, "True "+ReasonUpdating, computev1.ConditionReconciling, "True "+ReasonUpdating),
				Entities: []computev1.ServedEntityStatus{readyStatus, {Name: "b", Replicas: 1, ReadyReplicas: 1, DesiredReplicas: 1,
					State: computev1.EntityUpdating, Message: "1 of 1 replicas ready", InFlightRequests: ptr.To[int32](1), Autoscaling: readyStatus.Autoscaling}},
				Traffic: &computev1.TrafficConfig{Routes: routes("a", 100)}, URL: testURL,
			},
		},
		{
			name: "a steady count keeps the last autoscaling reason and time, so a tick writes nothing",
			previous: computev1.ModelEndpointStatus{ServedEntities: []computev1.ServedEntityStatus{{Name: "a", DesiredReplicas: 1,
				Autoscaling: &computev1.AutoscalingStatus{Reason: "load 3.0 over target 2.8 per replica", LastScaleTime: &earlier}}}},
			obs: routedTo(routes("a", 100), steady(ready("a"))),
			want: statusSummary{
				State:      computev1.EndpointState{Ready: computev1.EndpointReady, ConfigUpdate: computev1.ConfigNotUpdating},
				Conditions: with(routed, computev1.ConditionReady, "True "+ReasonReady),
				Entities: []computev1.ServedEntityStatus{{Name: "a", Replicas: 1, ReadyReplicas: 1, DesiredReplicas: 1,
					State: computev1.EntityReady, Message: "1 of 1 replicas ready", InFlightRequests: ptr.To[int32](1),
					Autoscaling: &computev1.AutoscalingStatus{Reason: "load 3.0 over target 2.8 per replica", LastScaleTime: &earlier}}},
				Traffic: &computev1.TrafficConfig{Routes: routes("a", 100)}, URL: testURL,
			},
		},
		{
			name: "a changed count rewrites the autoscaling reason and time",
			previous: computev1.ModelEndpointStatus{ServedEntities: []computev1.ServedEntityStatus{{Name: "a", DesiredReplicas: 2,
				Autoscaling: &computev1.AutoscalingStatus{Reason: "load 5.0 over target 2.8 per replica", LastScaleTime: &earlier}}}},
			obs: routedTo(routes("a", 100), steady(ready("a"))),
			want: statusSummary{
				State:      computev1.EndpointState{Ready: computev1.EndpointReady, ConfigUpdate: computev1.ConfigNotUpdating},
				Conditions: with(routed, computev1.ConditionReady, "True "+ReasonReady),
				Entities:   lastPass, Traffic: &computev1.TrafficConfig{Routes: routes("a", 100)}, URL: testURL,
			},
		},
		{
			name: "an unreadable load is shown on the entity and in MetricsAvailable, with no autoscaling reason",
			obs: routedTo(routes("a", 100), entityView{obs: ready("a"), err: noLoad,
				decision: &autoscaler.Decision{Desired: 1, NoData: true, Reason: "no load data: keeping 1"}}),
			want: statusSummary{
				State: computev1.EndpointState{Ready: computev1.EndpointReady, ConfigUpdate: computev1.ConfigNotUpdating},
				Conditions: with(routed, computev1.ConditionReady, "True "+ReasonReady,
					conditions.ConditionMetricsAvailable, "False "+conditions.ReasonMetricsUnavailable),
				Entities: []computev1.ServedEntityStatus{{Name: "a", Replicas: 1, ReadyReplicas: 1, DesiredReplicas: 1, State: computev1.EntityReady,
					Message: "cannot read the load, so the replica count is held: no route to host"}},
				Traffic: &computev1.TrafficConfig{Routes: routes("a", 100)}, URL: testURL,
			},
		},
		{
			name: "without a metrics source MetricsAvailable says autoscaling is off",
			obs: routedTo(routes("a", 100), entityView{obs: ready("a"), err: metrics.ErrDisabled,
				decision: &autoscaler.Decision{Desired: 1, NoData: true, Reason: "no load data: keeping 1"}}),
			want: statusSummary{
				State: computev1.EndpointState{Ready: computev1.EndpointReady, ConfigUpdate: computev1.ConfigNotUpdating},
				Conditions: with(routed, computev1.ConditionReady, "True "+ReasonReady,
					conditions.ConditionMetricsAvailable, "False "+conditions.ReasonAutoscalingDisabled),
				Entities: []computev1.ServedEntityStatus{{Name: "a", Replicas: 1, ReadyReplicas: 1, DesiredReplicas: 1, State: computev1.EntityReady,
					Message: "1 of 1 replicas ready"}},
				Traffic: &computev1.TrafficConfig{Routes: routes("a", 100)}, URL: testURL,
			},
		},
		{
			name: "without the Gateway API the weighted routing condition is False",
			obs: func() observation {
				obs := routedTo(routes("a", 100), steady(ready("a")))
				obs.weighted = false
				return obs
			}(),
			want: statusSummary{
				State: computev1.EndpointState{Ready: computev1.EndpointReady, ConfigUpdate: computev1.ConfigNotUpdating},
				Conditions: with(routed, computev1.ConditionReady, "True "+ReasonReady,
					ConditionWeightedRouting, "False "+ReasonGatewayAPIUnavailable),
				Entities: lastPass, Traffic: &computev1.TrafficConfig{Routes: routes("a", 100)}, URL: testURL,
			},
		},
		{
			name: "an entity removed from the spec shows until no traffic routes to it",
			obs:  routedTo(routes("a", 100), steady(ready("a")), entityView{obs: gone(ready("old"))}),
			want: statusSummary{
				State:      computev1.EndpointState{Ready: computev1.EndpointReady, ConfigUpdate: computev1.ConfigNotUpdating},
				Conditions: with(routed, computev1.ConditionReady, "True "+ReasonReady),
				Entities: []computev1.ServedEntityStatus{readyStatus, {Name: "old", Replicas: 1, ReadyReplicas: 1, DesiredReplicas: 1,
					State: computev1.EntityReady, Message: "removed from the spec: deleted once no traffic routes to it"}},
				Traffic: &computev1.TrafficConfig{Routes: routes("a", 100)}, URL: testURL,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := &computev1.ModelEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "churn", Namespace: "ws", Generation: 3}, Status: tc.previous}
			got := summarizeStatus(computeStatus(ep, tc.obs, now))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("computeStatus (-want +got):\n%s", diff)
			}
		})
	}
}

func TestComputeStatusMessages(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b := failed("b")
	b.Message = "rollout exceeded its progress deadline: pods never ready"
	failedUpdate := routedTo(routes("a", 100), steady(ready("a")), steady(b))
	failedUpdate.rollout.Update, failedUpdate.rollout.Failed = computev1.ConfigUpdateFailed, []string{"b"}
	unready := steady(ready("b"))
	unready.obs.Ready = 0
	tests := []struct {
		name string
		obs  observation
		want string
	}{
		{
			name: "a ready endpoint says so",
			obs:  routedTo(routes("a", 100), steady(ready("a"))),
			want: "every served entity of the active config is ready",
		},
		{
			name: "a not ready endpoint names the entities that do not serve",
			obs:  routedTo(routes("a", 50, "b", 50), steady(ready("a")), unready),
			want: "waiting for served entities: b",
		},
		{
			name: "a not ready endpoint whose entities all serve waits for its route",
			obs:  routedTo(nil, steady(ready("a"))),
			want: "waiting for served entities: traffic not yet routed",
		},
		{
			name: "a failed update names the entity, why, and what to fix",
			obs:  failedUpdate,
			want: "config update failed (b: rollout exceeded its progress deadline: pods never ready); the previous config keeps serving and routed. Fix the served entity's spec (model, image, workload) to roll again",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := &computev1.ModelEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "churn", Namespace: "ws"}}
			st := computeStatus(ep, tc.obs, now)
			var got string
			for _, c := range st.Conditions {
				if c.Type == computev1.ConditionReady {
					got = c.Message
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Ready message (-want +got):\n%s", diff)
			}
		})
	}
}
