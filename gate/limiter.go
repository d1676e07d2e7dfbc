package gate

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// maxBuckets bounds the limiter's memory. When full of active addresses,
// new addresses are refused challenges until idle buckets are swept:
// failing closed protects the node.
const maxBuckets = 1 << 18

// ipLimiter is a token bucket per client address for unpaid challenges,
// each of which costs the node an invoice. IPv6 addresses share a bucket
// per /64, the block one subscriber usually holds.
type ipLimiter struct {
	rate  float64 // tokens per second
	burst float64
	mu    sync.Mutex
	b     map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newIPLimiter(rate float64, burst int) *ipLimiter {
	return &ipLimiter{rate: rate, burst: float64(burst), b: make(map[netip.Addr]*bucket)}
}

// allow takes a token from addr's bucket. When there is none it returns
// false and how long until there is.
func (l *ipLimiter) allow(addr netip.Addr, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.b[addr]
	if !ok {
		if len(l.b) >= maxBuckets {
			return time.Second, false
		}
		b = &bucket{tokens: l.burst, last: now}
		l.b[addr] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return max(wait, time.Millisecond), false
}

// sweep forgets buckets that have refilled: they hold nothing a new
// bucket would not.
func (l *ipLimiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for addr, b := range l.b {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.b, addr)
		}
	}
}

// clientAddr is the address a request's challenges are counted against.
func (g *Gateway) clientAddr(r *http.Request) netip.Addr {
	if g.cfg.ClientIPHeader != "" {
		v := r.Header.Get(g.cfg.ClientIPHeader)
		if first, _, _ := strings.Cut(v, ","); first != "" {
			if a, err := netip.ParseAddr(strings.TrimSpace(first)); err == nil {
				return bucketAddr(a)
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		// Not an IP (a unix socket, a test): one shared bucket.
		return netip.Addr{}
	}
	return bucketAddr(a)
}

func bucketAddr(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}
