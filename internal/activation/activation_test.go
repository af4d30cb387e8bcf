package activation

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

func TestActivationRequested(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	for _, tc := range []struct {
		name, value, entity string
		want                bool
	}{
		{"named just now", "a@" + at(0), "a", true},
		{"one of several", "a,b@" + at(-10*time.Second), "b", true},
		{"another entity", "a@" + at(0), "b", false},
		{"a prefix is not the name", "ab@" + at(0), "a", false},
		{"older than the window", "a@" + at(-30*time.Second), "a", false},
		{"from a clock ahead", "a@" + at(time.Minute), "a", true},
		{"no time", "a", "a", false},
		{"bad time", "a@yesterday", "a", false},
		{"absent", "", "a", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := &metav1.ObjectMeta{Annotations: map[string]string{computev1.AnnotationActivation: tc.value}}
			if got := Requested(obj, tc.entity, now, 30*time.Second); got != tc.want {
				t.Errorf("Requested(%q, %q) = %v, want %v", tc.value, tc.entity, got, tc.want)
			}
		})
	}
}
