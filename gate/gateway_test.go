package gate_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/l402"
)

func TestChallenge(t *testing.T) {
	h := newHarness(t, nil)
	c, resp := h.challenge("/paid/item")
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || !strings.HasPrefix(got[0], `L402 macaroon="`) {
		t.Errorf("WWW-Authenticate = %q, want one L402 line with macaroon= first", got)
	}
	preimage, inv := h.node.pay(t, c.Invoice)
	if !inv.HasAmount || inv.Amount.Sats() != 10 {
		t.Errorf("invoice amount %v, want 10 sat", inv.Amount)
	}
	if got := inv.ExpiresAt.Sub(inv.CreatedAt); got != gate.DefaultInvoiceExpiry {
		t.Errorf("invoice expiry %s, want %s (never lnd's 24 h default)", got, gate.DefaultInvoiceExpiry)
	}
	if c.ID.PaymentHash != inv.Hash || preimage.Hash() != inv.Hash {
		t.Error("token not bound to the invoice's payment hash")
	}
	if h.up.count() != 0 {
		t.Error("an unpaid request reached the upstream")
	}
}

func TestLSATChallengeLine(t *testing.T) {
	h := newHarness(t, func(c *gate.Config) { c.LSATChallenge = true })
	_, resp := h.challenge("/paid")
	lines := resp.Header.Values("WWW-Authenticate")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `LSAT macaroon="`) || !strings.HasPrefix(lines[1], `L402 macaroon="`) {
		t.Fatalf("WWW-Authenticate = %q, want LSAT then L402, as Aperture sends", lines)
	}
	if h.node.invoices() != 1 {
		t.Errorf("%d invoices for one challenge", h.node.invoices())
	}
}

// TestStatusPaths covers every answer to a request on a paid route.
func TestStatusPaths(t *testing.T) {
	h := newHarness(t, nil)
	other, err := l402.NewDerivedRootKeys(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	paid := h.buy("/paid")
	header := func(tk token) http.Header { return tk.auth(t) }
	authValue := func(s string) http.Header { return http.Header{"Authorization": {s}} }
	b64 := func(m *macaroon.Macaroon) string {
		raw, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(raw)
	}

	// A token minted with another master secret: a forgery.
	forgedMac, _, err := l402.Minter{Keys: other}.Mint(context.Background(), paid.preimage.Hash(), l402.ServicesCaveat(l402.Service{Name: "paid"}))
	if err != nil {
		t.Fatal(err)
	}
	forged := token{mac: forgedMac, preimage: paid.preimage}
	// A token whose signature was altered.
	raw, err := paid.mac.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-3] ^= 1
	tampered := "L402 " + base64.StdEncoding.EncodeToString(raw) + ":" + paid.preimage.Hex()
	// The preimage of another token.
	second := h.buy("/paid")
	swapped := token{mac: paid.mac, preimage: second.preimage}
	// A token whose identifier says version 1.
	v1 := append([]byte(nil), paid.mac.Id()...)
	v1[1] = 1
	v1Mac, err := macaroon.New(make([]byte, 32), v1, "lsat", macaroon.V2)
	if err != nil {
		t.Fatal(err)
	}
	hexForm, err := l402.FormatMacaroonHeader(paid.cred())
	if err != nil {
		t.Fatal(err)
	}

	docsRead := h.buy("/docs/read")
	docsAny := h.buy("/docs/any")
	search := h.buy("/search")
	exp := h.buy("/exp")
	revoked := h.buy("/paid")
	h.revoke(revoked.id.TokenID)

	tests := []struct {
		name   string
		path   string
		header http.Header
		want   int
		// challenge: a fresh challenge comes with the answer.
		challenge bool
	}{
		{name: "no credential", path: "/paid", want: 402, challenge: true},
		{name: "paid", path: "/paid/x", header: header(paid), want: 200},
		{name: "paid, LSAT scheme", path: "/paid", header: authValue("LSAT " + strings.TrimPrefix(paid.auth(t).Get("Authorization"), "L402 ")), want: 200},
		{name: "paid, Grpc-Metadata-Macaroon hex form", path: "/paid", header: http.Header{"Grpc-Metadata-Macaroon": {hexForm}}, want: 200},
		{name: "paid, Macaroon hex form", path: "/paid", header: http.Header{"Macaroon": {hexForm}}, want: 200},
		{name: "paid, with another scheme's line first", path: "/paid", header: http.Header{"Authorization": {"Bearer abc", paid.auth(t).Get("Authorization")}}, want: 200},
		{name: "garbage", path: "/paid", header: authValue("L402 !!!:zz"), want: 401, challenge: true},
		{name: "no preimage", path: "/paid", header: authValue("L402 " + b64(paid.mac)), want: 401, challenge: true},
		{name: "forged with another root key", path: "/paid", header: header(forged), want: 401, challenge: true},
		{name: "tampered signature", path: "/paid", header: authValue(tampered), want: 401, challenge: true},
		{name: "preimage of another token", path: "/paid", header: header(swapped), want: 401, challenge: true},
		{name: "unknown identifier version", path: "/paid", header: authValue("L402 " + b64(v1Mac) + ":" + paid.preimage.Hex()), want: 401, challenge: true},
		{name: "oversized credential", path: "/paid", header: authValue("L402 " + strings.Repeat("A", 9000) + ":" + paid.preimage.Hex()), want: 401, challenge: true},
		{name: "token for another service", path: "/other", header: header(paid), want: 402, challenge: true},
		{name: "revoked", path: "/paid", header: header(revoked), want: 402, challenge: true},

		{name: "capability granted", path: "/docs/read", header: header(docsRead), want: 200},
		{name: "capability not granted", path: "/docs/write", header: header(docsRead), want: 402, challenge: true},
		{name: "route needing no capability", path: "/docs/any", header: header(docsRead), want: 200},
		{name: "token without capabilities caveat grants all", path: "/docs/write", header: header(docsAny), want: 200},
		{name: "attenuated to read, used to write", path: "/docs/write", header: header(docsAny.attenuated(t, l402.CapabilitiesCaveat("docs", "read"))), want: 402, challenge: true},
		{name: "capabilities widened", path: "/docs/write", header: header(docsRead.attenuated(t, l402.CapabilitiesCaveat("docs", "read", "write"))), want: 401, challenge: true},
		{name: "services widened", path: "/other", header: header(paid.attenuated(t, l402.ServicesCaveat(l402.Service{Name: "paid"}, l402.Service{Name: "other"}))), want: 401, challenge: true},

		{name: "within constraint", path: "/search?limit=100", header: header(search), want: 200},
		{name: "constraint default", path: "/search", header: header(search), want: 200},
		{name: "over constraint", path: "/search?limit=101", header: header(search), want: 402, challenge: true},
		{name: "bad constraint number", path: "/search?limit=ten", header: header(search), want: 400},
		{name: "constraint attenuated", path: "/search?limit=50", header: header(search.attenuated(t, l402.Caveat{Condition: "search_max_results", Value: "20"})), want: 402, challenge: true},
		{name: "constraint widened", path: "/search?limit=50", header: header(search.attenuated(t, l402.Caveat{Condition: "search_max_results", Value: "1000"})), want: 401, challenge: true},

		{name: "before expiry", path: "/exp", header: header(exp), want: 200},
		{name: "expiry widened", path: "/exp", header: header(exp.attenuated(t, l402.ValidUntilCaveat("exp", time.Now().Add(time.Hour).Unix()))), want: 401, challenge: true},
		{name: "expiry narrowed into the past", path: "/exp", header: header(exp.attenuated(t, l402.ValidUntilCaveat("exp", time.Now().Add(-time.Second).Unix()))), want: 402, challenge: true},

		{name: "free", path: "/free/x", want: 200},
		{name: "no route", path: "/nothing", want: 404},
		{name: "dot-dot through a free route", path: "/free/../paid", want: 400},
		{name: "encoded dot-dot", path: "/free/%2e%2e/paid", want: 400},
		{name: "doubled slash", path: "//paid", want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.node.invoices()
			upBefore := h.up.count()
			resp, body := h.get(tt.path, tt.header)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, tt.want)
			}
			cs, err := l402.ParseChallenges(resp.Header.Values("WWW-Authenticate")...)
			if tt.challenge != (err == nil) {
				t.Errorf("challenge present = %v, want %v", err == nil, tt.challenge)
			}
			if tt.challenge {
				if h.node.invoices() != before+1 || len(cs) != 1 {
					t.Errorf("%d new invoices, %d challenges; want one fresh challenge", h.node.invoices()-before, len(cs))
				}
				if resp.Header.Get("Cache-Control") != "no-store" {
					t.Error("a challenge must not be cached")
				}
			}
			reached := h.up.count() > upBefore
			if reached != (tt.want == 200) {
				t.Errorf("upstream reached = %v with status %d", reached, tt.want)
			}
			if tt.want == 200 && !strings.HasPrefix(body, "upstream ") {
				t.Errorf("body %q is not the upstream's", body)
			}
			if strings.Contains(body, paid.preimage.Hex()) {
				t.Error("the answer echoes a preimage")
			}
		})
	}
}

// TestUpstreamSeesTokenNotCredential: the upstream learns which token paid
// and never sees the credential; a client cannot claim a token id.
func TestUpstreamSeesTokenNotCredential(t *testing.T) {
	h := newHarness(t, nil)
	tk := h.buy("/paid")
	hexForm, err := l402.FormatMacaroonHeader(tk.cred())
	if err != nil {
		t.Fatal(err)
	}
	header := tk.auth(t)
	header.Set("Grpc-Metadata-Macaroon", hexForm)
	header.Set("Macaroon", hexForm)
	header.Set("Token", hexForm)
	header.Set("Grpc-Metadata-Token", hexForm)
	header.Set("X-L402-Token-Id", strings.Repeat("ab", 32))
	resp, _ := h.get("/paid", header)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := h.up.last(t).header
	if id := got.Get("X-L402-Token-Id"); id != tk.id.TokenID.String() {
		t.Errorf("upstream token id %q, want %s", id, tk.id.TokenID)
	}
	if len(got.Values("X-L402-Token-Id")) != 1 {
		t.Error("the client's claimed token id reached the upstream")
	}
	for _, name := range []string{"Authorization", "Grpc-Metadata-Macaroon", "Macaroon", "Token", "Grpc-Metadata-Token"} {
		if v := got.Get(name); v != "" {
			t.Errorf("upstream received %s", name)
		}
	}

	// A free route passes the client's own headers, minus a claimed id,
	// also spelt with underscores, which CGI-style upstreams read alike.
	resp, _ = h.get("/free", http.Header{"X-L402-Token-Id": {"spoofed"}, "X_l402_token_id": {"spoofed"}, "Authorization": {"Bearer upstream-key"}})
	if resp.StatusCode != 200 {
		t.Fatalf("free: status %d", resp.StatusCode)
	}
	got = h.up.last(t).header
	if got.Get("X-L402-Token-Id") != "" || got.Get("X_l402_token_id") != "" {
		t.Errorf("a spoofed token id reached the upstream through a free route: %v", got)
	}
	if got.Get("Authorization") != "Bearer upstream-key" {
		t.Error("a free route must pass the client's own Authorization")
	}
}

// TestVerifiedCacheKeyedOnCredential: a credential verified once is
// remembered by its Authorization value only when that value is the
// credential. Another scheme's value next to a Macaroon header must not
// become a key that admits requests without the macaroon.
func TestVerifiedCacheKeyedOnCredential(t *testing.T) {
	h := newHarness(t, nil)
	tk := h.buy("/paid")
	hexForm, err := l402.FormatMacaroonHeader(tk.cred())
	if err != nil {
		t.Fatal(err)
	}
	bearer := http.Header{"Authorization": {"Bearer shared-api-key"}}
	withMacaroon := http.Header{"Authorization": bearer["Authorization"], "Macaroon": {hexForm}}
	if resp, _ := h.get("/paid", withMacaroon); resp.StatusCode != 200 {
		t.Fatalf("Bearer plus Macaroon: %d, want 200", resp.StatusCode)
	}
	if resp, _ := h.get("/paid", bearer); resp.StatusCode != 402 {
		t.Fatalf("the Bearer value alone: %d, want 402", resp.StatusCode)
	}
	// The L402 value itself, verified once, is checked against each
	// request's caveats: a cached token is still refused elsewhere.
	for range 2 {
		if resp, _ := h.get("/paid", tk.auth(t)); resp.StatusCode != 200 {
			t.Fatalf("paid: %d", resp.StatusCode)
		}
	}
	if resp, _ := h.get("/other", tk.auth(t)); resp.StatusCode != 402 {
		t.Fatalf("cached token on another service: %d, want 402", resp.StatusCode)
	}
	h.revoke(tk.id.TokenID)
	if resp, _ := h.get("/paid", tk.auth(t)); resp.StatusCode != 402 {
		t.Fatalf("cached token after revocation: %d, want 402", resp.StatusCode)
	}
}

func TestQuota(t *testing.T) {
	h := newHarness(t, nil)
	tk := h.buy("/quota")
	for i := range 2 {
		if resp, body := h.get("/quota", tk.auth(t)); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %q", i+1, resp.StatusCode, body)
		}
	}
	resp, _ := h.get("/quota", tk.auth(t))
	if resp.StatusCode != 402 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("third request: %d, want 402 with a fresh challenge", resp.StatusCode)
	}
	// A holder may lower the quota for someone else, never raise it.
	tk2 := h.buy("/quota")
	lowered := tk2.attenuated(t, l402.Caveat{Condition: "quota_max_requests", Value: "1"})
	if resp, _ := h.get("/quota", lowered.auth(t)); resp.StatusCode != 200 {
		t.Fatalf("lowered quota, first request: %d", resp.StatusCode)
	}
	if resp, _ := h.get("/quota", lowered.auth(t)); resp.StatusCode != 402 {
		t.Fatalf("lowered quota, second request: %d, want 402", resp.StatusCode)
	}
	raised := h.buy("/quota").attenuated(t, l402.Caveat{Condition: "quota_max_requests", Value: "1000"})
	if resp, _ := h.get("/quota", raised.auth(t)); resp.StatusCode != 401 {
		t.Fatalf("raised quota: %d, want 401", resp.StatusCode)
	}
}

func TestQuotaRevokedAtOnceAcrossInstances(t *testing.T) {
	h := newHarness(t, nil)
	// A second instance sharing the store and the master secret.
	gw2, err := gate.New(gate.Options{Config: testConfig(h.up.srv.URL, t.TempDir()), Invoices: h.node, Store: h.store, Keys: h.keys})
	if err != nil {
		t.Fatal(err)
	}
	quota := h.buy("/quota")
	plain := h.buy("/paid")
	h.revoke(quota.id.TokenID)
	h.revoke(plain.id.TokenID)
	serve := func(path string, tk token) int {
		rec := httptestRecorder(t, gw2, path, tk.auth(t))
		return rec
	}
	if got := serve("/quota", quota); got != 402 {
		t.Errorf("quota route on the other instance: %d, want 402 at once (UseQuota sees the revocation)", got)
	}
	if got := serve("/paid", plain); got != 200 {
		t.Errorf("route without quota before the refresh: %d, want 200 (documented delay)", got)
	}
	if err := gw2.SyncRevocations(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := serve("/paid", plain); got != 402 {
		t.Errorf("after the refresh: %d, want 402", got)
	}
}

func TestExpiry(t *testing.T) {
	h := newHarness(t, nil)
	tk := h.buy("/exp")
	if resp, _ := h.get("/exp", tk.auth(t)); resp.StatusCode != 200 {
		t.Fatalf("fresh token: %d", resp.StatusCode)
	}
	h.clock.advance(time.Minute)
	resp, _ := h.get("/exp", tk.auth(t))
	if resp.StatusCode != 402 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("expired token: %d, want 402 with a fresh challenge", resp.StatusCode)
	}
}

func TestSaleRecordedOnceAtFirstUse(t *testing.T) {
	h := newHarness(t, nil)
	counting := &countingStore{MemoryStore: h.store}
	gw, err := gate.New(gate.Options{Config: testConfig(h.up.srv.URL, t.TempDir()), Invoices: h.node, Store: counting, Keys: h.keys})
	if err != nil {
		t.Fatal(err)
	}
	tk := h.buy("/paid")
	for range 3 {
		if got := httptestRecorder(t, gw, "/paid", tk.auth(t)); got != 200 {
			t.Fatalf("status %d", got)
		}
	}
	if counting.recordSales != 1 {
		t.Errorf("RecordSale called %d times for 3 requests, want once", counting.recordSales)
	}
	if counting.useQuota != 0 {
		t.Errorf("UseQuota called %d times on a route without quota", counting.useQuota)
	}
	sales, err := h.store.Sales(context.Background(), time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(sales) != 1 || sales[0].TokenID != tk.id.TokenID || sales[0].Amount.Sats() != 10 || sales[0].Route != "paid" || sales[0].PaymentHash != tk.invoice.Hash {
		t.Fatalf("sales = %+v, want one 10 sat sale of the token on route paid", sales)
	}
}

func TestUpstreamDownRefundsQuota(t *testing.T) {
	h := newHarness(t, func(c *gate.Config) {
		// Two routes of one service, one of them down. A token bought on
		// either may make one request.
		c.Routes = append(c.Routes,
			gate.RouteConfig{Name: "down", Service: "svc", Path: "/down", Upstream: "http://127.0.0.1:1", PriceSats: 1, Quota: 1},
			gate.RouteConfig{Name: "up", Service: "svc", Path: "/up", Upstream: c.Routes[0].Upstream, PriceSats: 1, Quota: 1})
	})
	tk := h.buy("/down")
	resp, body := h.get("/down", tk.auth(t))
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("upstream down: %d %q, want 502", resp.StatusCode, body)
	}
	if resp.Header.Get("WWW-Authenticate") != "" {
		t.Error("a 502 must not sell another token")
	}
	// The failed request was not charged: the one request is still there.
	if resp, _ := h.get("/up", tk.auth(t)); resp.StatusCode != 200 {
		t.Fatalf("after a 502, the token's one request: %d, want 200", resp.StatusCode)
	}
	if resp, _ := h.get("/up", tk.auth(t)); resp.StatusCode != 402 {
		t.Fatalf("second request: %d, want 402", resp.StatusCode)
	}
}

func TestNodeDown(t *testing.T) {
	h := newHarness(t, nil)
	tk := h.buy("/paid")
	h.node.setFail(errNodeDown)
	resp, _ := h.get("/paid", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("no credential with the node down: %d, want 503", resp.StatusCode)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q, want seconds", resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("WWW-Authenticate") != "" {
		t.Error("a 503 carries no challenge")
	}
	if resp, _ := h.get("/paid", tk.auth(t)); resp.StatusCode != 200 {
		t.Fatalf("paid token with the node down: %d, want 200", resp.StatusCode)
	}
	h.node.setFail(nil)
	if resp, _ := h.get("/paid", nil); resp.StatusCode != 402 {
		t.Fatalf("node back: %d, want 402", resp.StatusCode)
	}
}

func TestRateLimitedChallenges(t *testing.T) {
	const burst = 3
	h := newHarness(t, func(c *gate.Config) {
		c.RateLimit = gate.RateLimitConfig{ChallengesPerSecond: 0.01, Burst: burst}
	})
	tk := h.buy("/paid") // takes one token of the bucket
	statuses := map[int]int{}
	for i := range 30 {
		header := http.Header(nil)
		if i%2 == 1 {
			header = http.Header{"Authorization": {"L402 garbage:00"}}
		}
		resp, _ := h.get("/paid", header)
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests {
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Fatalf("429 with Retry-After %q", resp.Header.Get("Retry-After"))
			}
			if resp.Header.Get("WWW-Authenticate") != "" {
				t.Fatal("a 429 carries a challenge")
			}
		}
	}
	if got := h.node.invoices(); got != burst {
		t.Errorf("the node created %d invoices for a flood, want the bucket size %d", got, burst)
	}
	if statuses[429] != 30-(burst-1) {
		t.Errorf("statuses %v, want %d answered 429", statuses, 30-(burst-1))
	}
	// Paid requests are not limited.
	for range 5 {
		if resp, _ := h.get("/paid", tk.auth(t)); resp.StatusCode != 200 {
			t.Fatalf("paid request during a flood: %d", resp.StatusCode)
		}
	}
	// The bucket refills with time.
	h.clock.advance(100 * time.Second)
	if resp, _ := h.get("/paid", nil); resp.StatusCode != 402 {
		t.Fatalf("after refill: %d, want 402", resp.StatusCode)
	}
}

func TestOversizedHeaders(t *testing.T) {
	h := newHarness(t, nil)
	resp, _ := h.get("/free", http.Header{"X-Big": {strings.Repeat("a", 64<<10)}})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header: %d, want 431", resp.StatusCode)
	}
	if h.up.count() != 0 {
		t.Error("an oversized request reached the upstream")
	}
}

func TestManifest(t *testing.T) {
	h := newHarness(t, func(c *gate.Config) {
		c.Routes = append(c.Routes, gate.RouteConfig{Name: "all", Path: "/", Upstream: c.Routes[0].Upstream, PriceSats: 1})
	})
	resp, body := h.get(gate.WellKnownPath, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("manifest: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if h.node.invoices() != 0 {
		t.Error("the manifest cost an invoice")
	}
	var m gate.Manifest
	if err := jsonUnmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Version != "1.0" || len(m.Currencies) != 1 || m.Currencies[0] != "msat" {
		t.Errorf("manifest header %+v", m)
	}
	price := map[string]int64{}
	for _, s := range m.Services {
		for _, r := range s.Resources {
			price[s.Name+" "+r.Path] = r.Pricing.PriceMsat
		}
	}
	if price["paid /paid"] != 10_000 || price["docs /docs/write"] != 3_000 {
		t.Errorf("prices %v", price)
	}
	if _, ok := price["free /free"]; ok {
		t.Error("a free route is listed as priced")
	}
	if m.Caveats["search_max_results"].Attenuation != "decreasing" || m.Caveats["docs_capabilities"].Attenuation != "subset" {
		t.Errorf("caveats %v", m.Caveats)
	}
	if resp, _ := h.get(gate.WellKnownPath, http.Header{"If-None-Match": {resp.Header.Get("ETag")}}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
}

func TestAdminAPI(t *testing.T) {
	h := newHarness(t, nil)
	tk := h.buy("/paid")
	if resp, _ := h.get("/paid", tk.auth(t)); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	admin := httptestServer(t, h.admin)
	client := gate.AdminClient{BaseURL: admin.URL, Token: adminToken}
	rep, err := client.Sales(context.Background(), time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count != 1 || rep.Total.Sats() != 10 || rep.Sales[0].TokenID != tk.id.TokenID {
		t.Fatalf("sales %+v", rep)
	}
	if rep, err := client.Sales(context.Background(), time.Now().Add(time.Hour), 10); err != nil || rep.Count != 0 {
		t.Fatalf("sales since later: %+v %v", rep, err)
	}
	if _, err := client.Revoke(context.Background(), tk.id.TokenID, "abuse"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := h.get("/paid", tk.auth(t)); resp.StatusCode != 402 {
		t.Fatalf("revoked token: %d, want 402", resp.StatusCode)
	}

	bad := gate.AdminClient{BaseURL: admin.URL, Token: "wrong"}
	_, err = bad.Sales(context.Background(), time.Time{}, 10)
	var se *gate.AdminStatusError
	if !errorsAs(err, &se) || se.Status != 401 {
		t.Fatalf("wrong admin token: %v, want a 401", err)
	}
	for _, p := range []string{"/metrics", "/admin/sales"} {
		resp, err := http.Get(admin.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("%s without the admin token: %d, want 401", p, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, admin.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics := readAll(t, resp)
	for _, want := range []string{
		`satloop_gate_revenue_sats_total{route="paid"} 10`,
		`satloop_gate_challenges_total{route="paid"} 2`,
		`satloop_gate_tokens_verified_total{route="paid"} 1`,
		`satloop_gate_tokens_refused_total{reason="revoked"} 1`,
		`satloop_gate_tokens_refused_total{reason="no_credential"} 1`,
		`satloop_gate_requests_total{code="200",route="paid"} 1`,
		`satloop_gate_requests_total{code="402",route="paid"} 2`,
		`satloop_gate_verification_seconds_count`,
		`satloop_gate_node_errors_total 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(metrics, tk.preimage.Hex()) || strings.Contains(metrics, hex.EncodeToString(tk.mac.Signature())) {
		t.Error("metrics hold a secret")
	}
	// A bad token id is a 400 with a clear message.
	req, _ = http.NewRequest(http.MethodPost, admin.URL+"/admin/tokens/xyz/revoke", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("bad token id: %d, want 400", resp.StatusCode)
	}
}

func TestOpenMetrics(t *testing.T) {
	h := newHarness(t, func(c *gate.Config) { c.Admin.OpenMetrics = true })
	admin := httptestServer(t, h.admin)
	for p, want := range map[string]int{"/metrics": 200, "/admin/sales": 401} {
		resp, err := http.Get(admin.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s without token, open_metrics: %d, want %d", p, resp.StatusCode, want)
		}
	}
}
