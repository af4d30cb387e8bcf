package autoscaler

import "testing"

func TestReplicaBounds(t *testing.T) {
	tests := []struct {
		name            string
		minC, maxC, per int32
		scaleToZero     bool
		wantLo, wantHi  int32
	}{
		{"Small (0-4) at 4 per replica", 0, 4, 4, false, 1, 1},
		{"Small may scale to zero", 0, 4, 4, true, 0, 1},
		{"Medium (8-16)", 8, 16, 4, false, 2, 4},
		{"scale to zero lowers every size's floor, not only Small's", 8, 16, 4, true, 0, 4},
		{"Large (16-64)", 16, 64, 4, false, 4, 16},
		{"a range that does not divide rounds up", 5, 9, 4, false, 2, 3},
		{"a zero per-replica concurrency counts as one", 2, 3, 0, false, 2, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi := ReplicaBounds(tc.minC, tc.maxC, tc.per, tc.scaleToZero)
			if lo != tc.wantLo || hi != tc.wantHi {
				t.Fatalf("ReplicaBounds = %d-%d, want %d-%d", lo, hi, tc.wantLo, tc.wantHi)
			}
		})
	}
}
