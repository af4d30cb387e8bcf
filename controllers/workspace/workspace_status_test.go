package workspace

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

func TestWorkspaceStatus(t *testing.T) {
	now := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	ws := &computev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "team", Generation: 2}, Spec: computev1.WorkspaceSpec{
		Region: "us-east-1", NetworkConnectivityConfig: "net",
	}}
	tests := []struct {
		name        string
		obs         observation
		ready       metav1.ConditionStatus
		reason      string
		stalled     bool
		reconciling bool
		says        string
		namespace   string
		egress      int
	}{
		{name: "ready", obs: observation{namespace: namespaceOwned, ncc: nccBound, egressCIDRs: []string{"a", "b"}, policies: 7},
			ready: metav1.ConditionTrue, reason: ReasonReady, says: "7 network policies", namespace: "team", egress: 2},
		{name: "unknown region", obs: observation{regions: []string{"us-east-1", "eu-central-1"}, namespace: namespaceUnchecked},
			ready: metav1.ConditionFalse, reason: ReasonUnknownRegion, stalled: true, says: "us-east-1, eu-central-1"},
		{name: "namespace conflict", obs: observation{namespace: namespaceConflict},
			ready: metav1.ConditionFalse, reason: ReasonNamespaceConflict, stalled: true, says: "will not adopt, change or delete"},
		{name: "namespace terminating", obs: observation{namespace: namespaceTerminating},
			ready: metav1.ConditionFalse, reason: ReasonNamespaceTerminating, reconciling: true},
		{name: "NCC missing", obs: observation{namespace: namespaceOwned, ncc: nccNotFound},
			ready: metav1.ConditionFalse, reason: ReasonNCCNotFound, reconciling: true, says: "spec.networkConnectivityConfig", namespace: "team"},
		{name: "NCC in another region", obs: observation{namespace: namespaceOwned, ncc: nccRegionMismatch, nccRegion: "eu-central-1"},
			ready: metav1.ConditionFalse, reason: ReasonNCCRegionMismatch, stalled: true, says: "eu-central-1", namespace: "team"},
		{name: "NCC being deleted keeps its egress", obs: observation{namespace: namespaceOwned, ncc: nccDeleting, egressCIDRs: []string{"a"}},
			ready: metav1.ConditionTrue, reason: ReasonNCCDeleting, namespace: "team", egress: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := computeStatus(ws, tc.obs, now)
			ready := meta.FindStatusCondition(st.Conditions, computev1.ConditionReady)
			if ready.Status != tc.ready || ready.Reason != tc.reason || !strings.Contains(ready.Message, tc.says) {
				t.Errorf("Ready = %s %s %q, want %s %s saying %q", ready.Status, ready.Reason, ready.Message, tc.ready, tc.reason, tc.says)
			}
			if got := meta.IsStatusConditionTrue(st.Conditions, computev1.ConditionStalled); got != tc.stalled {
				t.Errorf("Stalled = %t, want %t", got, tc.stalled)
			}
			if got := meta.IsStatusConditionTrue(st.Conditions, computev1.ConditionReconciling); got != tc.reconciling {
				t.Errorf("Reconciling = %t, want %t", got, tc.reconciling)
			}
			if st.Namespace != tc.namespace || len(st.EgressCIDRs) != tc.egress {
				t.Errorf("namespace %q egress %v", st.Namespace, st.EgressCIDRs)
			}
		})
	}
}

// A transition time moves only when a condition's status does.
func TestConditionTransitionTimes(t *testing.T) {
	t0 := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	ws := &computev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "team", Generation: 1}}
	obs := observation{namespace: namespaceOwned, policies: 5}
	ws.Status = computeStatus(ws, obs, t0)
	obs.policies = 6
	ws.Status = computeStatus(ws, obs, t0.Add(time.Hour))
	ready := meta.FindStatusCondition(ws.Status.Conditions, computev1.ConditionReady)
	if !ready.LastTransitionTime.Time.Equal(t0) || !strings.Contains(ready.Message, "6") {
		t.Fatalf("Ready %+v: the message follows, the transition time stays", ready)
	}
}
