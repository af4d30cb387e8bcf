package warehouse

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/pkg/quota"
)

// memLedger is a ledger in memory: regions to warehouses' shares, and the writes it took.
type memLedger struct {
	held   map[string]quota.Ledger
	writes int
}

func (m *memLedger) Read(_ context.Context, region, key string) (int64, int64, error) {
	l := m.held[region]
	return l.Used(""), l[key], nil
}

func (m *memLedger) Update(_ context.Context, region, key string, decide func(others, own int64) int64) (int64, error) {
	if m.held[region] == nil {
		m.held[region] = quota.Ledger{}
	}
	l := m.held[region]
	v := decide(l.Used(key), l[key])
	if v != l[key] {
		m.writes++
	}
	l[key] = v
	if v == 0 {
		delete(l, key)
	}
	return v, nil
}

func TestQuota(t *testing.T) {
	east := &configv1.Region{Name: "east", ServerlessQuotaDBU: 48}
	cfg := &configv1.OperatorConfig{Regions: []configv1.Region{*east, {Name: "west", ServerlessQuotaDBU: 48}}}
	const key, step = "team/bi", 12
	tests := []struct {
		name string
		held map[string]quota.Ledger
		// do runs the step under test and returns what it says.
		do         func(q *Quota) (any, error)
		want       any
		wantHeld   map[string]quota.Ledger
		wantWrites int
	}{
		{
			name: "estimate: what fits next to the others, from the ledger, without a write",
			held: map[string]quota.Ledger{"east": {"other/etl": 24, key: 12}},
			do: func(q *Quota) (any, error) {
				return q.Estimate(context.Background(), east, key, 12, step, 3)
			},
			want:     Estimate{Fit: 1, Used: 36, Others: 24},
			wantHeld: map[string]quota.Ledger{"east": {"other/etl": 24, key: 12}},
		},
		{
			name: "reserve: as many as fit",
			held: map[string]quota.Ledger{"east": {"other/etl": 24}},
			do: func(q *Quota) (any, error) {
				granted, _, err := q.Reserve(context.Background(), east, key, 0, step, 3, 0)
				return granted, err
			},
			want: int32(2), wantHeld: map[string]quota.Ledger{"east": {"other/etl": 24, key: 24}}, wantWrites: 1,
		},
		{
			name: "reserve: all of the minimum or nothing",
			held: map[string]quota.Ledger{"east": {"other/etl": 24}},
			do: func(q *Quota) (any, error) {
				granted, _, err := q.Reserve(context.Background(), east, key, 0, step, 3, 3)
				return granted, err
			},
			want: int32(0), wantHeld: map[string]quota.Ledger{"east": {"other/etl": 24}},
		},
		{
			name: "reserve: a share above what runs (clusters about to be created) is kept",
			held: map[string]quota.Ledger{"east": {key: 36}},
			do: func(q *Quota) (any, error) {
				granted, _, err := q.Reserve(context.Background(), east, key, 12, step, 1, 0)
				return granted, err
			},
			want: int32(1), wantHeld: map[string]quota.Ledger{"east": {key: 36}},
		},
		{
			name: "settle: down to what the clusters cost",
			held: map[string]quota.Ledger{"east": {key: 36}},
			do: func(q *Quota) (any, error) {
				return nil, q.Settle(context.Background(), east, key, 12)
			},
			wantHeld: map[string]quota.Ledger{"east": {key: 12}}, wantWrites: 1,
		},
		{
			name: "settle: no write when the ledger already says so",
			held: map[string]quota.Ledger{"east": {key: 12}},
			do: func(q *Quota) (any, error) {
				return nil, q.Settle(context.Background(), east, key, 12)
			},
			wantHeld: map[string]quota.Ledger{"east": {key: 12}},
		},
		{
			name: "release: in the warehouse's region",
			held: map[string]quota.Ledger{"east": {key: 12, "other/etl": 24}, "west": {key: 12}},
			do: func(q *Quota) (any, error) {
				return nil, q.Release(context.Background(), "east", key)
			},
			wantHeld: map[string]quota.Ledger{"east": {"other/etl": 24}, "west": {key: 12}}, wantWrites: 1,
		},
		{
			name: "release: in every region when the workspace is gone",
			held: map[string]quota.Ledger{"east": {key: 12}, "west": {key: 12}},
			do: func(q *Quota) (any, error) {
				return nil, q.Release(context.Background(), "", key)
			},
			wantHeld: map[string]quota.Ledger{"east": {}, "west": {}}, wantWrites: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &memLedger{held: tc.held}
			got, err := tc.do(&Quota{Ledger: l, Config: cfg})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantHeld, l.held); diff != "" {
				t.Errorf("ledger (-want +got):\n%s", diff)
			}
			if l.writes != tc.wantWrites {
				t.Errorf("writes = %d, want %d", l.writes, tc.wantWrites)
			}
		})
	}
}
