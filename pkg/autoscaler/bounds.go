package autoscaler

import "math"

// ReplicaBounds turns a workload size's range of provisioned concurrency into replica bounds
// at perReplica concurrent requests each: the floor is the range's lower end in replicas
// (0 when the workload may scale to zero, at least 1 otherwise), the ceiling its upper end,
// never below 1.
func ReplicaBounds(minConcurrency, maxConcurrency, perReplica int32, scaleToZero bool) (lo, hi int32) {
	per := float64(max(perReplica, 1))
	lo = int32(math.Ceil(float64(minConcurrency) / per))
	hi = max(1, int32(math.Ceil(float64(maxConcurrency)/per)))
	if scaleToZero {
		return 0, hi
	}
	return max(lo, 1), hi
}
