package modelendpoint

import (
	"slices"
	"strings"
	"time"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// activationRequested says whether the gateway asked for entity within the last window
// (computev1.AnnotationActivation). The endpoint's watch delivers the annotation at once, so an
// entity at zero starts on the first held request rather than at the next tick. A value
// from the future (a skewed clock) counts as now; one that does not parse asks for nothing.
func activationRequested(ep interface{ GetAnnotations() map[string]string }, entity string, now time.Time, window time.Duration) bool {
	names, at, ok := strings.Cut(ep.GetAnnotations()[computev1.AnnotationActivation], "@")
	if !ok || !slices.Contains(strings.Split(names, ","), entity) {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	return err == nil && now.Sub(t) < window
}
