package bakery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

var (
	agentA = [16]byte{0xa1, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}
	agentB = [16]byte{0xb2}
	keyA   = testKey(1)
	keyB   = testKey(2)
	// t0 is the "now" of the tests: a Wednesday.
	t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
)

func testKey(seed byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

// lookup is the wallet's root key lookup: agentA has keyA, nobody else.
func lookup(id [16]byte) ([]byte, error) {
	if id == agentA {
		return keyA, nil
	}
	return nil, fmt.Errorf("%w: agent %x", ErrUnknownAgent, id)
}

func mint(t *testing.T, l Limits) *macaroon.Macaroon {
	t.Helper()
	mac, err := Mint(agentA, keyA, l)
	if err != nil {
		t.Fatalf("Mint(%+v): %v", l, err)
	}
	return mac
}

// addRaw appends caveats as any holder can, without Attenuate's checks.
func addRaw(t *testing.T, mac *macaroon.Macaroon, caveats ...string) *macaroon.Macaroon {
	t.Helper()
	out := mac.Clone()
	for _, raw := range caveats {
		c, ok := l402.ParseCaveat(raw)
		if !ok {
			if err := out.AddFirstPartyCaveat([]byte(raw)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := l402.AddCaveats(out, c); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// tamper rewrites mac's JSON form, keeping its signature unless edit
// changes it: what a holder without the root key can do.
func tamper(t *testing.T, mac *macaroon.Macaroon, edit func(m map[string]any)) *macaroon.Macaroon {
	t.Helper()
	b, err := json.Marshal(mac)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	var out macaroon.Macaroon
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("rebuild tampered macaroon: %v", err)
	}
	return &out
}

func caveatsOf(m map[string]any) []any { c, _ := m["c"].([]any); return c }

func TestMintVerifyRoundTrip(t *testing.T) {
	exp := t0.Add(time.Hour)
	day := Budget{Limit: money.Sats(5000), Window: Window{Period: Day}}
	rolling := Budget{Limit: money.Sats(20000), Window: Window{Rolling: 30 * 24 * time.Hour}}
	tests := []struct {
		name   string
		limits Limits
		check  func(t *testing.T, g Grant)
	}{
		{"no limits", Limits{}, func(t *testing.T, g Grant) {
			if !g.ExpiresAt.IsZero() || g.MaxPerCall != 0 || g.Budgets != nil || g.HostLimited() || g.DenyHosts != nil {
				t.Errorf("grant %+v, want no limits", g)
			}
			if !slices.Equal(g.Ops(), Ops) {
				t.Errorf("ops %v, want all", g.Ops())
			}
		}},
		{"expiry", Limits{ExpiresAt: exp}, func(t *testing.T, g Grant) {
			if !g.ExpiresAt.Equal(exp) {
				t.Errorf("expires %v, want %v", g.ExpiresAt, exp)
			}
		}},
		{"per-call cap", Limits{MaxPerCall: 1500}, func(t *testing.T, g Grant) {
			if g.MaxPerCall != 1500 {
				t.Errorf("max per call %v", g.MaxPerCall)
			}
		}},
		{"budgets", Limits{Budgets: []Budget{day, rolling}}, func(t *testing.T, g Grant) {
			if len(g.Budgets) != 2 || g.Budgets[0].Budget != day || g.Budgets[1].Budget != rolling {
				t.Errorf("budgets %+v, want %v and %v", g.Budgets, day, rolling)
			}
			if g.Budgets[0].Key == "" || g.Budgets[0].Key == g.Budgets[1].Key {
				t.Errorf("budget keys %q %q: want two distinct", g.Budgets[0].Key, g.Budgets[1].Key)
			}
		}},
		{"hosts", Limits{Hosts: []string{"API.example.com", " *.example.org"}}, func(t *testing.T, g Grant) {
			if want := [][]string{{"api.example.com", "*.example.org"}}; !slices.EqualFunc(g.Hosts, want, slices.Equal) || !g.HostLimited() {
				t.Errorf("hosts %q, want %q", g.Hosts, want)
			}
		}},
		{"deny hosts", Limits{DenyHosts: []string{"evil.example", "*.bad.example"}}, func(t *testing.T, g Grant) {
			// A deny list limits hosts too: a bare invoice could go to one.
			if !slices.Equal(g.DenyHosts, []string{"evil.example", "*.bad.example"}) || !g.HostLimited() {
				t.Errorf("deny %q, limited %v", g.DenyHosts, g.HostLimited())
			}
		}},
		{"ops", Limits{Ops: []Op{OpFetch}}, func(t *testing.T, g Grant) {
			if !slices.Equal(g.Ops(), []Op{OpFetch}) || g.Allows(OpPay) || !g.Allows(OpFetch) {
				t.Errorf("ops %v", g.Ops())
			}
		}},
		{"no ops", Limits{Ops: []Op{}}, func(t *testing.T, g Grant) {
			for _, op := range Ops {
				if g.Allows(op) {
					t.Errorf("allows %s, want none", op)
				}
			}
		}},
		{"everything", Limits{ExpiresAt: exp, MaxPerCall: 10, Budgets: []Budget{day}, Hosts: []string{"a.example"}, DenyHosts: []string{"b.example"}, Ops: []Op{OpFetch, OpReceive}}, func(t *testing.T, g Grant) {
			if !g.ExpiresAt.Equal(exp) || g.MaxPerCall != 10 || len(g.Budgets) != 1 || len(g.Hosts) != 1 || len(g.DenyHosts) != 1 || !slices.Equal(g.Ops(), []Op{OpFetch, OpReceive}) {
				t.Errorf("grant %+v", g)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mac := mint(t, tt.limits)
			g, err := Verify(mac, lookup, t0)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if g.AgentID != agentA {
				t.Errorf("agent %x, want %x", g.AgentID, agentA)
			}
			tt.check(t, g)
			inspected, err := Inspect(mac)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if fmt.Sprint(inspected) != fmt.Sprint(g) {
				t.Errorf("Inspect %+v differs from Verify %+v", inspected, g)
			}
			if id, err := AgentIDOf(mac); err != nil || id != agentA {
				t.Errorf("AgentIDOf = %x, %v", id, err)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	exp := t0.Add(time.Hour)
	base := func(t *testing.T) *macaroon.Macaroon {
		return mint(t, Limits{ExpiresAt: exp, MaxPerCall: 1000, Ops: []Op{OpFetch}})
	}
	otherKeyLookup := func(id [16]byte) ([]byte, error) { return keyB, nil }
	errLookup := errors.New("store down")
	tests := []struct {
		name   string
		mac    func(t *testing.T) *macaroon.Macaroon
		lookup func([16]byte) ([]byte, error)
		now    time.Time
		want   error
	}{
		{"expired", base, lookup, exp.Add(time.Second), ErrExpired},
		{"expired at the instant", base, lookup, exp, ErrExpired},
		{"expired by an attenuation", func(t *testing.T) *macaroon.Macaroon {
			return addRaw(t, base(t), "expires="+fmt.Sprint(t0.Add(-time.Minute).Unix()))
		}, lookup, t0, ErrExpired},
		{"last caveat removed", func(t *testing.T) *macaroon.Macaroon {
			return tamper(t, base(t), func(m map[string]any) { c := caveatsOf(m); m["c"] = c[:len(c)-1] })
		}, lookup, t0, ErrBadSignature},
		{"attenuation removed", func(t *testing.T) *macaroon.Macaroon {
			narrowed, err := Attenuate(base(t), Limits{MaxPerCall: 10})
			if err != nil {
				t.Fatal(err)
			}
			return tamper(t, narrowed, func(m map[string]any) { c := caveatsOf(m); m["c"] = c[:len(c)-1] })
		}, lookup, t0, ErrBadSignature},
		{"caveat altered", func(t *testing.T) *macaroon.Macaroon {
			return tamper(t, base(t), func(m map[string]any) {
				caveatsOf(m)[1] = map[string]any{"i": "max_per_call_msat=9999999"}
			})
		}, lookup, t0, ErrBadSignature},
		{"signature flipped", func(t *testing.T) *macaroon.Macaroon {
			mac := base(t)
			b, err := mac.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			// The V2 binary form ends with the 32-byte signature.
			b[len(b)-1] ^= 0x01
			var out macaroon.Macaroon
			if err := out.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			return &out
		}, lookup, t0, ErrBadSignature},
		{"minted by another wallet", func(t *testing.T) *macaroon.Macaroon {
			mac, err := Mint(agentA, keyB, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			return mac
		}, lookup, t0, ErrBadSignature},
		{"verified with another key", base, otherKeyLookup, t0, ErrBadSignature},
		{"unknown agent", func(t *testing.T) *macaroon.Macaroon {
			mac, err := Mint(agentB, keyA, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			return mac
		}, lookup, t0, ErrUnknownAgent},
		{"lookup error passed through", base, func([16]byte) ([]byte, error) { return nil, errLookup }, t0, errLookup},
		{"third-party caveat", func(t *testing.T) *macaroon.Macaroon {
			mac := base(t).Clone()
			if err := mac.AddThirdPartyCaveat(testKey(9), []byte("discharge-me"), "https://elsewhere.example"); err != nil {
				t.Fatal(err)
			}
			return mac
		}, lookup, t0, ErrUnknownCaveat},
		{"unknown condition", func(t *testing.T) *macaroon.Macaroon { return addRaw(t, base(t), "max_fee_msat=10") }, lookup, t0, ErrUnknownCaveat},
		{"L402 condition", func(t *testing.T) *macaroon.Macaroon {
			return addRaw(t, base(t), l402.ValidUntilCaveat("svc", t0.Unix()).String())
		}, lookup, t0, ErrUnknownCaveat},
		{"caveat without =", func(t *testing.T) *macaroon.Macaroon { return addRaw(t, base(t), "expires") }, lookup, t0, ErrUnknownCaveat},
		{"condition with space", func(t *testing.T) *macaroon.Macaroon { return addRaw(t, base(t), "expires =1") }, lookup, t0, ErrUnknownCaveat},
		{"unknown operation", func(t *testing.T) *macaroon.Macaroon { return addRaw(t, base(t), "ops=fetch,teleport") }, lookup, t0, ErrUnknownCaveat},
		{"L402 token", func(t *testing.T) *macaroon.Macaroon {
			mac, _, err := l402.Minter{Keys: l402.NewMemoryRootKeys()}.Mint(context.Background(), l402.PaymentHash{1})
			if err != nil {
				t.Fatal(err)
			}
			return mac
		}, lookup, t0, ErrMalformed},
		{"random macaroon", func(t *testing.T) *macaroon.Macaroon {
			mac, err := macaroon.New(keyA, []byte("some other service"), Location, macaroon.V2)
			if err != nil {
				t.Fatal(err)
			}
			return mac
		}, lookup, t0, ErrMalformed},
		{"uppercase agent id", func(t *testing.T) *macaroon.Macaroon {
			mac, err := macaroon.New(keyA, []byte(fmt.Sprintf("%s%X", identifierPrefix, agentA[:])), Location, macaroon.V2)
			if err != nil {
				t.Fatal(err)
			}
			return mac
		}, lookup, t0, ErrMalformed},
		{"short agent id", func(t *testing.T) *macaroon.Macaroon {
			mac, err := macaroon.New(keyA, []byte(identifierPrefix+"abcd"), Location, macaroon.V2)
			if err != nil {
				t.Fatal(err)
			}
			return mac
		}, lookup, t0, ErrMalformed},
	}
	for _, value := range []string{
		"expires=soon", "expires=0", "expires=-1", "expires=", "expires=1.5",
		"max_per_call_msat=0", "max_per_call_msat=-5", "max_per_call_msat=1e3", "max_per_call_msat=99999999999999999999",
		"max_per_call_msat=" + fmt.Sprint(int64(money.MaxMilliSat)+1),
		"budget=5000", "budget=5000/fortnight", "budget=0/day", "budget=-1/day", "budget=x/day", "budget=5000/30s", "budget=5000/0d", "budget=/day",
		"hosts=", "hosts=https://a.example", "hosts=a.example:443", "hosts=*", "hosts=a..example", "hosts=.a.example", "hosts=a.example,",
		"deny_hosts=", "deny_hosts=*.*.example", "deny_hosts=a b",
	} {
		tests = append(tests, struct {
			name   string
			mac    func(t *testing.T) *macaroon.Macaroon
			lookup func([16]byte) ([]byte, error)
			now    time.Time
			want   error
		}{"malformed " + value, func(t *testing.T) *macaroon.Macaroon { return addRaw(t, base(t), value) }, lookup, t0, ErrMalformed})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mac := tt.mac(t)
			g, err := Verify(mac, tt.lookup, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %+v, %v; want %v", g, err, tt.want)
			}
			if fmt.Sprint(g) != fmt.Sprint(Grant{}) {
				t.Errorf("refused credential returned grant %+v", g)
			}
		})
	}
}

func TestVerifyKeepsTheOriginalValid(t *testing.T) {
	root := mint(t, Limits{MaxPerCall: 1000})
	before, err := Encode(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Attenuate(root, Limits{MaxPerCall: 10}); err != nil {
		t.Fatal(err)
	}
	after, _ := Encode(root)
	if before != after {
		t.Fatal("Attenuate changed the credential it was given")
	}
	if g, err := Verify(root, lookup, t0); err != nil || g.MaxPerCall != 1000 {
		t.Fatalf("root after attenuation: %+v, %v", g, err)
	}
}

func TestNarrowing(t *testing.T) {
	exp := t0.Add(24 * time.Hour)
	root := mint(t, Limits{ExpiresAt: exp, MaxPerCall: 1000, Ops: []Op{OpFetch, OpPay},
		Budgets: []Budget{{Limit: 5000, Window: Window{Period: Day}}, {Limit: 9000, Window: Window{Rolling: 7 * 24 * time.Hour}}}})

	t.Run("Attenuate refuses widening", func(t *testing.T) {
		for _, l := range []Limits{
			{MaxPerCall: 5000},
			{MaxPerCall: 1000},
			{ExpiresAt: exp.Add(time.Hour)},
			{ExpiresAt: exp},
			{ExpiresAt: exp.Add(time.Millisecond)},
			{Ops: []Op{OpPay, OpReceive}},
			{Budgets: []Budget{{Limit: 5000, Window: Window{Period: Day}}}},
			{Budgets: []Budget{{Limit: 9001, Window: Window{Rolling: 7 * 24 * time.Hour}}}},
		} {
			if _, err := Attenuate(root, l); !errors.Is(err, ErrWiden) {
				t.Errorf("Attenuate(%+v) = %v, want ErrWiden", l, err)
			}
		}
	})
	t.Run("Attenuate narrows", func(t *testing.T) {
		narrowed, err := Attenuate(root, Limits{ExpiresAt: exp.Add(-time.Hour), MaxPerCall: 500, Ops: []Op{OpPay},
			// Smaller over the same window, and any amount over another.
			Budgets: []Budget{{Limit: 4999, Window: Window{Period: Day}}, {Limit: 100000, Window: Window{Period: Week}}}})
		if err != nil {
			t.Fatal(err)
		}
		g, err := Verify(narrowed, lookup, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !g.ExpiresAt.Equal(exp.Add(-time.Hour)) || g.MaxPerCall != 500 || !slices.Equal(g.Ops(), []Op{OpPay}) || len(g.Budgets) != 4 {
			t.Errorf("grant %+v", g)
		}
	})
	t.Run("sub-second expiry narrows to the second before", func(t *testing.T) {
		narrowed, err := Attenuate(root, Limits{ExpiresAt: exp.Add(-time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		g, err := Inspect(narrowed)
		if err != nil || !g.ExpiresAt.Equal(exp.Add(-time.Second)) {
			t.Errorf("expires %v, %v; want %v", g.ExpiresAt, err, exp.Add(-time.Second))
		}
	})
	t.Run("Attenuate needs a limit", func(t *testing.T) {
		if _, err := Attenuate(root, Limits{}); err == nil || errors.Is(err, ErrWiden) {
			t.Errorf("Attenuate with no limits = %v, want a plain error", err)
		}
	})
	t.Run("raw widening is ignored", func(t *testing.T) {
		widened := addRaw(t, root,
			"max_per_call_msat=5000",
			"expires="+fmt.Sprint(exp.Add(time.Hour).Unix()),
			"ops=pay,receive",
		)
		g, err := Verify(widened, lookup, t0)
		if err != nil {
			t.Fatal(err)
		}
		if g.MaxPerCall != 1000 {
			t.Errorf("max per call %v, want the smaller 1000", g.MaxPerCall)
		}
		if !g.ExpiresAt.Equal(exp) {
			t.Errorf("expires %v, want the earlier %v", g.ExpiresAt, exp)
		}
		if !slices.Equal(g.Ops(), []Op{OpPay}) || g.Allows(OpFetch) || g.Allows(OpReceive) {
			t.Errorf("ops %v, want only pay", g.Ops())
		}
		if _, err := Verify(widened, lookup, exp); !errors.Is(err, ErrExpired) {
			t.Errorf("at the first expiry: %v, want ErrExpired", err)
		}
	})
	t.Run("ops none then some stays none", func(t *testing.T) {
		g, err := Verify(addRaw(t, root, "ops=", "ops=fetch,pay,receive"), lookup, t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Ops()) != 0 {
			t.Errorf("ops %v, want none", g.Ops())
		}
	})
	t.Run("hosts lists all apply", func(t *testing.T) {
		g, err := Verify(addRaw(t, root, "hosts=a.example,b.example", "hosts=b.example,c.example"), lookup, t0)
		if err != nil {
			t.Fatal(err)
		}
		for host, ok := range map[string]bool{"a.example": false, "b.example": true, "c.example": false} {
			if err := g.CheckHost(host); (err == nil) != ok {
				t.Errorf("CheckHost(%s) = %v, want allowed %v", host, err, ok)
			}
		}
	})
}

func TestCheckHost(t *testing.T) {
	tests := []struct {
		name    string
		limits  Limits
		allowed []string
		refused []string
	}{
		{"no host caveats", Limits{}, []string{"anything.example", "[::1]:443", "", "ünïcode.example"}, nil},
		{"exact", Limits{Hosts: []string{"api.example.com"}},
			[]string{"api.example.com", "API.Example.COM", "api.example.com."},
			[]string{"example.com", "x.api.example.com", "api.example.com.evil", "api.example.com:443", "", ".", "api.example.com..", "\u212Aapi.example.com"}},
		{"wildcard", Limits{Hosts: []string{"*.example.org"}},
			[]string{"a.example.org", "a.b.example.org", "A.EXAMPLE.ORG."},
			[]string{"example.org", "badexample.org", "a.example.org.evil", ".example.org", "example.org."}},
		{"IPv4", Limits{Hosts: []string{"127.0.0.1"}},
			[]string{"127.0.0.1"}, []string{"127.0.0.2", "127.0.0.1:8080", "[::1]"}},
		{"deny wins", Limits{Hosts: []string{"*.example.org"}, DenyHosts: []string{"admin.example.org"}},
			[]string{"a.example.org"}, []string{"admin.example.org", "ADMIN.example.org.", "example.org"}},
		{"deny wildcard", Limits{DenyHosts: []string{"*.evil.example"}},
			[]string{"evil.example", "good.example", "notevil.example"},
			[]string{"a.evil.example", "A.Evil.Example.", "a.evil.example:443", "a.evil.example..", "[::1]"}},
		{"deny with the Kelvin sign", Limits{DenyHosts: []string{"kk.example"}},
			[]string{"k.example"}, []string{"kk.example", "KK.example", "\u212A\u212A.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := Verify(mint(t, tt.limits), lookup, t0)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range tt.allowed {
				if err := g.CheckHost(h); err != nil {
					t.Errorf("CheckHost(%q) = %v, want allowed", h, err)
				}
			}
			for _, h := range tt.refused {
				if err := g.CheckHost(h); err == nil {
					t.Errorf("CheckHost(%q) allowed, want refused", h)
				}
			}
		})
	}
}

func TestBudgetKeys(t *testing.T) {
	day := Budget{Limit: 5000, Window: Window{Period: Day}}
	week := Budget{Limit: 9000, Window: Window{Period: Week}}
	keys := func(t *testing.T, mac *macaroon.Macaroon) []string {
		t.Helper()
		g, err := Verify(mac, lookup, t0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, b := range g.Budgets {
			out = append(out, b.Key)
		}
		return out
	}
	attenuate := func(t *testing.T, mac *macaroon.Macaroon, l Limits) *macaroon.Macaroon {
		t.Helper()
		out, err := Attenuate(mac, l)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	root := mint(t, Limits{MaxPerCall: 1000, Budgets: []Budget{day}})
	rootKey := keys(t, root)[0]

	t.Run("shared by every attenuation", func(t *testing.T) {
		child := attenuate(t, root, Limits{Budgets: []Budget{week}})
		grandchild := attenuate(t, child, Limits{MaxPerCall: 10, Hosts: []string{"a.example"}})
		for _, mac := range []*macaroon.Macaroon{child, grandchild, addRaw(t, root, "budget=1/day")} {
			if k := keys(t, mac); k[0] != rootKey {
				t.Errorf("attenuation's first budget key %s, want the root's %s", k[0], rootKey)
			}
		}
		if k1, k2 := keys(t, child), keys(t, grandchild); k1[1] != k2[1] {
			t.Errorf("grandchild does not share the child's budget: %s vs %s", k2[1], k1[1])
		}
	})
	t.Run("same budget at different places", func(t *testing.T) {
		a := attenuate(t, root, Limits{Budgets: []Budget{week}})
		b := attenuate(t, attenuate(t, root, Limits{MaxPerCall: 500}), Limits{Budgets: []Budget{week}})
		c := attenuate(t, root, Limits{Budgets: []Budget{week, week}})
		ka, kb, kc := keys(t, a), keys(t, b), keys(t, c)
		if ka[1] != kc[1] {
			t.Errorf("identical chains root+week gave keys %s and %s", ka[1], kc[1])
		}
		all := []string{ka[0], ka[1], kb[1], kc[2]}
		for i := range all {
			for j := i + 1; j < len(all); j++ {
				if all[i] == all[j] {
					t.Errorf("budget keys %d and %d equal (%s): %q", i, j, all[i], all)
				}
			}
		}
	})
	t.Run("deterministic across Mint", func(t *testing.T) {
		again := mint(t, Limits{MaxPerCall: 1000, Budgets: []Budget{day}})
		if k := keys(t, again)[0]; k != rootKey {
			t.Errorf("same id and caveats gave key %s, then %s", rootKey, k)
		}
		other, err := Mint(agentB, keyA, Limits{MaxPerCall: 1000, Budgets: []Budget{day}})
		if err != nil {
			t.Fatal(err)
		}
		g, err := Inspect(other)
		if err != nil {
			t.Fatal(err)
		}
		if g.Budgets[0].Key == rootKey {
			t.Error("another agent with the same caveats shares the budget key")
		}
	})
}

func TestBudgetChainIsInjective(t *testing.T) {
	key := func(id [16]byte, caveats ...string) string {
		c := newBudgetChain(id)
		var k string
		for _, raw := range caveats {
			k = c.next(raw)
		}
		return k
	}
	// Pairs whose plain concatenation is equal: only the length prefix
	// keeps them apart.
	pairs := [][2][]string{
		{{"ab", "c"}, {"a", "bc"}},
		{{"hosts=a.example", "budget=1/day"}, {"hosts=a.examplebudget=1/day"}},
		{{"a", "1:b"}, {"a1:b"}},
		{{"1:a", "b"}, {"1:a1:b"}},
		{{"", "x"}, {"x"}},
	}
	for _, p := range pairs {
		if key(agentA, p[0]...) == key(agentA, p[1]...) {
			t.Errorf("%q and %q share a key", p[0], p[1])
		}
	}
	if key(agentA, "budget=1/day") == key(agentB, "budget=1/day") {
		t.Error("two agents share a key")
	}
	if key(agentA, "x=1", "budget=1/day") != key(agentA, "x=1", "budget=1/day") {
		t.Error("the same chain gave two keys")
	}
}

func TestMintRefuses(t *testing.T) {
	tests := []struct {
		name   string
		key    []byte
		limits Limits
	}{
		{"short root key", keyA[:31], Limits{}},
		{"negative per-call cap", keyA, Limits{MaxPerCall: -1}},
		{"per-call cap above all bitcoin", keyA, Limits{MaxPerCall: money.MaxMilliSat + 1}},
		{"zero budget", keyA, Limits{Budgets: []Budget{{Limit: 0, Window: Window{Period: Day}}}}},
		{"huge budget", keyA, Limits{Budgets: []Budget{{Limit: money.MaxMilliSat + 1, Window: Window{Period: Day}}}}},
		{"zero window", keyA, Limits{Budgets: []Budget{{Limit: 1}}}},
		{"unknown period", keyA, Limits{Budgets: []Budget{{Limit: 1, Window: Window{Period: "fortnight"}}}}},
		{"short rolling window", keyA, Limits{Budgets: []Budget{{Limit: 1, Window: Window{Rolling: time.Second}}}}},
		{"host with scheme", keyA, Limits{Hosts: []string{"https://a.example"}}},
		{"empty host", keyA, Limits{Hosts: []string{""}}},
		{"deny host with port", keyA, Limits{DenyHosts: []string{"a.example:80"}}},
		{"unknown op", keyA, Limits{Ops: []Op{"teleport"}}},
		{"expiry before 1970", keyA, Limits{ExpiresAt: time.Unix(-10, 0)}},
		{"expiry at the epoch", keyA, Limits{ExpiresAt: time.Unix(0, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if mac, err := Mint(agentA, tt.key, tt.limits); err == nil {
				g, verr := Inspect(mac)
				t.Errorf("Mint accepted %+v (Inspect: %+v, %v)", tt.limits, g, verr)
			}
		})
	}
}

func TestEncodeDecode(t *testing.T) {
	mac := mint(t, Limits{ExpiresAt: t0.Add(time.Hour), MaxPerCall: 1000, Budgets: []Budget{{Limit: 5000, Window: Window{Period: Day}}}, Hosts: []string{"a.example"}})
	enc, err := Encode(mac)
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := mac.MarshalBinary()
	std := base64StdPadded(bin)
	accepted := map[string]string{
		"encoded":                   enc,
		"std with padding":          std,
		"surrounded by white space": "\n  " + enc + " \r\n",
		"URL-safe with padding":     base64.URLEncoding.EncodeToString(bin),
		"wrapped over lines":        enc[:60] + "\n" + enc[60:],
	}
	for name, s := range accepted {
		t.Run(name, func(t *testing.T) {
			got, err := Decode(s)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			again, err := Encode(got)
			if err != nil || again != enc {
				t.Fatalf("re-encoded %q, %v; want %q", again, err, enc)
			}
			if _, err := Verify(got, lookup, t0); err != nil {
				t.Fatalf("Verify decoded: %v", err)
			}
		})
	}
	v1, err := macaroon.New(keyA, mac.Id(), Location, macaroon.V1)
	if err != nil {
		t.Fatal(err)
	}
	v1bin, err := v1.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]string{
		"empty":             "",
		"blank":             " \n\t",
		"oversized":         string(make([]byte, MaxEncodedLen+1)),
		"oversized base64":  enc + string(bytesOf('A', MaxEncodedLen)),
		"not base64":        "not a credential!",
		"padding inside":    enc[:8] + "=" + enc[8:],
		"not a macaroon":    base64StdPadded([]byte("hello, world")),
		"truncated":         enc[:len(enc)-10],
		"trailing bytes":    base64StdPadded(append(bin, 0, 1, 2)),
		"a second macaroon": base64StdPadded(append(bin, bin...)),
		"V1 binary":         base64StdPadded(v1bin),
		"JSON":              `{"i":"x"}`,
		"one byte":          "Ag",
	}
	for name, s := range refused {
		t.Run("refuses "+name, func(t *testing.T) {
			got, err := Decode(s)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %v, %v; want ErrMalformed", got, err)
			}
			noSecret(t, err, enc)
		})
	}
}

func bytesOf(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

func base64StdPadded(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestVerifyConcurrently(t *testing.T) {
	mac := mint(t, Limits{MaxPerCall: 1000, Budgets: []Budget{{Limit: 5000, Window: Window{Period: Day}}}})
	want, err := Verify(mac, lookup, t0)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			g, err := Verify(mac, lookup, t0)
			if err == nil && fmt.Sprint(g) != fmt.Sprint(want) {
				err = fmt.Errorf("grant %+v, want %+v", g, want)
			}
			if err == nil {
				_, err = Attenuate(mac, Limits{MaxPerCall: 10})
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// An IPv4 address in any spelling but the dotted quad is refused, so that
// a deny list naming 127.0.0.1 cannot be passed with 127.1 or 2130706433.
func TestCheckHostNumericSpellings(t *testing.T) {
	g := Grant{DenyHosts: []string{"127.0.0.1"}}
	for _, host := range []string{"127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.0.0.01", "127.000.0.1"} {
		if err := g.CheckHost(host); err == nil {
			t.Errorf("CheckHost(%q) passed a deny list naming 127.0.0.1", host)
		}
	}
	if err := g.CheckHost("127.0.0.1"); err == nil {
		t.Error("the denied dotted quad passed")
	}
	for _, host := range []string{"10.0.0.1", "api.example.com", "1password.com", "a.b2"} {
		if err := g.CheckHost(host); err != nil {
			t.Errorf("CheckHost(%q) = %v, want it allowed", host, err)
		}
	}
	if _, err := (Limits{Hosts: []string{"127.1"}}).Caveats(); err == nil {
		t.Error("a host pattern 127.1 was accepted")
	}
}
