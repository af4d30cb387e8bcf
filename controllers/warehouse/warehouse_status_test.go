package warehouse

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

func TestWarehouseStatus(t *testing.T) {
	now := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		obs       observation
		state     computev1.WarehouseState
		ready     metav1.ConditionStatus
		reason    string
		stalled   bool
		quotaCond bool
	}{
		{name: "starting", obs: observation{minClusters: 1, wanted: 1, desired: 1, clusters: 1},
			state: computev1.WarehouseStarting, ready: metav1.ConditionFalse, reason: ReasonStarting},
		{name: "running", obs: observation{minClusters: 1, wanted: 1, desired: 1, clusters: 1, ready: 1},
			state: computev1.WarehouseRunning, ready: metav1.ConditionTrue, reason: ReasonRunning},
		{name: "running below max while scaling out", obs: observation{minClusters: 1, wanted: 3, desired: 3, clusters: 3, ready: 1},
			state: computev1.WarehouseRunning, ready: metav1.ConditionTrue, reason: ReasonScaling},
		{name: "stopping", obs: observation{minClusters: 1, wanted: 0, clusters: 1, ready: 1},
			state: computev1.WarehouseStopping, ready: metav1.ConditionFalse, reason: ReasonStopping},
		{name: "stopped", obs: observation{minClusters: 1, autoStop: 10 * time.Minute},
			state: computev1.WarehouseStopped, ready: metav1.ConditionTrue, reason: ReasonStopped},
		{name: "quota keeps it from starting", obs: observation{minClusters: 1, wanted: 1, quota: &quotaBlock{Region: "r", Used: 24, Requested: 12, Quota: 24}},
			state: computev1.WarehouseStarting, ready: metav1.ConditionFalse, reason: ReasonQuotaExceeded, quotaCond: true},
		{name: "quota holds growth while running", obs: observation{minClusters: 1, wanted: 3, desired: 1, clusters: 1, ready: 1, quota: &quotaBlock{Region: "r"}},
			state: computev1.WarehouseRunning, ready: metav1.ConditionTrue, reason: ReasonRunning, quotaCond: true},
		{name: "requirements not met", obs: observation{stalledReason: ReasonRequirementsNotMet, stalledMessage: "no"},
			state: computev1.WarehouseStopped, ready: metav1.ConditionFalse, reason: ReasonRequirementsNotMet, stalled: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wh := &computev1.ServerlessWarehouse{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
			wh.Spec.ClusterSize, wh.Spec.MinClusters, wh.Spec.MaxClusters = computev1.ClusterSizeSmall, 1, 3
			st := computeStatus(wh, tc.obs, now)
			if st.State != tc.state {
				t.Errorf("state = %s, want %s", st.State, tc.state)
			}
			ready := meta.FindStatusCondition(st.Conditions, computev1.ConditionReady)
			if ready.Status != tc.ready || ready.Reason != tc.reason {
				t.Errorf("Ready = %s %s (%s), want %s %s", ready.Status, ready.Reason, ready.Message, tc.ready, tc.reason)
			}
			if got := meta.IsStatusConditionTrue(st.Conditions, computev1.ConditionStalled); got != tc.stalled {
				t.Errorf("Stalled = %t, want %t", got, tc.stalled)
			}
			if got := meta.IsStatusConditionTrue(st.Conditions, ConditionQuotaExceeded); got != tc.quotaCond {
				t.Errorf("QuotaExceeded = %t, want %t", got, tc.quotaCond)
			}
		})
	}
}

func TestQuotaMessageHasTheFigures(t *testing.T) {
	msg := quotaMessage(&quotaBlock{Region: "us-east-1", Used: 2000, Requested: 24, Quota: 2000})
	for _, want := range []string{"us-east-1", "2000 DBU/h used", "24 DBU/h requested", "quota 2000 DBU/h"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
}
