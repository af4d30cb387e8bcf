package balance

// Route is a share of an endpoint's traffic: Name (a served entity) gets Percent of it.
type Route struct {
	Name    string
	Percent int32
}

// PickWeighted returns the route for u, a uniform number in [0, 1), by cumulative percent:
// with routes a 90 and b 10, u below 0.9 picks a and the rest picks b. Percents that do not
// sum to 100 are shares of their sum. A route with 0 percent (or less) is never picked; when
// no route has any, PickWeighted returns "". A u outside [0, 1) is clamped into it.
func PickWeighted(routes []Route, u float64) string {
	var total int64
	last := -1
	for i, r := range routes {
		if r.Percent > 0 {
			total += int64(r.Percent)
			last = i
		}
	}
	if last < 0 {
		return ""
	}
	x := max(u, 0) * float64(total)
	var cum int64
	for _, r := range routes {
		if r.Percent <= 0 {
			continue
		}
		cum += int64(r.Percent)
		if x < float64(cum) {
			return r.Name
		}
	}
	// u >= 1, or u just below 1 rounded up to the total.
	return routes[last].Name
}
