package client

import (
	"net/url"
	"testing"
)

// TestKeyForInvertsScopeOf: a stored origin and scope map back to the key
// the cached path computes from the URL, so that a token stored by a
// purchase or a recovery is found by the next request.
func TestKeyForInvertsScopeOf(t *testing.T) {
	for _, raw := range []string{
		"https://api.example.com/v1/search?q=x",
		"http://EXAMPLE.com:8080/a/b/",
		"https://[::1]:8443/looprpc.SwapServer/LoopOut",
		"https://[fe80::1%25eth0]/x",
		"http://127.0.0.1:1/",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		key, err := keyOf(u)
		if err != nil {
			t.Fatal(err)
		}
		origin, scope, _ := ScopeOf(u)
		if got := keyFor(origin, scope); got != key {
			t.Errorf("%s: keyFor(%q, %q) = %+v, want %+v", raw, origin, scope, got, key)
		}
	}
}

// TestKeyOfAllocatesNothing: the cached path's lookup key costs no
// allocation for a canonical URL.
func TestKeyOfAllocatesNothing(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:8080/v1/search?q=1")
	if n := testing.AllocsPerRun(100, func() { keyOf(u) }); n != 0 {
		t.Errorf("keyOf allocates %v times per call", n)
	}
}
