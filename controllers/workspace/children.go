package workspace

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/netpolicy"
)

// Pod Security labels of a workspace namespace: restricted, enforced, warned and audited.
var podSecurityLabels = map[string]string{
	"pod-security.kubernetes.io/enforce":         "restricted",
	"pod-security.kubernetes.io/enforce-version": "latest",
	"pod-security.kubernetes.io/warn":            "restricted",
	"pod-security.kubernetes.io/audit":           "restricted",
}

// desiredNamespace is the workspace namespace.
func desiredNamespace(ws *computev1.Workspace) *corev1.Namespace {
	labels := map[string]string{computev1.LabelWorkspace: ws.Name}
	for k, v := range podSecurityLabels {
		labels[k] = v
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ws.Name, Labels: labels}}
}

// desiredServiceAccount runs the workspace's workloads. It never automounts a token: pods that
// need one get a projected, expiring token instead.
func desiredServiceAccount(ws *computev1.Workspace) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		ObjectMeta:                   objectMeta(ws, naming.WorkloadServiceAccount),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// desiredQuota is the ResourceQuota of spec.resourceQuota, nil when it is empty.
func desiredQuota(ws *computev1.Workspace) *corev1.ResourceQuota {
	if len(ws.Spec.ResourceQuota) == 0 {
		return nil
	}
	return &corev1.ResourceQuota{
		ObjectMeta: objectMeta(ws, naming.ResourceQuota),
		Spec:       corev1.ResourceQuotaSpec{Hard: ws.Spec.ResourceQuota.DeepCopy()},
	}
}

// desiredLimitRange is the LimitRange of spec.defaultContainerResources, nil when it is empty.
func desiredLimitRange(ws *computev1.Workspace) *corev1.LimitRange {
	d := ws.Spec.DefaultContainerResources
	if d == nil || (len(d.Requests) == 0 && len(d.Limits) == 0) {
		return nil
	}
	return &corev1.LimitRange{
		ObjectMeta: objectMeta(ws, naming.LimitRange),
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, DefaultRequest: d.Requests.DeepCopy(), Default: d.Limits.DeepCopy(),
		}}},
	}
}

// desiredRoleBinding binds spec.admins to the workspace-admin ClusterRole, nil without admins.
func desiredRoleBinding(ws *computev1.Workspace) *rbacv1.RoleBinding {
	if len(ws.Spec.Admins) == 0 {
		return nil
	}
	subjects := make([]rbacv1.Subject, 0, len(ws.Spec.Admins))
	for _, a := range ws.Spec.Admins {
		s := rbacv1.Subject{Kind: string(a.Kind), Name: a.Name, Namespace: a.Namespace}
		if a.Kind != computev1.SubjectServiceAccount {
			s.APIGroup = rbacv1.GroupName
		}
		subjects = append(subjects, s)
	}
	sort.Slice(subjects, func(i, j int) bool {
		if subjects[i].Kind != subjects[j].Kind {
			return subjects[i].Kind < subjects[j].Kind
		}
		return subjects[i].Namespace+"/"+subjects[i].Name < subjects[j].Namespace+"/"+subjects[j].Name
	})
	return &rbacv1.RoleBinding{
		ObjectMeta: objectMeta(ws, naming.AdminsRoleBinding),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: naming.WorkspaceAdminClusterRole},
		Subjects:   subjects,
	}
}

// desiredPolicies is the workspace's network boundary: the baseline of its region and the
// operator configuration, the allowed destinations of the bound NCC (nil when none is bound),
// and a peer policy per warehouse and served entity in its namespace.
func desiredPolicies(ws *computev1.Workspace, cfg *configv1.OperatorConfig, region *configv1.Region, ncc *computev1.NetworkConnectivityConfig,
	warehouses []computev1.ServerlessWarehouse, endpoints []computev1.ModelEndpoint) []*networkingv1.NetworkPolicy {
	in := netpolicy.Workspace{
		Name: ws.Name, Namespace: ws.Name, Region: region,
		ControlPlane: cfg.ControlPlane, OperatorNamespace: cfg.OperatorNamespace,
	}
	if ncc != nil {
		in.AllowedDestinations = ncc.Spec.AllowedDestinations
	}
	for _, w := range warehouses {
		in.Warehouses = append(in.Warehouses, w.Name)
	}
	for _, e := range endpoints {
		ep := netpolicy.Endpoint{Name: e.Name}
		for _, se := range e.Spec.ServedEntities {
			ep.Entities = append(ep.Entities, se.Name)
		}
		in.Endpoints = append(in.Endpoints, ep)
	}
	return netpolicy.Compile(in)
}

func objectMeta(ws *computev1.Workspace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ws.Name, Labels: map[string]string{computev1.LabelWorkspace: ws.Name}}
}
