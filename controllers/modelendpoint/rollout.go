package modelendpoint

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// entityObs is what a pass knows of one served entity's Deployment.
type entityObs struct {
	Name string
	// Exists is false before the Deployment is created.
	Exists                   bool
	Replicas, Ready, Desired int32
	RolledOut, Failed        bool
	Message                  string
	ScaleToZero, InSpec      bool
}

// observeEntity reads a served entity's Deployment. wantHash is the config the spec asks for:
// a Deployment with another config is still rolling, whatever its status says.
func observeEntity(name string, d *appsv1.Deployment, wantHash string) entityObs {
	o := entityObs{Name: name}
	if d == nil {
		return o
	}
	o.Exists = true
	o.Desired = ptr.Deref(d.Spec.Replicas, 1)
	o.Replicas, o.Ready = d.Status.Replicas, d.Status.ReadyReplicas
	// Rolled out: the controller saw this generation, every pod runs it and no old pod is left
	// (with maxUnavailable 0, old pods go only once new ones are available).
	o.RolledOut = d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas >= o.Desired &&
		d.Status.Replicas <= o.Desired && (wantHash == "" || d.Annotations[AnnotationConfigHash] == wantHash)
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			o.Failed, o.Message = true, "rollout exceeded its progress deadline: "+c.Message
		}
	}
	return o
}

// serving says whether an entity can take its share of traffic: it has ready replicas, or it
// is scaled to zero on purpose.
func (o entityObs) serving() bool {
	return o.Exists && (o.Ready > 0 || (o.Desired == 0 && o.ScaleToZero))
}

// state is the entity's state for status.
func (o entityObs) state() computev1.ServedEntityState {
	switch {
	case o.Failed:
		return computev1.EntityFailed
	case o.Exists && o.Desired == 0 && o.Ready == 0:
		return computev1.EntityScaledToZero
	case o.Exists && !o.RolledOut:
		return computev1.EntityUpdating
	case o.Ready > 0:
		return computev1.EntityReady
	}
	return computev1.EntityNotReady
}

// rollout is the outcome of one pass's traffic decision.
type rollout struct {
	// Active is the traffic to route now.
	Active []computev1.TrafficRoute
	// Update is NotUpdating, InProgress or UpdateFailed.
	Update computev1.ConfigUpdateState
	// Failed names the entities whose rollout failed.
	Failed []string
	// Remove names the entities whose objects can go: out of the spec and out of the route.
	Remove []string
}

// desiredRoutes is the spec's traffic, or 100% to the only entity.
func desiredRoutes(ep *computev1.ModelEndpoint) []computev1.TrafficRoute {
	if ep.Spec.Traffic != nil {
		return slices.Clone(ep.Spec.Traffic.Routes)
	}
	if len(ep.Spec.ServedEntities) == 1 {
		return []computev1.TrafficRoute{{ServedEntity: ep.Spec.ServedEntities[0].Name, Percent: 100}}
	}
	return nil
}

// activeRoutes is the traffic the endpoint routes now, as its status records it.
func activeRoutes(ep *computev1.ModelEndpoint) []computev1.TrafficRoute {
	if ep.Status.ActiveTraffic == nil {
		return nil
	}
	return ep.Status.ActiveTraffic.Routes
}

// decideRollout moves the active traffic to the spec's once every entity the spec routes to has
// rolled out and serves; until then, and when a rollout fails, the previous traffic stays. An
// entity removed from the spec keeps its objects until no route sends it traffic.
func decideRollout(want, active []computev1.TrafficRoute, entities map[string]entityObs) rollout {
	r := rollout{Active: active, Update: computev1.ConfigNotUpdating}
	ready := true
	for _, route := range want {
		e := entities[route.ServedEntity]
		if e.Failed {
			r.Failed = append(r.Failed, e.Name)
		}
		if route.Percent > 0 && (!e.RolledOut || !e.serving()) {
			ready = false
		}
	}
	pending := false
	for _, e := range entities {
		if e.InSpec && e.Failed && !slices.Contains(r.Failed, e.Name) {
			r.Failed = append(r.Failed, e.Name)
		}
		if e.InSpec && !e.RolledOut {
			pending = true
		}
	}
	slices.Sort(r.Failed)
	if ready {
		r.Active = want
	}
	switch {
	case len(r.Failed) > 0:
		r.Update = computev1.ConfigUpdateFailed
	case !sameRoutes(r.Active, want) || pending:
		r.Update = computev1.ConfigInProgress
	}
	for name, e := range entities {
		if !e.InSpec && !routed(r.Active, name) {
			r.Remove = append(r.Remove, name)
		}
	}
	slices.Sort(r.Remove)
	return r
}

func routed(routes []computev1.TrafficRoute, entity string) bool {
	for _, r := range routes {
		if r.ServedEntity == entity && r.Percent > 0 {
			return true
		}
	}
	return false
}

func sameRoutes(a, b []computev1.TrafficRoute) bool {
	if len(a) != len(b) {
		return false
	}
	byName := map[string]int32{}
	for _, r := range a {
		byName[r.ServedEntity] = r.Percent
	}
	for _, r := range b {
		if p, ok := byName[r.ServedEntity]; !ok || p != r.Percent {
			return false
		}
	}
	return true
}
