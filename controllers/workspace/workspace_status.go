package workspace

import (
	"fmt"
	"strings"
	"time"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/conditions"
)

// Reasons of the workspace conditions.
const (
	ReasonReady                = "Ready"
	ReasonUnknownRegion        = "UnknownRegion"
	ReasonReservedName         = "ReservedName"
	ReasonNamespaceConflict    = "NamespaceConflict"
	ReasonNamespaceTerminating = "NamespaceTerminating"
	ReasonNCCNotFound          = "NetworkConnectivityConfigNotFound"
	ReasonNCCRegionMismatch    = "NetworkConnectivityConfigRegionMismatch"
	ReasonNCCDeleting          = "NetworkConnectivityConfigDeleting"
)

// namespaceState is what the operator found where the workspace namespace should be.
type namespaceState int

const (
	namespaceOwned       namespaceState = iota // created by the operator for this workspace
	namespaceConflict                          // exists and was not created for this workspace
	namespaceTerminating                       // ours (or a predecessor's) and being deleted
	namespaceUnchecked                         // not looked at: the workspace is invalid
)

// nccState is what the operator found for spec.networkConnectivityConfig.
type nccState int

const (
	nccNone nccState = iota
	nccBound
	nccNotFound
	nccRegionMismatch
	nccDeleting
)

// observation is what one pass learned; status is a function of it alone.
type observation struct {
	regions      []string // configured regions, when spec.region is not one of them
	reservedName bool
	namespace    namespaceState
	ncc          nccState
	nccRegion    string
	egressCIDRs  []string
	policies     int
}

// computeStatus returns the workspace status for what a pass observed.
func computeStatus(ws *computev1.Workspace, obs observation, now time.Time) computev1.WorkspaceStatus {
	st := *ws.Status.DeepCopy()
	st.ObservedGeneration = ws.Generation
	st.Namespace = ""
	if obs.namespace == namespaceOwned {
		st.Namespace = ws.Name
	}
	st.EgressCIDRs = nil
	if obs.ncc == nccBound || obs.ncc == nccDeleting {
		st.EgressCIDRs = obs.egressCIDRs
	}
	conditions.Apply(&st.Conditions, summarize(ws, obs), ws.Generation, now)
	return st
}

func summarize(ws *computev1.Workspace, obs observation) conditions.Summary {
	ncc := ws.Spec.NetworkConnectivityConfig
	switch {
	case obs.regions != nil:
		return conditions.Summary{Stalled: true, Reason: ReasonUnknownRegion, Message: fmt.Sprintf(
			"spec.region %q is not a region of the operator configuration (%s); region cannot change, so delete this workspace and create it in one of those regions",
			ws.Spec.Region, strings.Join(obs.regions, ", "))}
	case obs.reservedName:
		return conditions.Summary{Stalled: true, Reason: ReasonReservedName, Message: fmt.Sprintf(
			"the name %q is the operator's namespace; delete this workspace and choose another name", ws.Name)}
	case obs.namespace == namespaceConflict:
		return conditions.Summary{Stalled: true, Reason: ReasonNamespaceConflict, Message: fmt.Sprintf(
			"namespace %q already exists and was not created for this workspace; the operator will not adopt, change or delete it: delete this workspace and create it under another name, or remove the namespace",
			ws.Name)}
	case obs.namespace == namespaceTerminating:
		return conditions.Summary{Reconciling: true, Reason: ReasonNamespaceTerminating, Message: fmt.Sprintf(
			"namespace %q is being deleted; it is created again once it is gone", ws.Name)}
	case obs.ncc == nccRegionMismatch:
		return conditions.Summary{Stalled: true, Reason: ReasonNCCRegionMismatch, Message: fmt.Sprintf(
			"NetworkConnectivityConfig %q is in region %q but the workspace is in %q; set spec.networkConnectivityConfig to an NCC of %q. Egress is limited to DNS and the storage gateway meanwhile",
			ncc, obs.nccRegion, ws.Spec.Region, ws.Spec.Region)}
	case obs.ncc == nccNotFound:
		return conditions.Summary{Reconciling: true, Reason: ReasonNCCNotFound, Message: fmt.Sprintf(
			"NetworkConnectivityConfig %q does not exist; create it in region %q or change spec.networkConnectivityConfig. Egress is limited to DNS and the storage gateway meanwhile",
			ncc, ws.Spec.Region)}
	case obs.ncc == nccDeleting:
		return conditions.Summary{Ready: true, Reason: ReasonNCCDeleting, Message: fmt.Sprintf(
			"NetworkConnectivityConfig %q is being deleted and waits for this workspace to unbind; its egress stays in force until then",
			ncc)}
	}
	msg := fmt.Sprintf("namespace %q is isolated by %d network policies", ws.Name, obs.policies)
	if ncc != "" {
		msg += fmt.Sprintf("; egress per NetworkConnectivityConfig %q", ncc)
	}
	return conditions.Summary{Ready: true, Reason: ReasonReady, Message: msg}
}
