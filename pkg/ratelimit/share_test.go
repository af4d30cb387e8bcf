package ratelimit

import (
	"math"
	"testing"
)

func TestShare(t *testing.T) {
	tests := []struct {
		name     string
		calls    int64
		replicas int
		want     int64
	}{
		{name: "divides evenly", calls: 100, replicas: 2, want: 50},
		{name: "rounds up", calls: 100, replicas: 3, want: 34},
		{name: "one replica enforces the whole limit", calls: 100, replicas: 1, want: 100},
		{name: "more replicas than calls: at least 1", calls: 2, replicas: 5, want: 1},
		{name: "no replicas known: the whole limit", calls: 100, replicas: 0, want: 100},
		{name: "zero calls: at least 1", calls: 0, replicas: 2, want: 1},
		{name: "no overflow at the top", calls: math.MaxInt64, replicas: 2, want: math.MaxInt64/2 + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Share(tc.calls, tc.replicas); got != tc.want {
				t.Errorf("Share(%d, %d) = %d, want %d", tc.calls, tc.replicas, got, tc.want)
			}
		})
	}
}
