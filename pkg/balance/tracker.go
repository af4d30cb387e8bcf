package balance

import "sync"

// Tracker counts the requests in flight per backend address. It is safe for concurrent use,
// and its zero value is ready to use. An address with none in flight takes no memory, so
// pods that went away are forgotten.
type Tracker struct {
	mu       sync.Mutex
	inFlight map[string]int
}

// Inc counts one more request in flight to address and returns the new count.
func (t *Tracker) Inc(address string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inFlight == nil {
		t.inFlight = map[string]int{}
	}
	t.inFlight[address]++
	return t.inFlight[address]
}

// Dec counts one request to address as done and returns the new count. It never goes below 0.
func (t *Tracker) Dec(address string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.inFlight[address] - 1
	if n <= 0 {
		delete(t.inFlight, address)
		return 0
	}
	t.inFlight[address] = n
	return n
}

// Get returns the requests in flight to address.
func (t *Tracker) Get(address string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inFlight[address]
}

// Backends returns a Backend per address with its requests in flight, in the order given,
// read under one lock so that LeastLoaded compares counts of the same moment.
func (t *Tracker) Backends(addresses []string) []Backend {
	t.mu.Lock()
	defer t.mu.Unlock()
	backends := make([]Backend, len(addresses))
	for i, a := range addresses {
		backends[i] = Backend{Address: a, InFlight: t.inFlight[a]}
	}
	return backends
}
