package ratelimit

// Share returns the limit each of replicas gateways enforces so that together they admit about
// calls: ceil(calls/replicas), at least 1. Rounding up errs towards admitting a little more
// than the limit rather than refusing calls the limit allows; with fewer than one replica the
// whole limit is returned.
func Share(calls int64, replicas int) int64 {
	if replicas < 1 {
		replicas = 1
	}
	n := int64(replicas)
	share := calls / n
	if calls%n > 0 {
		share++
	}
	return max(share, 1)
}
