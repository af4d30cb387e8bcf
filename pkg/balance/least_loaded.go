package balance

// Backend is a ready pod of a served entity and the requests it has in flight.
type Backend struct {
	Address  string
	InFlight int
}

// LeastLoaded returns the index of a backend with the fewest requests in flight, or -1 when
// there is none. Among equals it takes the first at or after start (modulo the number of
// backends), so a caller that moves start on by one per request uses equal backends
// round-robin instead of piling onto the first.
func LeastLoaded(backends []Backend, start int) int {
	n := len(backends)
	if n == 0 {
		return -1
	}
	start %= n
	if start < 0 {
		start += n
	}
	best := start
	for i := 1; i < n; i++ {
		j := (start + i) % n
		if backends[j].InFlight < backends[best].InFlight {
			best = j
		}
	}
	return best
}
