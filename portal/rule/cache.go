package rule

import "sync"

// Cache keeps what was compiled from rules in this process, for those who
// compile the same rules again and again on a hot path and only read what
// they compiled, so that callers share it. It holds at most its bound of
// entries: past it, it starts afresh rather than tracking what is used
// least, since the bound is far above what a deployment compiles and is
// there only so that a stream of changing rules cannot grow it for ever.
type Cache[K comparable, V any] struct {
	mu  sync.Mutex
	max int
	m   map[K]V
}

// NewCache returns an empty cache of at most max entries.
func NewCache[K comparable, V any](max int) *Cache[K, V] {
	return &Cache[K, V]{max: max, m: map[K]V{}}
}

// Get returns the entry of key, and whether there is one.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	v, ok := c.m[key]
	c.mu.Unlock()
	return v, ok
}

// Put keeps v as the entry of key, clearing the cache first when it is full.
func (c *Cache[K, V]) Put(key K, v V) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[key] = v
	c.mu.Unlock()
}
