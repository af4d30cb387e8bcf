package gateway

import "container/list"

// lru is a map of at most size entries that, when full, drops the one used least recently, so
// a flood of new keys pushes out old entries one at a time instead of wiping them all. It is
// not safe for concurrent use.
type lru[K comparable, V any] struct {
	size int
	// order holds *lruEntry, most recently used first.
	order *list.List
	items map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key   K
	value V
}

func newLRU[K comparable, V any](size int) *lru[K, V] {
	return &lru[K, V]{size: max(size, 1), order: list.New(), items: map[K]*list.Element{}}
}

// get returns key's value and marks it used.
func (c *lru[K, V]) get(key K) (V, bool) {
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry[K, V]).value, true
}

// add sets key's value and marks it used, dropping the least recently used entry when full.
func (c *lru[K, V]) add(key K, value V) {
	if el, ok := c.items[key]; ok {
		el.Value.(*lruEntry[K, V]).value = value
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry[K, V]{key: key, value: value})
	if c.order.Len() > c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*lruEntry[K, V]).key)
	}
}

// remove drops key.
func (c *lru[K, V]) remove(key K) {
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
		delete(c.items, key)
	}
}

// len is how many entries the cache holds.
func (c *lru[K, V]) len() int { return c.order.Len() }
