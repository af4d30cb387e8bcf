package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
)

// Wake makes the hold loop look at held requests and queued statements now: call it when
// EndpointSlices or warehouse pods change.
func (s *Server) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run releases held requests as soon as their entity has a ready pod, and names the entities
// they wait for to the operator again while they wait, until ctx ends.
func (s *Server) Run(ctx context.Context) {
	tick := s.o.Clock.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
			s.thrift.Expire(s.o.Clock.Now())
		case <-s.wake:
		}
		s.releaseReady(ctx)
		s.pumpAll(ctx)
		s.sql.expire(s.o.Clock.Now())
	}
}

// releaseReady hands the held requests of every entity that has a ready pod to its pods, as
// many as they take, and names the others to the operator again while they wait.
func (s *Server) releaseReady(ctx context.Context) {
	now := s.o.Clock.Now()
	for _, key := range s.hold.Keys() {
		ns, endpoint, entity, ok := splitHoldKey(key)
		if !ok {
			continue
		}
		addrs, err := readyAddresses(ctx, s.o.Reader, ns, naming.ServedEntity(endpoint, entity), modelPort)
		if err == nil && len(addrs) > 0 {
			s.releaseHeld(ctx, ns, endpoint, entity)
			continue
		}
		s.mu.Lock()
		due := now.Sub(s.poked[ns+"/"+endpoint]) >= repoke
		s.mu.Unlock()
		if due {
			s.poke(ctx, ns, endpoint)
		}
	}
}

func splitHoldKey(key string) (ns, endpoint, entity string, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// poke records on the endpoint which of its entities hold requests, so that the operator, which
// watches endpoints, starts them now rather than at its next tick.
func (s *Server) poke(ctx context.Context, ns, endpoint string) {
	var entities []string
	for _, key := range s.hold.Keys() {
		if kns, kep, entity, ok := splitHoldKey(key); ok && kns == ns && kep == endpoint {
			entities = append(entities, entity)
		}
	}
	if len(entities) == 0 {
		return
	}
	now := s.o.Clock.Now()
	s.mu.Lock()
	if now.Sub(s.poked[ns+"/"+endpoint]) < time.Second {
		s.mu.Unlock()
		return
	}
	s.poked[ns+"/"+endpoint] = now
	s.mu.Unlock()
	value := strings.Join(entities, ",") + "@" + now.UTC().Format(time.RFC3339Nano)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{computev1.AnnotationActivation: value}}})
	ep := &computev1.ModelEndpoint{}
	ep.Namespace, ep.Name = ns, endpoint
	if err := s.o.Writer.Patch(ctx, ep, client.RawPatch(types.MergePatchType, patch)); err != nil {
		s.o.Log.Error(err, "telling the operator of held requests", "endpoint", ns+"/"+endpoint, "entities", entities)
	}
}
