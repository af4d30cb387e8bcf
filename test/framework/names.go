package framework

import (
	"fmt"
	"sync/atomic"
	"time"
)

var (
	counter atomic.Int64
	// runID keeps names unique across runs against a cluster that outlives a test process.
	runID = time.Now().UnixNano() % 10000
)

// Name returns a DNS label unique within the test process, prefix-<run>-<n>.
func Name(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, runID, counter.Add(1))
}
