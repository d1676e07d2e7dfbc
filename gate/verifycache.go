package gate

import (
	"sync"

	"github.com/satloop/satloop/l402"
)

// maxVerifiedCredentials bounds the cache of verified credentials; when
// full it starts over, which costs each active buyer one full
// verification.
const maxVerifiedCredentials = 8192

// verifiedCache remembers credentials whose signature and preimage
// verified, keyed by the exact Authorization value, so that a buyer's
// later requests skip decoding and the HMAC chain. Only the cryptographic
// half is cached: caveats (service, capability, expiry, constraints) are
// checked against every request, and revocations and quotas after that.
// It is used only with derived root keys, whose key for a token never
// changes; a key store that revokes by deleting keys must be asked every
// time.
type verifiedCache struct {
	mu sync.RWMutex
	m  map[string]l402.Token
}

func newVerifiedCache() *verifiedCache {
	return &verifiedCache{m: make(map[string]l402.Token)}
}

func (c *verifiedCache) get(credential string) (l402.Token, bool) {
	c.mu.RLock()
	tok, ok := c.m[credential]
	c.mu.RUnlock()
	return tok, ok
}

func (c *verifiedCache) put(credential string, tok l402.Token) {
	c.mu.Lock()
	if len(c.m) >= maxVerifiedCredentials {
		clear(c.m)
	}
	c.m[credential] = tok
	c.mu.Unlock()
}
