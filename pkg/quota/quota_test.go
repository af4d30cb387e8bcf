package quota

import (
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFit(t *testing.T) {
	tests := []struct {
		name                      string
		limit, others, base, step int64
		want                      int32
		got                       int32
	}{
		{name: "room for all", limit: 100, others: 20, base: 12, step: 12, want: 3, got: 3},
		{name: "room for some", limit: 100, others: 40, base: 24, step: 12, want: 5, got: 3},
		{name: "exactly at the cap", limit: 100, others: 52, base: 24, step: 12, want: 2, got: 2},
		{name: "one DBU short", limit: 100, others: 65, base: 24, step: 12, want: 1, got: 0},
		{name: "over the cap already (quota lowered)", limit: 50, others: 60, base: 12, step: 12, want: 2, got: 0},
		{name: "nothing wanted", limit: 100, others: 0, base: 0, step: 12, want: 0, got: 0},
		{name: "no quota in the region", limit: 0, others: 0, base: 0, step: 4, want: 1, got: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Fit(tc.limit, tc.others, tc.base, tc.step, tc.want); got != tc.got {
				t.Fatalf("Fit = %d, want %d", got, tc.got)
			}
		})
	}
}

func TestTotalRoundTrip(t *testing.T) {
	data := EncodeTotal(36)
	if diff := cmp.Diff(map[string]string{"dbuPerHour": "36"}, data); diff != "" {
		t.Fatalf("encoded (-want +got):\n%s", diff)
	}
	if got, ok := DecodeTotal(data); !ok || got != 36 {
		t.Fatalf("DecodeTotal = %d, %v; want 36, true", got, ok)
	}
}

func TestDecodeTotalTrustsOnlyWhatEncodeTotalWrites(t *testing.T) {
	for name, data := range map[string]map[string]string{
		"missing":                       nil,
		"not a number":                  {"dbuPerHour": "lots"},
		"negative":                      {"dbuPerHour": "-12"},
		"an extra key":                  {"dbuPerHour": "12", "stray": "7"},
		"the old layout, per warehouse": {"team-a.bi": "12"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, ok := DecodeTotal(data); ok {
				t.Fatalf("DecodeTotal(%v) ok, want rejected", data)
			}
		})
	}
}

func TestReservationRoundTrip(t *testing.T) {
	data := EncodeReservation(Key("team-a", "bi"), 24)
	if diff := cmp.Diff(map[string]string{"warehouse": "team-a/bi", "dbuPerHour": "24"}, data); diff != "" {
		t.Fatalf("encoded (-want +got):\n%s", diff)
	}
	key, dbu, ok := DecodeReservation(data)
	if !ok || key != "team-a/bi" || dbu != 24 {
		t.Fatalf("DecodeReservation = %q, %d, %v; want team-a/bi, 24, true", key, dbu, ok)
	}
	for name, data := range map[string]map[string]string{
		"no warehouse": {"dbuPerHour": "12"},
		"no namespace": {"warehouse": "/bi", "dbuPerHour": "12"},
		"not a number": {"warehouse": "a/bi", "dbuPerHour": "lots"},
		"negative":     {"warehouse": "a/bi", "dbuPerHour": "-1"},
		"an extra key": {"warehouse": "a/bi", "dbuPerHour": "12", "x": "y"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, ok := DecodeReservation(data); ok {
				t.Fatalf("DecodeReservation(%v) ok, want rejected", data)
			}
		})
	}
}

func TestUsed(t *testing.T) {
	l := Ledger{Key("team-a", "bi"): 24, Key("team-b", "etl"): 80}
	if got := l.Used("team-a/bi"); got != 80 {
		t.Fatalf("Used(team-a/bi) = %d, want 80", got)
	}
	if got := l.Used(""); got != 104 {
		t.Fatalf("Used() = %d, want 104", got)
	}
}

func TestDecodeLeavesOutBadEntries(t *testing.T) {
	got, bad := Decode(map[string]string{"a.b": "12", "nodot": "3", "c.d": "-3", "e.f": "lots", ".g": "4"})
	if diff := cmp.Diff(Ledger{"a/b": 12}, got); diff != "" {
		t.Fatalf("good entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{".g", "c.d", "e.f", "nodot"}, bad); diff != "" {
		t.Fatalf("bad keys (-want +got):\n%s", diff)
	}
}

func TestRepair(t *testing.T) {
	exists := func(keys ...string) func(string) bool {
		return func(k string) bool { return slices.Contains(keys, k) }
	}
	tests := []struct {
		name         string
		ledger, live Ledger
		exists       func(string) bool
		want         Ledger
	}{
		{"consistent", Ledger{"a/x": 12}, Ledger{"a/x": 12}, exists("a/x"), Ledger{"a/x": 12}},
		{"a warehouse deleted without its finalizer is released", Ledger{"a/x": 12, "a/gone": 24}, Ledger{"a/x": 12}, exists("a/x"), Ledger{"a/x": 12}},
		{"a lost ledger is rebuilt from the live clusters", Ledger{}, Ledger{"a/x": 12, "b/y": 4}, exists("a/x", "b/y"), Ledger{"a/x": 12, "b/y": 4}},
		{"an entry edited below the clusters' cost is restored", Ledger{"a/x": 1}, Ledger{"a/x": 12}, exists("a/x"), Ledger{"a/x": 12}},
		{"a reservation above the live clusters is kept", Ledger{"a/x": 24}, Ledger{"a/x": 12}, exists("a/x"), Ledger{"a/x": 24}},
		{"a new warehouse's reservation before its first cluster is kept", Ledger{"a/new": 12}, Ledger{}, exists("a/new"), Ledger{"a/new": 12}},
		{"clusters of a warehouse being deleted still count", Ledger{}, Ledger{"a/x": 12}, exists(), Ledger{"a/x": 12}},
	}
	for _, tc := range tests {
		if got := Repair(tc.ledger, tc.live, tc.exists); !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
