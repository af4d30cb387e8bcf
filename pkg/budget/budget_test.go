package budget

import "testing"

func TestBudget(t *testing.T) {
	type step struct {
		take    bool // else give
		key     string
		n       int64
		wantErr bool
	}
	for _, tc := range []struct {
		name          string
		limit, perKey int64
		steps         []step
	}{
		{name: "one key is held to its share, another still takes", limit: 100, perKey: 40, steps: []step{
			{take: true, key: "a", n: 40}, {take: true, key: "a", n: 1, wantErr: true}, {take: true, key: "b", n: 40},
		}},
		{name: "the total bounds every key together", limit: 100, perKey: 60, steps: []step{
			{take: true, key: "a", n: 60}, {take: true, key: "b", n: 41, wantErr: true}, {take: true, key: "b", n: 40},
		}},
		{name: "what is given back can be taken again", limit: 10, perKey: 10, steps: []step{
			{take: true, key: "a", n: 10}, {take: true, key: "a", n: 1, wantErr: true}, {key: "a", n: 4}, {take: true, key: "a", n: 4},
		}},
		{name: "no share: the total is each key's share", limit: 10, steps: []step{
			{take: true, key: "a", n: 10}, {take: true, key: "b", n: 1, wantErr: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(tc.limit, tc.perKey)
			for i, s := range tc.steps {
				if !s.take {
					b.Give(s.key, s.n)
					continue
				}
				if err := b.Take(s.key, s.n); (err != nil) != s.wantErr {
					t.Fatalf("step %d: Take(%s, %d) = %v, want error %v", i, s.key, s.n, err, s.wantErr)
				}
			}
		})
	}
}
