// Package budget bounds what a server keeps for its callers: a total, and a share of it for
// each key (a workspace), so that one key cannot take what the others need.
package budget

import (
	"fmt"
	"sync"
)

// Budget is a total limit and a limit per key, of bytes or of items.
type Budget struct {
	limit, perKey int64

	mu    sync.Mutex
	total int64
	used  map[string]int64
}

// New returns a budget of limit in all and perKey for each key (perKey <= 0: limit).
func New(limit, perKey int64) *Budget {
	if perKey <= 0 || perKey > limit {
		perKey = limit
	}
	return &Budget{limit: limit, perKey: perKey, used: map[string]int64{}}
}

// Take charges n to key, or says why it cannot: the key's share or the total is spent.
func (b *Budget) Take(key string, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.used[key]+n > b.perKey:
		return fmt.Errorf("%s holds %d of its share of %d", key, b.used[key], b.perKey)
	case b.total+n > b.limit:
		return fmt.Errorf("%d of %d are held in all", b.total, b.limit)
	}
	b.used[key] += n
	b.total += n
	return nil
}

// Give returns n that key took.
func (b *Budget) Give(key string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total -= n
	if b.used[key] -= n; b.used[key] <= 0 {
		delete(b.used, key)
	}
}

// Used is what key holds now.
func (b *Budget) Used(key string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used[key]
}
