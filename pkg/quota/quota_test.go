package quota

import (
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

func TestLedgerRoundTrip(t *testing.T) {
	l := Ledger{Key("team-a", "bi"): 24, Key("team-b", "etl"): 80, Key("team-b", "gone"): 0}
	data := Encode(l)
	if diff := cmp.Diff(map[string]string{"team-a.bi": "24", "team-b.etl": "80"}, data); diff != "" {
		t.Fatalf("encoded (-want +got):\n%s", diff)
	}
	back, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Ledger{"team-a/bi": 24, "team-b/etl": 80}, back); diff != "" {
		t.Fatalf("decoded (-want +got):\n%s", diff)
	}
	if got := back.Used("team-a/bi"); got != 80 {
		t.Fatalf("Used = %d, want 80", got)
	}
	if _, err := Decode(map[string]string{"nodot": "3"}); err == nil {
		t.Fatal("want an error for a key without a namespace")
	}
	if _, err := Decode(map[string]string{"a.b": "-3"}); err == nil {
		t.Fatal("want an error for a negative amount")
	}
}
