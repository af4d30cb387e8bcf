// Package scalestate keeps the autoscaler's memory of each workload (its load window, recent
// recommendations and scale events) between passes, as the Kubernetes HPA controller does.
package scalestate

import (
	"sync"

	"github.com/serverlessplane/operator/pkg/autoscaler"
)

// Store holds one autoscaler.State per workload key. A workload is reconciled by one worker at a
// time, so only the map needs the lock.
type Store struct {
	mu     sync.Mutex
	states map[string]*autoscaler.State
}

// Get returns the state of key, created by init the first time.
func (s *Store) Get(key string, init func() *autoscaler.State) *autoscaler.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.states == nil {
		s.states = map[string]*autoscaler.State{}
	}
	st, ok := s.states[key]
	if !ok {
		st = init()
		s.states[key] = st
	}
	return st
}

// Forget drops the state of every key with the prefix (a deleted workload's).
func (s *Store) Forget(prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.states {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			delete(s.states, k)
		}
	}
}

// Pass is one autoscaling pass of a workload: its state (created by init the first time), the
// pass's sample observed (when sample is not nil), the autoscaler's decision, limited by limit
// (when not nil: what the workload may have, such as the quota), and the count chosen recorded
// for the scale-up rate limit. It returns the decision and the state, whose LastActive the
// caller may report.
func (s *Store) Pass(key string, p autoscaler.Policy, init func() *autoscaler.State, sample *autoscaler.Sample,
	in autoscaler.Input, limit func(autoscaler.Decision) autoscaler.Decision) (autoscaler.Decision, *autoscaler.State) {
	st := s.Get(key, init)
	if sample != nil {
		st.Observe(p, *sample)
	}
	d := autoscaler.Decide(p, st, in)
	if limit != nil {
		d = limit(d)
	}
	st.Record(in.Now, in.Current, d.Desired)
	return d, st
}
