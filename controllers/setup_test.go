package controllers

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// The cache options are keyed by object pointers: a kind listed twice gets one of its entries
// at random, and a transform may silently not apply.
func TestCacheOptionsHaveOneEntryPerKind(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	opts := CacheOptions()
	for obj, by := range opts.ByObject {
		gvk, err := apiutil.GVKForObject(obj, scheme)
		if err != nil {
			t.Fatal(err)
		}
		if seen[gvk.String()] {
			t.Errorf("%s has more than one cache entry", gvk)
		}
		seen[gvk.String()] = true
		if _, ok := obj.(*appsv1.Deployment); ok {
			d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}}}
			transform := by.Transform
			if transform == nil {
				transform = opts.DefaultTransform
			}
			out, err := transform(d)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(out.(*appsv1.Deployment).Spec.Template.Spec.Containers); n != 0 {
				t.Errorf("the cached Deployment keeps %d containers, want its pod spec dropped", n)
			}
		}
	}
	if !seen["apps/v1, Kind=Deployment"] {
		t.Error("Deployments have no cache entry")
	}
}
