package warehouse

import (
	"sort"
	"time"
)

// cluster is what the planner knows of one warehouse cluster.
type cluster struct {
	ID   string
	Hash string
	// Ready is true when every worker is ready.
	Ready bool
	// DrainingSince is when the cluster was taken out of service; zero when serving.
	DrainingSince time.Time
	// Load is the cluster's running plus queued queries; LoadKnown says whether it was read.
	Load      float64
	LoadKnown bool
}

func (c cluster) draining() bool { return !c.DrainingSince.IsZero() }

// planInput is what one pass decides on.
type planInput struct {
	Clusters []cluster
	// Desired is the count the autoscaler wants; Hash the template every cluster should have.
	Desired int32
	Hash    string
	Now     time.Time
	// DrainGrace is the longest a draining cluster waits for its queries.
	DrainGrace time.Duration
}

// plan is what one pass does. Create is an upper bound: the regional quota may allow fewer.
type plan struct {
	Create  int32
	Delete  []string
	Drain   []string
	Restore []string
}

// planClusters decides how to move the clusters towards Desired up-to-date clusters:
//   - a spec change rolls one cluster at a time: a new cluster is added first and an outdated
//     one goes only once the ready count would stay at Desired without it;
//   - scale-in takes the least-loaded clusters out of service, and removes each once its queries
//     have drained or the grace period has passed;
//   - scale-out first brings draining clusters back into service, then adds new ones;
//   - a cluster that is not ready serves nothing, so it is removed without draining;
//   - to stop (Desired 0) every cluster goes at once: the warehouse is idle.
func planClusters(in planInput) plan {
	var p plan
	if in.Desired <= 0 {
		for _, c := range in.Clusters {
			p.Delete = append(p.Delete, c.ID)
		}
		return p
	}
	var current, outdated, draining []cluster
	for _, c := range in.Clusters {
		switch {
		case c.draining():
			draining = append(draining, c)
		case c.Hash == in.Hash:
			current = append(current, c)
		default:
			outdated = append(outdated, c)
		}
	}
	desired := int(in.Desired)

	if len(outdated) > 0 {
		ready := countReady(current) + countReady(outdated)
		for _, c := range outdated {
			if !c.Ready {
				p.Delete = append(p.Delete, c.ID)
			}
		}
		readyOutdated := readyOnly(outdated)
		if len(p.Delete) == 0 && len(readyOutdated) > 0 && ready > desired {
			p.Delete = append(p.Delete, leastLoaded(readyOutdated)[0].ID)
		}
		serving := len(current) + len(outdated) - len(p.Delete)
		if len(current) < desired && serving < desired+1 {
			p.Create = 1
		}
	} else {
		switch {
		case len(current) < desired:
			need := desired - len(current)
			for _, c := range leastLoaded(draining) {
				if need == 0 {
					break
				}
				if c.Ready {
					p.Restore = append(p.Restore, c.ID)
					need--
				}
			}
			p.Create = int32(need)
		case len(current) > desired:
			extra := len(current) - desired
			for _, c := range current {
				if extra > 0 && !c.Ready {
					p.Delete = append(p.Delete, c.ID)
					extra--
				}
			}
			for _, c := range leastLoaded(readyOnly(current)) {
				if extra == 0 {
					break
				}
				p.Drain = append(p.Drain, c.ID)
				extra--
			}
		}
	}

	restored := map[string]bool{}
	for _, id := range p.Restore {
		restored[id] = true
	}
	for _, c := range draining {
		if restored[c.ID] {
			continue
		}
		if (c.LoadKnown && c.Load == 0) || in.Now.Sub(c.DrainingSince) >= in.DrainGrace || !c.Ready {
			p.Delete = append(p.Delete, c.ID)
		}
	}
	return p
}

func countReady(cs []cluster) int {
	n := 0
	for _, c := range cs {
		if c.Ready {
			n++
		}
	}
	return n
}

func readyOnly(cs []cluster) []cluster {
	var out []cluster
	for _, c := range cs {
		if c.Ready {
			out = append(out, c)
		}
	}
	return out
}

// leastLoaded sorts clusters by load, unknown load last, then by id for a stable choice.
func leastLoaded(cs []cluster) []cluster {
	out := append([]cluster(nil), cs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.LoadKnown != b.LoadKnown {
			return a.LoadKnown
		}
		if a.Load != b.Load {
			return a.Load < b.Load
		}
		return a.ID < b.ID
	})
	return out
}
