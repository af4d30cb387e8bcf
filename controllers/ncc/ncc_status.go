package ncc

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/conditions"
)

// ConditionLegacyStableIPs reports on the legacy stable IP list of an NCC that asks for it.
const ConditionLegacyStableIPs = "LegacyStableIPs"

// Reasons of the NCC conditions.
const (
	ReasonReady              = "Ready"
	ReasonUnknownRegion      = "UnknownRegion"
	ReasonRulesRejected      = "RulesRejected"
	ReasonPending            = "WaitingForWorkspaces"
	ReasonDeletionBlocked    = "DeletionBlockedByWorkspaces"
	ReasonLegacyPublished    = "Published"
	ReasonLegacyDecommission = "Decommissioned"
)

// observation is what one pass learned; status is a function of it alone.
type observation struct {
	regions  []string // the configured regions, when spec.region is not one of them
	region   *configv1.Region
	bound    []string // workspaces bound to the NCC, sorted
	unready  []string // bound workspaces whose namespace is not provisioned yet
	checks   map[string]ruleCheck
	deleting bool
}

// computeStatus returns the NCC status for what a pass observed, at now, with legacy stable
// IPs decommissioned at decommission.
func computeStatus(n *computev1.NetworkConnectivityConfig, obs observation, now, decommission time.Time) computev1.NetworkConnectivityConfigStatus {
	st := *n.Status.DeepCopy()
	st.ObservedGeneration = n.Generation
	st.BoundWorkspaces = obs.bound[:min(len(obs.bound), computev1.MaxListedWorkspaces)]
	st.BoundWorkspaceCount = int32(len(obs.bound))
	st.EgressCIDRs, st.LegacyStableIPs = nil, nil
	if obs.region != nil {
		st.EgressCIDRs = slices.Clone(obs.region.StableEgressCIDRs)
	}
	st.Rules = ruleStatuses(n, obs)
	legacyIPs(&st, n, obs.region, now, decommission)
	conditions.Apply(&st.Conditions, summarize(n, obs, st.Rules), n.Generation, now)
	return st
}

func ruleStatuses(n *computev1.NetworkConnectivityConfig, obs observation) []computev1.PrivateEndpointRuleStatus {
	if obs.region == nil {
		return nil
	}
	out := make([]computev1.PrivateEndpointRuleStatus, 0, len(n.Spec.PrivateEndpointRules))
	for _, rule := range n.Spec.PrivateEndpointRules {
		c := obs.checks[rule.Name]
		rs := computev1.PrivateEndpointRuleStatus{Name: rule.Name, CrossRegion: c.crossRegion}
		switch {
		case c.rejected != "":
			rs.ConnectionState, rs.Message = computev1.ConnectionRejected, c.rejected
		case len(obs.bound) == 0:
			rs.ConnectionState, rs.Message = computev1.ConnectionPending, "no workspace is bound to this NCC yet"
		case len(obs.unready) > 0:
			rs.ConnectionState = computev1.ConnectionPending
			rs.Message = "waiting for the namespaces of workspaces " + strings.Join(obs.unready, ", ")
		default:
			rs.ConnectionState = computev1.ConnectionEstablished
			rs.Message = fmt.Sprintf("materialized in %d workspace namespaces", len(obs.bound))
		}
		if c.note != "" && c.rejected == "" {
			rs.Message += "; " + c.note
		}
		out = append(out, rs)
	}
	return out
}

// legacyIPs publishes the region's legacy stable IPs to an NCC that asks for them until the
// decommission date, and says how to migrate once it has passed.
func legacyIPs(st *computev1.NetworkConnectivityConfigStatus, n *computev1.NetworkConnectivityConfig, region *configv1.Region, now, decommission time.Time) {
	if n.Spec.StableIPs != computev1.StableIPsLegacy || region == nil {
		meta.RemoveStatusCondition(&st.Conditions, ConditionLegacyStableIPs)
		return
	}
	date := decommission.Format(time.DateOnly)
	migrate := fmt.Sprintf("add status.egressCIDRs (%s) to your resource firewalls, remove the legacy IPs, then set spec.stableIPs to Current",
		strings.Join(region.StableEgressCIDRs, ", "))
	if now.Before(decommission) {
		st.LegacyStableIPs = slices.Clone(region.LegacyStableIPs)
		conditions.Set(&st.Conditions, ConditionLegacyStableIPs, metav1.ConditionTrue, ReasonLegacyPublished,
			fmt.Sprintf("legacy stable IPs are published until %s, when they are decommissioned; before then, %s", date, migrate),
			n.Generation, now)
		return
	}
	conditions.Set(&st.Conditions, ConditionLegacyStableIPs, metav1.ConditionFalse, ReasonLegacyDecommission,
		fmt.Sprintf("legacy stable IPs were decommissioned on %s and are no longer published; workloads relying on legacy allowlists may fail to connect: %s", date, migrate),
		n.Generation, now)
}

func summarize(n *computev1.NetworkConnectivityConfig, obs observation, rules []computev1.PrivateEndpointRuleStatus) conditions.Summary {
	if obs.region == nil {
		return conditions.Summary{Stalled: true, Reason: ReasonUnknownRegion, Message: fmt.Sprintf(
			"spec.region %q is not a region of the operator configuration (%s); region cannot change, so delete this NCC and create it in one of those regions",
			n.Spec.Region, strings.Join(obs.regions, ", "))}
	}
	if obs.deleting {
		return conditions.Summary{Reconciling: true, Reason: ReasonDeletionBlocked, Message: fmt.Sprintf(
			"deletion waits while workspaces are bound: %s; point their spec.networkConnectivityConfig elsewhere or delete them",
			strings.Join(obs.bound, ", "))}
	}
	var rejected []string
	for _, r := range rules {
		if r.ConnectionState == computev1.ConnectionRejected {
			rejected = append(rejected, fmt.Sprintf("%s (%s)", r.Name, r.Message))
		}
	}
	if len(rejected) > 0 {
		return conditions.Summary{Stalled: true, Reason: ReasonRulesRejected, Message: "private endpoint rules rejected: " +
			strings.Join(rejected, "; ") + ". The other rules are in force"}
	}
	if len(obs.unready) > 0 {
		return conditions.Summary{Reconciling: true, Reason: ReasonPending, Message: "waiting for the namespaces of workspaces " +
			strings.Join(obs.unready, ", ")}
	}
	return conditions.Summary{Ready: true, Reason: ReasonReady, Message: fmt.Sprintf(
		"%d private endpoint rules in force in %d bound workspaces", len(rules), len(obs.bound))}
}
