package ncc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/conditions"
)

func TestLegacyStableIPsAroundTheDecommissionDate(t *testing.T) {
	cfg := configv1.Default()
	region := &cfg.Regions[0]
	decommission := cfg.DecommissionTime()
	n := &computev1.NetworkConnectivityConfig{Spec: computev1.NetworkConnectivityConfigSpec{Region: region.Name, UseLegacyStableIPs: true}}
	tests := []struct {
		name   string
		at     time.Time
		status metav1.ConditionStatus
		ips    []string
		says   string
	}{
		{"a day before", decommission.Add(-24 * time.Hour), metav1.ConditionTrue, region.LegacyStableIPs, "published until 2026-05-25"},
		{"the last second", decommission.Add(-time.Second), metav1.ConditionTrue, region.LegacyStableIPs, "published until"},
		{"the date itself", decommission, metav1.ConditionFalse, nil, "decommissioned on 2026-05-25"},
		{"a year after", decommission.Add(365 * 24 * time.Hour), metav1.ConditionFalse, nil, region.StableEgressCIDRs[0]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := computeStatus(n, observation{region: region}, tc.at, decommission)
			c := meta.FindStatusCondition(st.Conditions, ConditionLegacyStableIPs)
			if c == nil || c.Status != tc.status || !strings.Contains(c.Message, tc.says) {
				t.Fatalf("condition %+v, want %s saying %q", c, tc.status, tc.says)
			}
			if len(st.LegacyStableIPs) != len(tc.ips) {
				t.Fatalf("legacy IPs %v, want %v", st.LegacyStableIPs, tc.ips)
			}
		})
	}
	n.Spec.UseLegacyStableIPs = false
	st := computeStatus(n, observation{region: region}, decommission.Add(-time.Hour), decommission)
	if meta.FindStatusCondition(st.Conditions, ConditionLegacyStableIPs) != nil || st.LegacyStableIPs != nil {
		t.Fatal("an NCC that does not ask for legacy IPs gets none and no condition")
	}
}

func TestManyBoundWorkspaces(t *testing.T) {
	cfg := configv1.Default()
	n := &computev1.NetworkConnectivityConfig{Spec: computev1.NetworkConnectivityConfigSpec{Region: cfg.Regions[0].Name}}
	var bound []string
	for i := range 3000 {
		bound = append(bound, fmt.Sprintf("workspace-with-a-long-name-%05d", i))
	}
	st := computeStatus(n, observation{region: &cfg.Regions[0], bound: bound, deleting: true}, time.Now(), cfg.DecommissionTime())
	if len(st.BoundWorkspaces) != computev1.MaxListedWorkspaces || st.BoundWorkspaceCount != 3000 {
		t.Fatalf("%d listed, count %d; want %d listed of 3000", len(st.BoundWorkspaces), st.BoundWorkspaceCount, computev1.MaxListedWorkspaces)
	}
	for _, c := range st.Conditions {
		if len(c.Message) > conditions.MaxMessage {
			t.Fatalf("condition %s has a %d-byte message, over the API's %d", c.Type, len(c.Message), conditions.MaxMessage)
		}
	}
}
