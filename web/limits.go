package web

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the abuse limits of Config.
const (
	DefaultLoginsPerMinute        = 10 // sign-in attempts a source address may make …
	DefaultLoginBurst             = 10 // … with this burst
	DefaultConversationsPerMinute = 20 // conversations a source address may open …
	DefaultConversationBurst      = 5  // … with this burst
	DefaultSocketsPerSource       = 50 // visitor websockets open from one source address
	DefaultAgentSocketsPerSession = 8  // agent websockets open for one session
	DefaultSampleRate             = 5  // sample validation calls a second per source …
	DefaultSampleBurst            = 10
	// maxSources bounds the source addresses a limiter remembers; past it
	// the ones whose bucket is full again are forgotten, and if none is,
	// new sources are refused (fail closed) until some are.
	maxSources = 100_000
)

// sourceLimiter is a token bucket per source address.
type sourceLimiter struct {
	every rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[netip.Addr]*rate.Limiter
}

func newSourceLimiter(perMinute float64, burst int) *sourceLimiter {
	return &sourceLimiter{every: rate.Limit(perMinute / 60), burst: burst, buckets: map[netip.Addr]*rate.Limiter{}}
}

// allow takes a token of a's bucket, if it has one.
func (l *sourceLimiter) allow(a netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[a]
	if b == nil {
		if len(l.buckets) >= maxSources {
			l.pruneLocked(now)
			if len(l.buckets) >= maxSources {
				return false
			}
		}
		b = rate.NewLimiter(l.every, l.burst)
		l.buckets[a] = b
	}
	return b.AllowN(now, 1)
}

// pruneLocked forgets the sources whose bucket is full: they are as if
// never seen.
func (l *sourceLimiter) pruneLocked(now time.Time) {
	for a, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, a)
		}
	}
}

func (l *sourceLimiter) prune(now time.Time) {
	l.mu.Lock()
	l.pruneLocked(now)
	l.mu.Unlock()
}

// sourceCounter counts what is open per key (a source address, a session).
type sourceCounter[K comparable] struct {
	max  int
	mu   sync.Mutex
	open map[K]int
}

func newSourceCounter[K comparable](max int) *sourceCounter[K] {
	return &sourceCounter[K]{max: max, open: map[K]int{}}
}

// acquire counts one more for k, unless k is at the maximum.
func (c *sourceCounter[K]) acquire(k K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[k] >= c.max {
		return false
	}
	c.open[k]++
	return true
}

func (c *sourceCounter[K]) release(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[k]--; c.open[k] <= 0 {
		delete(c.open, k)
	}
}
