package memlimit

import (
	"os"
	"path/filepath"
	"testing"
)

func TestContainerLimit(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		value  string
		want   int64
		wantOK bool
	}{
		{"cgroup v2 with a limit", "sys/fs/cgroup/memory.max", "536870912\n", 536870912, true},
		{"cgroup v2 without one", "sys/fs/cgroup/memory.max", "max\n", 0, false},
		{"cgroup v1 with a limit", "sys/fs/cgroup/memory/memory.limit_in_bytes", "268435456\n", 268435456, true},
		{"cgroup v1 without one", "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n", 0, false},
		{"garbage", "sys/fs/cgroup/memory.max", "lots\n", 0, false},
		{"no cgroup files", "", "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.file != "" {
				path := filepath.Join(root, tc.file)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.value), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, ok := ContainerLimit(root)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("ContainerLimit = %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestSoft(t *testing.T) {
	tests := []struct {
		name  string
		limit int64
		ratio float64
		want  int64
	}{
		{"a large limit: its ratio", 1 << 30, 0.9, 966367641},
		{"a small limit: the reserve below it", 150 << 20, 0.9, 102 << 20},
		{"a tiny limit: never below half", 64 << 20, 0.9, 32 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Soft(tc.limit, tc.ratio); got != tc.want {
				t.Fatalf("Soft(%d, %v) = %d, want %d", tc.limit, tc.ratio, got, tc.want)
			}
		})
	}
}
