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
// same load: steady, diurnal, spike and on/off, each hours long.
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
	}
}
