package bakery

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/l402"
)

// seedCredentials returns real encoded credentials: a root, an attenuated
// one, and an L402 token, in both base64 forms.
func seedCredentials(f *testing.F) []string {
	f.Helper()
	root, err := Mint(agentA, keyA, Limits{
		ExpiresAt: t0.Add(time.Hour), MaxPerCall: 1000,
		Budgets: []Budget{{Limit: 5000, Window: Window{Period: Day}}, {Limit: 9000, Window: Window{Rolling: 7 * 24 * time.Hour}}},
		Hosts:   []string{"api.example.com", "*.example.org"}, DenyHosts: []string{"admin.example.org"},
		Ops: []Op{OpFetch, OpPay},
	})
	if err != nil {
		f.Fatal(err)
	}
	child, err := Attenuate(root, Limits{MaxPerCall: 10, Ops: []Op{OpFetch}})
	if err != nil {
		f.Fatal(err)
	}
	token, _, err := l402.Minter{Keys: l402.NewMemoryRootKeys()}.Mint(context.Background(), l402.PaymentHash{7})
	if err != nil {
		f.Fatal(err)
	}
	var out []string
	for _, mac := range []*macaroon.Macaroon{root, child, token} {
		b, err := mac.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, base64.RawURLEncoding.EncodeToString(b), base64.StdEncoding.EncodeToString(b))
	}
	return out
}

func FuzzDecode(f *testing.F) {
	// Only the seeds themselves may verify, their location aside: the
	// location is a hint that the signature does not cover.
	genuine := map[string]bool{}
	for _, s := range seedCredentials(f) {
		f.Add(s)
		if mac, err := Decode(s); err == nil {
			genuine[signedParts(mac)] = true
		}
	}
	for _, s := range []string{"", "=", "Ag", "AgE", "AQ==", "not a credential", "{}", "MDAxY2xvY2F0aW9uIGxvYwo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mac, err := Decode(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// Never panics, whatever the caveats; a refusal is a kind we know.
		if _, err := Inspect(mac); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownCaveat) {
			t.Fatalf("Inspect error %v is of no known kind", err)
		}
		if _, err := Verify(mac, lookup, t0); err == nil {
			if !genuine[signedParts(mac)] {
				t.Fatalf("a fuzzed credential verified: %q", s)
			}
		}
		enc, err := Encode(mac)
		if err != nil {
			t.Fatalf("accepted credential does not re-encode: %v", err)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded credential %q does not decode: %v", enc, err)
		}
		b1, _ := mac.MarshalBinary()
		b2, _ := again.MarshalBinary()
		if !bytes.Equal(b1, b2) {
			t.Fatalf("round trip changed the credential")
		}
	})
}

// signedParts returns what a credential's signature covers: its
// identifier and caveats, and the signature itself.
func signedParts(mac *macaroon.Macaroon) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q", mac.Id())
	for _, c := range mac.Caveats() {
		fmt.Fprintf(&b, " %q %q %q", c.Id, c.VerificationId, c.Location)
	}
	fmt.Fprintf(&b, " %x", mac.Signature())
	return b.String()
}

func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"day", "week", "month", "24h", "7d", "30d", "90m", "1m", "3660d", "0d", "1h30m", "30s", "fortnight", "-1d", "1.5h", "2562047h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWindow(s)
		if err != nil {
			return
		}
		switch {
		case w.Period != "" && w.Rolling != 0:
			t.Fatalf("ParseWindow(%q) = %+v: both set", s, w)
		case w.Period == "" && (w.Rolling < time.Minute || w.Rolling > maxRolling):
			t.Fatalf("ParseWindow(%q) = %+v: rolling out of range", s, w)
		}
		again, err := ParseWindow(w.String())
		if err != nil || again != w {
			t.Fatalf("ParseWindow(%q).String() = %q reads back as %+v, %v", s, w.String(), again, err)
		}
		now := t0
		start, next := w.Start(now), w.ResetsAt(now, now.Add(-time.Minute))
		if start.After(now) || !next.After(now.Add(-time.Minute)) {
			t.Fatalf("window %+v at %v: start %v, resets %v", w, now, start, next)
		}
	})
}

func FuzzParseBudget(f *testing.F) {
	for _, s := range []string{"5000/day", "20000/30d", "1/week", "1_000/24h", "0/day", "-5/day", "5000/fortnight", "5000/0d", "5000/30s", "21000000000000000/month", "/", "1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBudget(s)
		if err != nil {
			return
		}
		if b.Limit <= 0 || !b.Limit.Valid() || b.Limit%1000 != 0 {
			t.Fatalf("ParseBudget(%q) = %+v: limit not a positive whole number of sats", s, b)
		}
		// Whatever parses mints, and reads back the same.
		mac, err := Mint(agentA, keyA, Limits{Budgets: []Budget{b}})
		if err != nil {
			t.Fatalf("ParseBudget(%q) = %+v does not mint: %v", s, b, err)
		}
		g, err := Inspect(mac)
		if err != nil || len(g.Budgets) != 1 || g.Budgets[0].Budget != b {
			t.Fatalf("budget %+v reads back as %+v, %v", b, g.Budgets, err)
		}
	})
}

func FuzzReadCredentialJSON(f *testing.F) {
	for _, c := range seedCredentials(f) {
		b, err := json.Marshal(File{Name: "a", Wallet: "unix:///run/wallet.sock", Credential: c})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, s := range []string{"{}", `{"credential":""}`, `{"credential":"!!"}`, `{"credential":1}`, "{", `{"wallet":"x"}x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !strings.HasPrefix(strings.TrimSpace(s), "{") {
			return // another form: a path, which would touch the file system
		}
		got, err := ReadCredential(s)
		if err == nil {
			if _, err := got.Macaroon(); err != nil {
				t.Fatalf("accepted a file whose credential does not decode: %v", err)
			}
			return
		}
		var file File
		if json.Unmarshal([]byte(strings.TrimSpace(s)), &file) == nil && len(file.Credential) >= 16 &&
			strings.Contains(err.Error(), strings.TrimSpace(file.Credential)) {
			t.Fatalf("error text holds the credential: %v", err)
		}
	})
}

func FuzzCheckHost(f *testing.F) {
	for _, seed := range [][2]string{
		{"api.example.com", "api.example.com"},
		{"*.example.org", "a.example.org"},
		{"*.example.org", "example.org"},
		{"*.example.org", "badexample.org"},
		{"API.Example.com", "api.example.com."},
		{"127.0.0.1", "127.0.0.1:80"},
		{"kk.example", "\u212A\u212A.example"},
		{"a.example", "a.example.."},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, host string) {
		patterns, err := parseHostPatterns(pattern)
		if err != nil {
			return
		}
		allow := Grant{Hosts: [][]string{patterns}}
		deny := Grant{DenyHosts: patterns}
		allowErr, denyErr := allow.CheckHost(host), deny.CheckHost(host)
		valid := validHostName(asciiLower(strings.TrimSuffix(host, ".")))
		if !valid && (allowErr == nil || denyErr == nil) {
			t.Fatalf("host %q is not a host name, yet allowed (allow: %v, deny: %v)", host, allowErr, denyErr)
		}
		if valid && (allowErr == nil) == (denyErr == nil) {
			t.Fatalf("patterns %q and host %q: allow list says %v, deny list says %v", patterns, host, allowErr, denyErr)
		}
		if both := (Grant{Hosts: [][]string{patterns}, DenyHosts: patterns}); both.CheckHost(host) == nil {
			t.Fatalf("patterns %q both allow and deny %q, and it was allowed", patterns, host)
		}
		// Case and one trailing dot do not matter.
		if variant := strings.ToUpper(host) + "."; !strings.HasSuffix(host, ".") && isASCII(host) &&
			(allow.CheckHost(variant) == nil) != (allowErr == nil) {
			t.Fatalf("host %q and %q differ", host, variant)
		}
		if allowErr == nil {
			h := asciiLower(strings.TrimSuffix(host, "."))
			matched := false
			for _, p := range patterns {
				if suffix, ok := strings.CutPrefix(p, "*."); ok {
					matched = matched || strings.HasSuffix(h, "."+suffix) && len(h) > len(suffix)+1
				} else {
					matched = matched || h == p
				}
			}
			if !matched {
				t.Fatalf("host %q allowed by %q without matching one", host, patterns)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
