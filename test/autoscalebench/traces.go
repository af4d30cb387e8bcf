package autoscalebench

import (
	"math"
	"math/rand/v2"
)

// Trace is demand, in concurrent requests, one value per second.
type Trace struct {
	Name   string
	Demand []float64
}

// Traces generates the benchmark's load traces with a fixed seed, so every run replays the
// same load, each hours long: steady, diurnal, spike and on/off, then four that punish an
// over-eager autoscaler: noisy steady load, a slow ramp, short blips that no new replica could
// serve in time, and periodic bursts; and independent arrivals, a load without a ceiling.
func Traces(seed uint64, seconds int) []Trace {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	noise := func(v, share float64) float64 { return math.Max(0, v*(1+share*(2*r.Float64()-1))) }
	gen := func(name string, f func(t int) float64) Trace {
		d := make([]float64, seconds)
		for t := range d {
			d[t] = math.Round(f(t))
		}
		return Trace{Name: name, Demand: d}
	}
	// Spikes: a 60-second burst to 10x at a random minute of every 20 minutes.
	spikes := map[int]bool{}
	for start := 0; start < seconds; start += 1200 {
		s := start + 60*r.IntN(19)
		for t := s; t < s+60; t++ {
			spikes[t] = true
		}
	}
	// Blips: 3 seconds at 3x at a random second of every 2 minutes, over before a new replica
	// could be ready, so scaling for them only costs.
	blips := map[int]bool{}
	rb := rand.New(rand.NewPCG(seed+1, seed^0x5851f42d4c957f2d))
	for start := 0; start < seconds; start += 120 {
		s := start + rb.IntN(117)
		for t := s; t < s+3; t++ {
			blips[t] = true
		}
	}
	return []Trace{
		gen("steady", func(int) float64 { return noise(50, 0.1) }),
		gen("diurnal", func(t int) float64 {
			day := 7200.0 // a compressed day: two hours
			return noise(10+90*(1-math.Cos(2*math.Pi*float64(t)/day))/2, 0.15)
		}),
		gen("spike", func(t int) float64 {
			if spikes[t] {
				return noise(200, 0.1)
			}
			return noise(20, 0.1)
		}),
		gen("on/off", func(t int) float64 {
			// 10 minutes of traffic, 20 minutes of none.
			if t%1800 < 600 {
				return noise(40, 0.2)
			}
			return 0
		}),
		// The traces below draw after the four above, so those stay as they were.
		gen("noisy steady", func(int) float64 { return noise(30, 0.3) }),
		gen("slow ramp", func(t int) float64 {
			// From 5 to 150 over the first half of the trace, and back over the second.
			x := float64(t) / float64(seconds)
			return noise(5+145*(1-math.Abs(2*x-1)), 0.1)
		}),
		gen("blips", func(t int) float64 {
			if blips[t] {
				return noise(90, 0.1)
			}
			return noise(30, 0.1)
		}),
		gen("periodic bursts", func(t int) float64 {
			// Every 10 minutes, 90 seconds at 8x: a batch job on a schedule.
			if t%600 < 90 {
				return noise(80, 0.1)
			}
			return noise(10, 0.1)
		}),
		// Independent requests: the concurrency is Poisson, whose tail has no ceiling. The
		// traces above vary uniformly within a band, so their peak is their ceiling.
		gen("independent arrivals", func(int) float64 { return poisson(r, 45) }),
	}
}

// poisson draws from the Poisson distribution of mean lambda (Knuth's method, for a small
// lambda).
func poisson(r *rand.Rand, lambda float64) float64 {
	limit, k, p := math.Exp(-lambda), 0.0, 1.0
	for {
		if p *= r.Float64(); p <= limit {
			return k
		}
		k++
	}
}
