package apply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestLeanKeepsWhatControllersRead(t *testing.T) {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d", Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"c": "d"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		}},
		Status: appsv1.DeploymentStatus{ReadyReplicas: 2},
	}
	want := d.DeepCopy()
	want.Spec.Template.Spec = corev1.PodSpec{}
	got, err := Lean(nil)(d)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("lean Deployment (-want +got):\n%s", diff)
	}

	p := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: networkingv1.NetworkPolicySpec{
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}}
	got, _ = Lean(nil)(p)
	if diff := cmp.Diff(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}}, got); diff != "" {
		t.Fatalf("lean NetworkPolicy (-want +got):\n%s", diff)
	}

	cert := func(labels map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("crt"), "tls.key": []byte("key"), "ca.crt": []byte("ca")}}
	}
	got, _ = Lean(nil)(cert(map[string]string{"compute.serverlessplane.io/endpoint": "churn"}))
	if _, kept := got.(*corev1.Secret).Data["tls.key"]; kept || len(got.(*corev1.Secret).Data) != 2 {
		t.Fatalf("an endpoint's certificate keeps %v, want tls.crt and ca.crt only", got.(*corev1.Secret).Data)
	}
	got, _ = Lean(nil)(cert(nil))
	if _, kept := got.(*corev1.Secret).Data["tls.key"]; !kept {
		t.Fatal("a Secret that is not a workload's certificate (the CA's, the gateway's) lost its key")
	}

	s := &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.1"}}
	got, _ = Lean(nil)(s.DeepCopy())
	if diff := cmp.Diff(s, got); diff != "" {
		t.Fatalf("a kind that is not lean is kept whole (-want +got):\n%s", diff)
	}
}

func TestAgreements(t *testing.T) {
	intent := map[string]any{"spec": map[string]any{"replicas": 1}}
	other := map[string]any{"spec": map[string]any{"replicas": 2}}
	var a agreements
	if a.holds("k", intent, "1") {
		t.Fatal("holds before anything was recorded")
	}
	a.record("k", intent, "1")
	for _, tc := range []struct {
		name   string
		key    string
		intent map[string]any
		rv     string
		want   bool
	}{
		{"the same intent at the same resourceVersion", "k", intent, "1", true},
		{"the object changed since", "k", intent, "2", false},
		{"another intent", "k", other, "1", false},
		{"another object", "j", intent, "1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.holds(tc.key, tc.intent, tc.rv); got != tc.want {
				t.Fatalf("holds = %v, want %v", got, tc.want)
			}
		})
	}
}
