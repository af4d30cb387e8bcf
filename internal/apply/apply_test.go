package apply

import "testing"

func TestContains(t *testing.T) {
	tests := []struct {
		name       string
		live, want any
		contains   bool
	}{
		{"equal", map[string]any{"a": "x"}, map[string]any{"a": "x"}, true},
		{"live has more keys", map[string]any{"a": "x", "b": "y"}, map[string]any{"a": "x"}, true},
		{"value differs", map[string]any{"a": "x"}, map[string]any{"a": "z"}, false},
		{"missing key", map[string]any{}, map[string]any{"a": "x"}, false},
		{"empty wanted values match absent ones", map[string]any{}, map[string]any{"a": "", "b": map[string]any{}, "c": []any{}}, true},
		{"false is not empty", map[string]any{}, map[string]any{"automount": false}, false},
		{"numbers compare across int64 and float64", map[string]any{"port": int64(53)}, map[string]any{"port": float64(53)}, true},
		{"lists must have the same length", map[string]any{"l": []any{"a", "b"}}, map[string]any{"l": []any{"a"}}, false},
		{"lists compare item by item", map[string]any{"l": []any{map[string]any{"a": "x", "extra": "y"}}}, map[string]any{"l": []any{map[string]any{"a": "x"}}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Contains(tc.live, tc.want); got != tc.contains {
				t.Fatalf("Contains = %t, want %t (diff at %q)", got, tc.contains, Diff(tc.live, tc.want))
			}
		})
	}
}
