// Package activation reads the gateway's requests to start a workload at zero: the annotation
// computev1.AnnotationActivation, "<name>[,<name>...]@<RFC3339 time>", which the gateway sets
// on a ModelEndpoint (naming its entities) or a ServerlessWarehouse (naming Statements) when
// requests wait for it. The object's watch delivers it to the operator at once.
package activation

import (
	"slices"
	"strings"
	"time"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// Statements is the name the gateway gives a warehouse's queued statements.
const Statements = "statements"

// Requested says whether the gateway asked for name within the last window. A time from the
// future (a skewed clock) counts as now; a value that does not parse asks for nothing.
func Requested(obj interface{ GetAnnotations() map[string]string }, name string, now time.Time, window time.Duration) bool {
	names, at, ok := strings.Cut(obj.GetAnnotations()[computev1.AnnotationActivation], "@")
	if !ok || !slices.Contains(strings.Split(names, ","), name) {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	return err == nil && now.Sub(t) < window
}
