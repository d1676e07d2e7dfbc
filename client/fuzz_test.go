package client

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/l402"
)

func FuzzScopeOf(f *testing.F) {
	for _, s := range []string{
		"https://api.example.com/v1/search?q=1", "http://EXAMPLE.com:8080", "https://[::1]:443/a/b/",
		"http://h/%2F..%2F/x", "https://h//double//slash", "ftp://h/x", "http:///nohost", "https://h:0/a",
		"https://user:pw@h/a#frag", "http://h/a/../b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		origin, scope, err := ScopeOf(u)
		if err != nil {
			return
		}
		if !strings.HasPrefix(origin, "http://") && !strings.HasPrefix(origin, "https://") {
			t.Fatalf("origin %q of %q", origin, raw)
		}
		if strings.ContainsAny(strings.SplitN(origin, "://", 2)[1], "/?#@") {
			t.Fatalf("origin %q of %q carries more than host and port", origin, raw)
		}
		if origin != strings.ToLower(origin) {
			t.Fatalf("origin %q not lowercase", origin)
		}
		if !strings.HasPrefix(scope, "/") || !strings.HasSuffix(scope, "/") {
			t.Fatalf("scope %q of %q", scope, raw)
		}
		if p := u.EscapedPath(); p != "" && !strings.HasPrefix(p, scope) && !strings.HasPrefix("/"+p, scope) {
			t.Fatalf("scope %q is not a prefix of path %q", scope, p)
		}
		// A request under the scope gets the same scope: tokens are found
		// again where they were stored.
		v := *u
		v.Path, v.RawPath = "", scope+"x"
		v.Path, _ = url.PathUnescape(scope + "x")
		if o2, s2, err := ScopeOf(&v); err != nil || o2 != origin || s2 != scope {
			t.Fatalf("scope of %q+x is %q %q %v, want %q %q", scope, o2, s2, err, origin, scope)
		}
	})
}

// FuzzReadToken feeds arbitrary bytes to the decoder of stored tokens.
func FuzzReadToken(f *testing.F) {
	f.Add(testMacaroon(f, "services=api:0", "api_valid_until=1700000000"))
	f.Add(testMacaroon(f, "api_valid_until=x", "other_valid_until=5"))
	f.Add([]byte{})
	f.Add([]byte{2, 1, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		mac, info, err := readToken(raw)
		if err != nil {
			return
		}
		if mac == nil {
			t.Fatal("no macaroon and no error")
		}
		if !info.validUntil.IsZero() && info.validUntil.Before(time.Unix(0, 0)) {
			t.Fatalf("valid until %v", info.validUntil)
		}
	})
}

// FuzzValidUntil: the expiry read from caveats is the earliest of the
// _valid_until caveats, and one that is not a positive number of seconds
// counts as the epoch (the token is never reused).
func FuzzValidUntil(f *testing.F) {
	f.Add("api_valid_until=1700000000", "b_valid_until=1600000000")
	f.Add("api_valid_until=-1", "services=api:0")
	f.Add("api_valid_until=99999999999999999999", "x=y")
	f.Add("_valid_until=12", "api_valid_until= 5")
	f.Fuzz(func(t *testing.T, c1, c2 string) {
		_, info, err := readToken(testMacaroon(t, c1, c2))
		if err != nil {
			t.Fatalf("readToken of a valid macaroon: %v", err)
		}
		var want time.Time
		for _, c := range []string{c1, c2} {
			cav, ok := l402.ParseCaveat(c)
			if !ok || !strings.HasSuffix(cav.Condition, l402.SuffixValidUntil) {
				continue
			}
			until := time.Unix(0, 0)
			if secs, err := strconv.ParseInt(cav.Value, 10, 64); err == nil && secs > 0 && secs < math.MaxInt64/int64(time.Second) {
				until = time.Unix(secs, 0)
			}
			if want.IsZero() || until.Before(want) {
				want = until
			}
		}
		if !want.Equal(info.validUntil) {
			t.Fatalf("caveats %q %q: valid until %v, want %v", c1, c2, info.validUntil, want)
		}
	})
}

func testMacaroon(t testing.TB, caveats ...string) []byte {
	id := l402.Identifier{PaymentHash: l402.PaymentHash{1}, TokenID: l402.TokenID{2}}
	raw, err := id.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mac, err := macaroon.New(make([]byte, 32), raw, "lsat", macaroon.V2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caveats {
		if err := mac.AddFirstPartyCaveat([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := mac.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
