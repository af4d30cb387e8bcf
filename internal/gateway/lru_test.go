package gateway

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLRU(t *testing.T) {
	tests := []struct {
		name string
		// ops: "+k" adds k (value: its position in ops), "?k" reads k.
		ops     []string
		want    map[string]int
		wantLen int
	}{
		{
			name:    "past its size it drops only the oldest entry",
			ops:     []string{"+a", "+b", "+c", "+d"},
			want:    map[string]int{"b": 1, "c": 2, "d": 3},
			wantLen: 3,
		},
		{
			name:    "a read keeps an entry",
			ops:     []string{"+a", "+b", "+c", "?a", "+d"},
			want:    map[string]int{"a": 0, "c": 2, "d": 4},
			wantLen: 3,
		},
		{
			name:    "adding a key again replaces it and keeps it",
			ops:     []string{"+a", "+b", "+c", "+a", "+d"},
			want:    map[string]int{"a": 3, "c": 2, "d": 4},
			wantLen: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newLRU[string, int](3)
			for i, op := range tc.ops {
				switch op[0] {
				case '+':
					c.add(op[1:], i)
				case '?':
					c.get(op[1:])
				}
			}
			got := map[string]int{}
			for _, k := range []string{"a", "b", "c", "d"} {
				if v, ok := c.get(k); ok {
					got[k] = v
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if c.len() != tc.wantLen {
				t.Errorf("len %d, want %d", c.len(), tc.wantLen)
			}
		})
	}
}
