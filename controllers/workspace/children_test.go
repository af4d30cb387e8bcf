package workspace

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/netpolicy"
)

func workspace(spec computev1.WorkspaceSpec) *computev1.Workspace {
	return &computev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "team", UID: "ws-uid"}, Spec: spec}
}

func childMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "team", Labels: map[string]string{computev1.LabelWorkspace: "team"}}
}

func TestDesiredNamespace(t *testing.T) {
	want := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{
		computev1.LabelWorkspace:                     "team",
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/warn":            "restricted",
		"pod-security.kubernetes.io/audit":           "restricted",
	}}}
	ws := workspace(computev1.WorkspaceSpec{Region: "us-east-1"})
	if diff := cmp.Diff(want, desiredNamespace(ws)); diff != "" {
		t.Errorf("namespace (-want +got):\n%s", diff)
	}
	// Each call builds its own labels: createNamespace adds one to them.
	desiredNamespace(ws).Labels["extra"] = "x"
	if diff := cmp.Diff(want, desiredNamespace(ws)); diff != "" {
		t.Errorf("namespace after another was changed (-want +got):\n%s", diff)
	}
}

func TestDesiredServiceAccount(t *testing.T) {
	want := &corev1.ServiceAccount{ObjectMeta: childMeta("workspace-workload"), AutomountServiceAccountToken: ptr.To(false)}
	if diff := cmp.Diff(want, desiredServiceAccount(workspace(computev1.WorkspaceSpec{}))); diff != "" {
		t.Errorf("service account (-want +got):\n%s", diff)
	}
}

func TestDesiredQuota(t *testing.T) {
	hard := corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("64"), corev1.ResourcePods: resource.MustParse("200")}
	tests := []struct {
		name  string
		quota corev1.ResourceList
		want  *corev1.ResourceQuota
	}{
		{"no quota asked for, none applied", nil, nil},
		{"an empty quota is none", corev1.ResourceList{}, nil},
		{"the spec's limits are the quota's", hard, &corev1.ResourceQuota{ObjectMeta: childMeta("workspace-quota"), Spec: corev1.ResourceQuotaSpec{Hard: hard}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, desiredQuota(workspace(computev1.WorkspaceSpec{ResourceQuota: tc.quota}))); diff != "" {
				t.Errorf("quota (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredLimitRange(t *testing.T) {
	requests := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")}
	limits := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
	limitRange := func(item corev1.LimitRangeItem) *corev1.LimitRange {
		item.Type = corev1.LimitTypeContainer
		return &corev1.LimitRange{ObjectMeta: childMeta("workspace-defaults"), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{item}}}
	}
	tests := []struct {
		name     string
		defaults *computev1.ContainerResourceDefaults
		want     *corev1.LimitRange
	}{
		{"no defaults, no limit range", nil, nil},
		{"empty defaults, no limit range", &computev1.ContainerResourceDefaults{}, nil},
		{"empty lists, no limit range", &computev1.ContainerResourceDefaults{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}, nil},
		{"requests become default requests", &computev1.ContainerResourceDefaults{Requests: requests}, limitRange(corev1.LimitRangeItem{DefaultRequest: requests})},
		{"limits become default limits", &computev1.ContainerResourceDefaults{Limits: limits}, limitRange(corev1.LimitRangeItem{Default: limits})},
		{"both", &computev1.ContainerResourceDefaults{Requests: requests, Limits: limits}, limitRange(corev1.LimitRangeItem{DefaultRequest: requests, Default: limits})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, desiredLimitRange(workspace(computev1.WorkspaceSpec{DefaultContainerResources: tc.defaults}))); diff != "" {
				t.Errorf("limit range (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredRoleBinding(t *testing.T) {
	binding := func(subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{
			ObjectMeta: childMeta("workspace-admins"),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "serverlessplane-workspace-admin"},
			Subjects:   subjects,
		}
	}
	user := func(name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: name}
	}
	tests := []struct {
		name   string
		admins []computev1.WorkspaceAdmin
		want   *rbacv1.RoleBinding
	}{
		{"no admins, no binding", nil, nil},
		{"a user", []computev1.WorkspaceAdmin{{Kind: computev1.SubjectUser, Name: "ada"}}, binding(user("ada"))},
		{"a group is an RBAC subject", []computev1.WorkspaceAdmin{{Kind: computev1.SubjectGroup, Name: "data-eng"}},
			binding(rbacv1.Subject{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "data-eng"})},
		{"a service account has no API group and keeps its namespace", []computev1.WorkspaceAdmin{{Kind: computev1.SubjectServiceAccount, Name: "ci", Namespace: "tools"}},
			binding(rbacv1.Subject{Kind: "ServiceAccount", Name: "ci", Namespace: "tools"})},
		{"subjects are sorted by kind, then namespace and name, whatever the spec's order",
			[]computev1.WorkspaceAdmin{
				{Kind: computev1.SubjectUser, Name: "grace"},
				{Kind: computev1.SubjectServiceAccount, Name: "ci", Namespace: "tools"},
				{Kind: computev1.SubjectUser, Name: "ada"},
				{Kind: computev1.SubjectServiceAccount, Name: "deploy", Namespace: "apps"},
				{Kind: computev1.SubjectGroup, Name: "data-eng"},
			},
			binding(
				rbacv1.Subject{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "data-eng"},
				rbacv1.Subject{Kind: "ServiceAccount", Name: "deploy", Namespace: "apps"},
				rbacv1.Subject{Kind: "ServiceAccount", Name: "ci", Namespace: "tools"},
				user("ada"), user("grace"),
			)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, desiredRoleBinding(workspace(computev1.WorkspaceSpec{Admins: tc.admins}))); diff != "" {
				t.Errorf("role binding (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredPolicies(t *testing.T) {
	cfg := configv1.Default()
	region := &cfg.Regions[0]
	baseline := []string{netpolicy.AllowDNS, netpolicy.DefaultDeny, netpolicy.EgressStorage, netpolicy.IngressModels, netpolicy.IngressWarehouses}
	ncc := &computev1.NetworkConnectivityConfig{Spec: computev1.NetworkConnectivityConfigSpec{
		AllowedDestinations: []computev1.AllowedDestination{{CIDR: "203.0.113.0/24", Ports: []computev1.NetworkPort{{Port: 443}}}},
	}}
	endpoint := computev1.ModelEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "chat"}, Spec: computev1.ModelEndpointSpec{
		ServedEntities: []computev1.ServedEntity{{Name: "small"}, {Name: "large"}},
	}}
	tests := []struct {
		name       string
		ncc        *computev1.NetworkConnectivityConfig
		warehouses []computev1.ServerlessWarehouse
		endpoints  []computev1.ModelEndpoint
		want       []string
		allowed    []string // the destinations of the egress-allowed policy
	}{
		{name: "an empty workspace has the baseline", want: baseline},
		{name: "the bound NCC's destinations are allowed", ncc: ncc,
			want: sorted(baseline, netpolicy.EgressAllowed), allowed: []string{"203.0.113.0/24"}},
		{name: "each warehouse and served entity gets its peers",
			warehouses: []computev1.ServerlessWarehouse{{ObjectMeta: metav1.ObjectMeta{Name: "etl"}}, {ObjectMeta: metav1.ObjectMeta{Name: "bi"}}},
			endpoints:  []computev1.ModelEndpoint{endpoint},
			want: sorted(baseline, netpolicy.WarehousePeersName("etl"), netpolicy.WarehousePeersName("bi"),
				netpolicy.EntityPeersName("chat", "small"), netpolicy.EntityPeersName("chat", "large"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range desiredPolicies(workspace(computev1.WorkspaceSpec{Region: region.Name}), cfg, region, tc.ncc, tc.warehouses, tc.endpoints) {
				if p.Namespace != "team" || p.Labels[computev1.LabelWorkspace] != "team" {
					t.Errorf("policy %s/%s labelled %v, want it in team and labelled with it", p.Namespace, p.Name, p.Labels)
				}
				got = append(got, p.Name)
				if p.Name != netpolicy.EgressAllowed {
					continue
				}
				var allowed []string
				for _, r := range p.Spec.Egress {
					for _, to := range r.To {
						allowed = append(allowed, to.IPBlock.CIDR)
					}
				}
				if diff := cmp.Diff(tc.allowed, allowed); diff != "" {
					t.Errorf("allowed destinations (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("policies (-want +got):\n%s", diff)
			}
		})
	}
}

func sorted(base []string, more ...string) []string {
	out := slices.Concat(base, more)
	slices.Sort(out)
	return out
}
