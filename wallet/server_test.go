package wallet_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/bakery"
	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/store/sqlite"
	"github.com/satloop/satloop/wallet"
)

// fetchResult is what an agent got from a fetch through the wallet.
type fetchResult struct {
	status int
	body   string
	header http.Header
	rec    *client.Receipt
}

// fetch makes one request through the wallet's Transport, following
// redirects when follow is set.
func fetch(t *testing.T, c *wallet.Client, maxPrice money.MilliSat, method, url, body string, follow bool) (fetchResult, error) {
	t.Helper()
	hc := &http.Client{Transport: c.Transport(maxPrice), Timeout: 30 * time.Second}
	if !follow {
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, rec := client.WithReceipt(t.Context())
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fetchResult{rec: rec}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return fetchResult{status: resp.StatusCode, body: string(b), header: resp.Header, rec: rec}, err
}

// removeFirstCaveat returns mac without its first caveat, signature kept:
// what a holder who wants a limit gone would try.
func removeFirstCaveat(t *testing.T, mac *macaroon.Macaroon) *macaroon.Macaroon {
	t.Helper()
	raw, err := mac.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	caveats, _ := m["c"].([]any)
	if len(caveats) < 2 {
		t.Fatalf("credential has %d caveats, want 2 or more", len(caveats))
	}
	m["c"] = caveats[1:]
	raw, _ = json.Marshal(m)
	var out macaroon.Macaroon
	if err := out.UnmarshalJSON(raw); err != nil {
		t.Fatal(err)
	}
	return &out
}

// TestHostileCredentials: every credential or request that must be
// refused is refused with its own code, found by errors.Is on the agent's
// side, and the node pays nothing.
func TestHostileCredentials(t *testing.T) {
	h := newHarness(t)
	seller := newSeller(t, h.node, money.Sats(10))
	ctx := context.Background()
	host := "127.0.0.1"

	pay := func(amount money.MilliSat) func(*testing.T, *wallet.Client) error {
		return func(t *testing.T, c *wallet.Client) error {
			inv, pre := h.node.newInvoice(t, amount)
			h.secretPreimage(pre)
			_, err := c.PayInvoice(t.Context(), wallet.PayRequest{Invoice: inv})
			return err
		}
	}
	fetchURL := func(url string) func(*testing.T, *wallet.Client) error {
		return func(t *testing.T, c *wallet.Client) error {
			_, err := fetch(t, c, 0, http.MethodGet, url, "", true)
			return err
		}
	}
	receive := func(t *testing.T, c *wallet.Client) error {
		_, err := c.CreateInvoice(t.Context(), wallet.InvoiceRequest{Amount: money.Sats(5)})
		return err
	}
	mintCred := func(name string, l bakery.Limits) func(*testing.T) string {
		return func(t *testing.T) string { _, _, enc := h.mint(t, name, l); return enc }
	}

	tests := []struct {
		name string
		cred func(t *testing.T) string
		call func(*testing.T, *wallet.Client) error
		want error
		code wallet.Code
		// check looks at the refusal's details.
		check func(t *testing.T, e *wallet.Error)
		after func(t *testing.T)
	}{
		{
			name: "expired",
			cred: mintCred("expired", bakery.Limits{ExpiresAt: time.Now().Add(-time.Minute)}),
			call: pay(money.Sats(1)), want: bakery.ErrExpired, code: wallet.CodeCredentialExpired,
		},
		{
			name: "tampered: a caveat removed",
			cred: func(t *testing.T) string {
				_, mac, _ := h.mint(t, "tampered", bakery.Limits{MaxPerCall: money.Sats(5), Budgets: budget(10)})
				return encode(t, removeFirstCaveat(t, mac))
			},
			call: pay(money.Sats(50)), want: wallet.ErrCredential, code: wallet.CodeCredentialInvalid,
		},
		{
			name: "forged with another root key",
			cred: func(t *testing.T) string {
				agent, _, _ := h.mint(t, "forged", bakery.Limits{MaxPerCall: money.Sats(5)})
				key := make([]byte, 32)
				rand.Read(key)
				mac, err := bakery.Mint(agent.ID, key, bakery.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				return encode(t, mac)
			},
			call: pay(money.Sats(50)), want: wallet.ErrCredential, code: wallet.CodeCredentialInvalid,
		},
		{
			name: "widened: a larger per-call cap added",
			cred: func(t *testing.T) string {
				_, mac, _ := h.mint(t, "widened", bakery.Limits{MaxPerCall: money.Sats(20)})
				wide := mac.Clone()
				if err := l402.AddCaveats(wide, l402.Caveat{Condition: bakery.CondMaxPerCall, Value: "100000000"}); err != nil {
					t.Fatal(err)
				}
				return encode(t, wide)
			},
			call: pay(money.Sats(21)), want: wallet.ErrOverCallCap, code: wallet.CodeOverCallCap,
			check: func(t *testing.T, e *wallet.Error) {
				if e.Left != money.Sats(20) || !strings.Contains(e.Limit, "20 sat") {
					t.Errorf("the smaller cap should apply: limit %q left %s", e.Limit, e.Left)
				}
			},
		},
		{
			name: "widened: a larger budget added",
			cred: func(t *testing.T) string {
				_, mac, _ := h.mint(t, "widened-budget", bakery.Limits{Budgets: budget(50)})
				wide := mac.Clone()
				if err := l402.AddCaveats(wide, l402.Caveat{Condition: bakery.CondBudget, Value: "100000000/day"}); err != nil {
					t.Fatal(err)
				}
				return encode(t, wide)
			},
			call: pay(money.Sats(45)), want: wallet.ErrOverBudget, code: wallet.CodeBudgetExhausted,
			check: func(t *testing.T, e *wallet.Error) {
				if !strings.Contains(e.Limit, "50 sat") {
					t.Errorf("the 50-sat budget should refuse: %q", e.Limit)
				}
			},
		},
		{
			name: "widened: an operation added",
			cred: func(t *testing.T) string {
				_, mac, _ := h.mint(t, "widened-ops", bakery.Limits{Ops: []bakery.Op{bakery.OpFetch}})
				wide := mac.Clone()
				if err := l402.AddCaveats(wide, l402.Caveat{Condition: bakery.CondOps, Value: "fetch,pay,receive"}); err != nil {
					t.Fatal(err)
				}
				return encode(t, wide)
			},
			call: pay(money.Sats(1)), want: wallet.ErrOpNotAllowed, code: wallet.CodeOpNotAllowed,
		},
		{
			name: "widened: a later expiry added",
			cred: func(t *testing.T) string {
				_, mac, _ := h.mint(t, "widened-expiry", bakery.Limits{ExpiresAt: time.Now().Add(-time.Minute)})
				wide := mac.Clone()
				later := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
				if err := l402.AddCaveats(wide, l402.Caveat{Condition: bakery.CondExpires, Value: later}); err != nil {
					t.Fatal(err)
				}
				return encode(t, wide)
			},
			call: pay(money.Sats(1)), want: bakery.ErrExpired, code: wallet.CodeCredentialExpired,
		},
		{
			name: "widened: another host list added",
			cred: func(t *testing.T) string {
				_, mac, _ := h.mint(t, "widened-hosts", bakery.Limits{Hosts: []string{"api.example.com"}})
				wide := mac.Clone()
				if err := l402.AddCaveats(wide, l402.Caveat{Condition: bakery.CondHosts, Value: host}); err != nil {
					t.Fatal(err)
				}
				return encode(t, wide)
			},
			call: fetchURL(seller.url("/v1/x")), want: wallet.ErrHostNotAllowed, code: wallet.CodeHostNotAllowed,
		},
		{
			name: "tampered: a caveat's value changed",
			cred: func(t *testing.T) string {
				_, mac, _ := h.mint(t, "changed", bakery.Limits{MaxPerCall: money.Sats(5)})
				raw, err := mac.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				changed := strings.Replace(string(raw), "max_per_call_msat=5000", "max_per_call_msat=9000", 1)
				if changed == string(raw) {
					t.Fatalf("no caveat to change in %s", raw)
				}
				var m macaroon.Macaroon
				if err := m.UnmarshalJSON([]byte(changed)); err != nil {
					t.Fatal(err)
				}
				return encode(t, &m)
			},
			call: pay(money.Sats(8)), want: wallet.ErrCredential, code: wallet.CodeCredentialInvalid,
		},
		{
			name: "minted by another wallet",
			cred: func(t *testing.T) string {
				other, err := sqlite.OpenLedger(ctx, filepath.Join(t.TempDir(), "other.db"))
				if err != nil {
					t.Fatal(err)
				}
				defer other.Close()
				_, mac, err := wallet.MintAgent(ctx, other, "stranger", bakery.Limits{}, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				return encode(t, mac)
			},
			call: pay(money.Sats(1)), want: wallet.ErrCredential, code: wallet.CodeCredentialInvalid,
		},
		{
			name: "an unknown caveat added",
			cred: func(t *testing.T) string {
				_, mac, _ := h.mint(t, "unknown-caveat", bakery.Limits{})
				m := mac.Clone()
				if err := l402.AddCaveats(m, l402.Caveat{Condition: "unlimited", Value: "true"}); err != nil {
					t.Fatal(err)
				}
				return encode(t, m)
			},
			call: pay(money.Sats(1)), want: wallet.ErrCredential, code: wallet.CodeCredentialInvalid,
		},
		{
			name: "revoked",
			cred: func(t *testing.T) string {
				_, _, enc := h.mint(t, "revoked", bakery.Limits{})
				if _, err := h.ledger.RevokeAgent(ctx, "revoked", time.Now()); err != nil {
					t.Fatal(err)
				}
				return enc
			},
			call: pay(money.Sats(1)), want: wallet.ErrRevoked, code: wallet.CodeRevoked,
		},
		{
			name: "attenuated from a revoked one",
			cred: func(t *testing.T) string {
				_, mac, _ := h.mint(t, "revoked-parent", bakery.Limits{})
				child, err := bakery.Attenuate(mac, bakery.Limits{MaxPerCall: money.Sats(5)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.ledger.RevokeAgent(ctx, "revoked-parent", time.Now()); err != nil {
					t.Fatal(err)
				}
				return encode(t, child)
			},
			call: pay(money.Sats(1)), want: wallet.ErrRevoked, code: wallet.CodeRevoked,
		},
		{
			name: "host not allowed",
			cred: mintCred("other-host", bakery.Limits{Hosts: []string{"api.example.com"}}),
			call: fetchURL(seller.url("/v1/x")), want: wallet.ErrHostNotAllowed, code: wallet.CodeHostNotAllowed,
		},
		{
			name: "host denied",
			cred: mintCred("denied-host", bakery.Limits{DenyHosts: []string{host}}),
			call: fetchURL(seller.url("/v1/x")), want: wallet.ErrHostNotAllowed, code: wallet.CodeHostNotAllowed,
		},
		{
			name: "over the per-call cap",
			cred: mintCred("capped", bakery.Limits{MaxPerCall: money.Sats(100)}),
			call: pay(money.Sats(100) + 1), want: wallet.ErrOverCallCap, code: wallet.CodeOverCallCap,
			check: func(t *testing.T, e *wallet.Error) {
				if e.Left != money.Sats(100) || e.Limit == "" {
					t.Errorf("limit %q left %s", e.Limit, e.Left)
				}
			},
		},
		{
			name: "over the per-call cap on a fetch",
			cred: mintCred("capped-fetch", bakery.Limits{MaxPerCall: money.Sats(9), Hosts: []string{host}}),
			call: fetchURL(seller.url("/v1/x")), want: wallet.ErrOverCallCap, code: wallet.CodeOverCallCap,
		},
		{
			name: "over the wallet's default cap",
			cred: mintCred("uncapped", bakery.Limits{}),
			call: pay(wallet.DefaultMaxPerCall + 1), want: wallet.ErrOverCallCap, code: wallet.CodeOverCallCap,
		},
		{
			name: "budget exhausted",
			cred: mintCred("budgeted", bakery.Limits{Budgets: budget(50)}),
			// 41 sat + the 10-sat fee limit is 51.
			call: pay(money.Sats(41)), want: wallet.ErrOverBudget, code: wallet.CodeBudgetExhausted,
			check: func(t *testing.T, e *wallet.Error) {
				now := time.Now().UTC()
				midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
				if e.Left != money.Sats(50) || !strings.Contains(e.Limit, "50 sat") || !e.ResetsAt.Equal(midnight) {
					t.Errorf("limit %q left %s resets %s, want 50 sat left until %s", e.Limit, e.Left, e.ResetsAt, midnight)
				}
			},
		},
		{
			name: "frozen",
			cred: func(t *testing.T) string {
				_, _, enc := h.mint(t, "frozen", bakery.Limits{})
				if err := h.ledger.SetFrozen(ctx, true, time.Now()); err != nil {
					t.Fatal(err)
				}
				return enc
			},
			call: pay(money.Sats(1)), want: wallet.ErrFrozen, code: wallet.CodeFrozen,
			after: func(t *testing.T) {
				if err := h.ledger.SetFrozen(ctx, false, time.Now()); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "frozen on a fetch",
			cred: func(t *testing.T) string {
				_, _, enc := h.mint(t, "frozen-fetch", bakery.Limits{Hosts: []string{host}})
				if err := h.ledger.SetFrozen(ctx, true, time.Now()); err != nil {
					t.Fatal(err)
				}
				return enc
			},
			call: fetchURL(seller.url("/frozen/x")), want: wallet.ErrFrozen, code: wallet.CodeFrozen,
			after: func(t *testing.T) {
				if err := h.ledger.SetFrozen(ctx, false, time.Now()); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "pay not granted",
			cred: mintCred("fetch-only", bakery.Limits{Ops: []bakery.Op{bakery.OpFetch}}),
			call: pay(money.Sats(1)), want: wallet.ErrOpNotAllowed, code: wallet.CodeOpNotAllowed,
		},
		{
			name: "fetch not granted",
			cred: mintCred("pay-only", bakery.Limits{Ops: []bakery.Op{bakery.OpPay}}),
			call: fetchURL(seller.url("/v1/x")), want: wallet.ErrOpNotAllowed, code: wallet.CodeOpNotAllowed,
		},
		{
			name: "receive not granted",
			cred: mintCred("no-receive", bakery.Limits{Ops: []bakery.Op{bakery.OpFetch, bakery.OpPay}}),
			call: receive, want: wallet.ErrOpNotAllowed, code: wallet.CodeOpNotAllowed,
		},
		{
			name: "receive narrowed away by the holder",
			cred: func(t *testing.T) string {
				_, mac, _ := h.mint(t, "narrowed", bakery.Limits{})
				m, err := bakery.Attenuate(mac, bakery.Limits{Ops: []bakery.Op{bakery.OpPay}})
				if err != nil {
					t.Fatal(err)
				}
				return encode(t, m)
			},
			call: receive, want: wallet.ErrOpNotAllowed, code: wallet.CodeOpNotAllowed,
		},
		{
			name: "a hosts-limited credential pays a bare invoice",
			cred: mintCred("hosts-limited", bakery.Limits{Hosts: []string{host}}),
			call: pay(money.Sats(1)), want: wallet.ErrOpNotAllowed, code: wallet.CodeOpNotAllowed,
		},
		{
			name: "a deny-hosts credential pays a bare invoice",
			cred: mintCred("deny-limited", bakery.Limits{DenyHosts: []string{"evil.example"}}),
			call: pay(money.Sats(1)), want: wallet.ErrOpNotAllowed, code: wallet.CodeOpNotAllowed,
		},
		{
			name: "invoice without an amount",
			cred: mintCred("no-amount", bakery.Limits{}),
			call: pay(0), want: wallet.ErrInvoiceRefused, code: wallet.CodeInvoiceRefused,
		},
		{
			name: "expired invoice",
			cred: mintCred("expired-invoice", bakery.Limits{}),
			call: func(t *testing.T, c *wallet.Client) error {
				inv, _ := h.node.newInvoiceAt(t, money.Sats(1), time.Now().Add(-2*time.Hour), time.Hour, &chaincfg.RegressionNetParams)
				_, err := c.PayInvoice(t.Context(), wallet.PayRequest{Invoice: inv})
				return err
			},
			want: wallet.ErrInvoiceRefused, code: wallet.CodeInvoiceRefused,
		},
		{
			name: "invoice for another network",
			cred: mintCred("mainnet-invoice", bakery.Limits{}),
			call: func(t *testing.T, c *wallet.Client) error {
				inv, _ := h.node.newInvoiceAt(t, money.Sats(1), time.Now(), time.Hour, &chaincfg.MainNetParams)
				_, err := c.PayInvoice(t.Context(), wallet.PayRequest{Invoice: inv})
				return err
			},
			want: wallet.ErrInvoiceRefused, code: wallet.CodeInvoiceRefused,
		},
		{
			name: "not an invoice",
			cred: mintCred("garbage-invoice", bakery.Limits{}),
			call: func(t *testing.T, c *wallet.Client) error {
				_, err := c.PayInvoice(t.Context(), wallet.PayRequest{Invoice: "lnbcrt1garbage"})
				return err
			},
			want: wallet.ErrInvoiceRefused, code: wallet.CodeInvoiceRefused,
		},
		{
			name: "above the caller's own max price",
			cred: mintCred("own-cap", bakery.Limits{}),
			call: func(t *testing.T, c *wallet.Client) error {
				inv, _ := h.node.newInvoice(t, money.Sats(11))
				_, err := c.PayInvoice(t.Context(), wallet.PayRequest{Invoice: inv, MaxPrice: money.Sats(10)})
				return err
			},
			want: wallet.ErrOverCallCap, code: wallet.CodeOverCallCap,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.node.pays.Load()
			challenges := seller.challenges.Load()
			c := h.client(t, tt.cred(t))
			if tt.after != nil {
				defer tt.after(t)
			}
			err := tt.call(t, c)
			e := wantCode(t, err, tt.want, tt.code)
			if tt.check != nil {
				tt.check(t, e)
			}
			if e.Message == "" {
				t.Error("the refusal has no message")
			}
			h.checkError(t, err)
			if n := h.node.pays.Load() - before; n != 0 {
				t.Errorf("the node was asked to pay %d times", n)
			}
			if n := seller.served.Load(); n != 0 {
				t.Errorf("the seller served %d requests", n)
			}
			if tt.code == wallet.CodeHostNotAllowed || tt.code == wallet.CodeOpNotAllowed {
				if n := seller.challenges.Load() - challenges; n != 0 {
					t.Errorf("a refused fetch reached the seller (%d challenges)", n)
				}
			}
		})
	}
	if reserved := h.entries(t)[wallet.EntryReserved]; len(reserved) != 0 {
		t.Errorf("%d refused payments left reserved", len(reserved))
	}
}

// TestMissingOrGarbageCredential: calls without a usable credential are
// refused with 401 and the invalid-credential code, whatever they carry.
func TestMissingOrGarbageCredential(t *testing.T) {
	h := newHarness(t)
	lndMac, err := macaroon.New(make([]byte, 32), []byte("lnd-macaroon-id"), "lnd", macaroon.V2)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, cred string }{
		{"none", ""},
		{"garbage", "not a credential at all!"},
		{"base64 of nothing useful", "aGVsbG8gd29ybGQ"},
		{"too long", strings.Repeat("A", bakery.MaxEncodedLen+1)},
		{"an lnd macaroon", encode(t, lndMac)},
	}
	for _, tt := range tests {
		for _, path := range []string{"/v1/allowance", "/v1/history", "/v1/fetch"} {
			t.Run(tt.name+path, func(t *testing.T) {
				resp, e := h.raw(t, tt.cred, http.MethodGet, path, nil)
				if e == nil {
					t.Fatalf("answered %d without an error", resp.StatusCode)
				}
				if resp.StatusCode != http.StatusUnauthorized || e.Code != wallet.CodeCredentialInvalid || !errors.Is(e, wallet.ErrCredential) {
					t.Errorf("%d %s %v", resp.StatusCode, e.Code, e)
				}
				if tt.cred != "" && strings.Contains(e.Message, tt.cred) {
					t.Errorf("the error repeats the credential: %q", e.Message)
				}
			})
		}
	}
	// An unknown path says so, and takes no credential first.
	resp, e := h.raw(t, "", http.MethodGet, "/v2/nothing", nil)
	if e == nil || resp.StatusCode != http.StatusNotFound || e.Code != wallet.CodeNotFound {
		t.Errorf("unknown path: %d %+v", resp.StatusCode, e)
	}
}

// TestFetchPaysOnceAndReuses: a fetch through the wallet pays an L402
// seller once, reuses the token, replays a POST body after paying, keeps
// the wallet's headers and credential from the seller, and reports the
// receipt.
func TestFetchPaysOnceAndReuses(t *testing.T) {
	h := newHarness(t)
	seller := newSeller(t, h.node, money.Sats(10))
	_, _, cred := h.mint(t, "fetcher", bakery.Limits{Hosts: []string{"127.0.0.1"}, MaxPerCall: money.Sats(50), Budgets: budget(1000)})
	c := h.client(t, cred)

	// A POST to a fresh scope: 402, paid, replayed with its body.
	body := `{"query":"lightning"}`
	r, err := fetch(t, c, 0, http.MethodPost, seller.url("/v1/search?api_key=querysecret"), body, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK || r.body != "POST /v1/search "+body {
		t.Fatalf("paid POST: %d %q", r.status, r.body)
	}
	if got, _ := seller.lastBody(); got != body {
		t.Errorf("the seller got body %q after payment", got)
	}
	if !r.rec.Paid || r.rec.Amount != money.Sats(10) || r.rec.Fee != 1000 || r.rec.TokenReused || r.rec.PaymentHash == (l402.PaymentHash{}) {
		t.Errorf("receipt of the paid fetch: %+v", r.rec)
	}
	if r.header.Get(wallet.HeaderReceipt) != "" {
		t.Error("the receipt header reached the agent's response")
	}
	e := h.entry(t, r.rec.PaymentHash)
	if e.Status != wallet.EntrySettled || e.Kind != wallet.KindFetch || e.Host != "127.0.0.1" || e.Amount != money.Sats(10) || e.Fee != 1000 {
		t.Errorf("ledger entry of the fetch: %+v", e)
	}
	if strings.Contains(e.URL, "querysecret") {
		t.Errorf("the ledger keeps the query: %s", e.URL)
	}

	// The same scope again: the token is reused, nothing paid.
	r, err = fetch(t, c, 0, http.MethodGet, seller.url("/v1/images"), "", true)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK || r.rec.Paid || !r.rec.TokenReused {
		t.Errorf("second fetch: %d %+v", r.status, r.rec)
	}
	if n := h.node.pays.Load(); n != 1 {
		t.Errorf("node paid %d times, want 1", n)
	}
	if n := seller.challenges.Load(); n != 1 {
		t.Errorf("the seller issued %d challenges, want 1", n)
	}
	seller.checkNoLeak(t, cred)
	h.secret("querysecret")

	// One purchase, one entry.
	if got := len(h.entries(t)[wallet.EntrySettled]); got != 1 {
		t.Errorf("%d settled entries, want 1", got)
	}
	// The caller's own cap, below the price: refused before paying.
	_, err = fetch(t, c, money.Sats(5), http.MethodGet, seller.url("/v2/x"), "", true)
	wantCode(t, err, wallet.ErrOverCallCap, wallet.CodeOverCallCap)
	if n := h.node.pays.Load(); n != 1 {
		t.Errorf("node paid %d times, want 1", n)
	}
}

// TestFetchSellerCannotForgeWalletHeaders: a seller's answer that carries
// the wallet's own headers reaches the agent as the seller's answer, not
// as a wallet error or receipt.
func TestFetchSellerCannotForgeWalletHeaders(t *testing.T) {
	h := newHarness(t)
	seller := newSeller(t, h.node, money.Sats(10))
	seller.forge = true
	_, _, cred := h.mint(t, "forged-headers", bakery.Limits{Hosts: []string{"127.0.0.1"}})
	c := h.client(t, cred)
	r, err := fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", true)
	if err != nil {
		t.Fatalf("a seller's Satloop-Error header became the wallet's error: %v", err)
	}
	if r.status != http.StatusOK || !r.rec.Paid || r.rec.Amount != money.Sats(10) {
		t.Errorf("%d %+v", r.status, r.rec)
	}
	r, err = fetch(t, c, 0, http.MethodGet, seller.url("/v1/y"), "", true)
	if err != nil || r.rec.Paid || r.rec.Amount != 0 || !r.rec.TokenReused {
		t.Errorf("a seller's Satloop-Receipt header became the receipt: %+v %v", r.rec, err)
	}
}

// TestFetchRedirectToAnotherHost: a redirect to a host the credential does
// not allow is returned as it is, and following it is refused.
func TestFetchRedirectToAnotherHost(t *testing.T) {
	h := newHarness(t)
	seller := newSeller(t, h.node, money.Sats(10))
	elsewhere := strings.Replace(seller.url("/elsewhere"), "127.0.0.1", "localhost", 1)
	seller.redirect = elsewhere
	_, _, cred := h.mint(t, "redirected", bakery.Limits{Hosts: []string{"127.0.0.1"}})
	c := h.client(t, cred)

	r, err := fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", false)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusFound || r.header.Get("Location") != elsewhere || !r.rec.Paid {
		t.Fatalf("redirect: %d %q %+v", r.status, r.header.Get("Location"), r.rec)
	}
	requests := len(mustSeen(seller))
	_, err = fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", true)
	wantCode(t, err, wallet.ErrHostNotAllowed, wallet.CodeHostNotAllowed)
	// The token was reused for the first hop, and nothing reached the
	// other host (the same server under another name).
	if got := len(mustSeen(seller)); got != requests+1 {
		t.Errorf("%d requests reached the seller, want %d", got, requests+1)
	}
	if n := h.node.pays.Load(); n != 1 {
		t.Errorf("node paid %d times, want 1", n)
	}
}

func mustSeen(s *l402Seller) []http.Header {
	headers, _ := s.seen()
	return headers
}

// TestClientIsPayer: an agent's own client.Transport pays through the
// wallet with the Client as its Payer, and a refusal reaches it as a final
// failure that spent nothing.
func TestClientIsPayer(t *testing.T) {
	h := newHarness(t)
	seller := newSeller(t, h.node, money.Sats(10))
	_, _, cred := h.mint(t, "payer", bakery.Limits{MaxPerCall: money.Sats(10), Budgets: budget(1000)})
	c := h.client(t, cred)
	store, err := sqlite.OpenBuyerStore(t.Context(), filepath.Join(t.TempDir(), "buyer.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hc := &http.Client{Transport: &client.Transport{Payer: c, Store: store}}
	get := func(url string) (*client.Receipt, error) {
		ctx, rec := client.WithReceipt(t.Context())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return rec, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status %d", resp.StatusCode)
		}
		return rec, nil
	}
	rec, err := get(seller.url("/v1/x"))
	if err != nil || !rec.Paid || rec.Amount != money.Sats(10) || rec.Fee != 1000 {
		t.Fatalf("paid through the wallet: %+v %v", rec, err)
	}
	if e := h.entry(t, rec.PaymentHash); e.Status != wallet.EntrySettled || e.Kind != wallet.KindPay {
		t.Errorf("ledger entry %+v", e)
	}

	seller.setPrice(money.Sats(11))
	_, err = get(seller.url("/v2/x"))
	if !errors.Is(err, wallet.ErrOverCallCap) || !errors.Is(err, client.ErrPaymentFailed) {
		t.Fatalf("a refusal through the Payer: %v", err)
	}
	payments, err := store.Payments(t.Context(), client.PaymentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range payments {
		if p.Status == client.PaymentPending {
			t.Errorf("payment %s left pending after a refusal", p.Hash)
		}
	}
	if n := h.node.pays.Load(); n != 1 {
		t.Errorf("node paid %d times, want 1", n)
	}
}

// TestCreateInvoiceAndHistory: an agent allowed to receive creates
// invoices within bounds; history lists only its own payments.
func TestCreateInvoiceAndHistory(t *testing.T) {
	h := newHarness(t)
	_, _, seller := h.mint(t, "seller", bakery.Limits{Ops: []bakery.Op{bakery.OpReceive}})
	_, _, buyer := h.mint(t, "buyer", bakery.Limits{})
	sc, bc := h.client(t, seller), h.client(t, buyer)
	ctx := t.Context()

	inv, err := sc.CreateInvoice(ctx, wallet.InvoiceRequest{Amount: money.Sats(21), Memo: "coffee", ExpirySeconds: 600})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Amount != money.Sats(21) || inv.Memo != "coffee" || inv.PaymentRequest == "" || hashOf(t, inv.PaymentRequest) != inv.Hash {
		t.Errorf("invoice %+v", inv)
	}
	for _, bad := range []wallet.InvoiceRequest{
		{Amount: 0},
		{Amount: -5},
		{Amount: money.Sats(1), ExpirySeconds: int64((wallet.DefaultMaxInvoiceExpiry + time.Second) / time.Second)},
		{Amount: money.Sats(1), ExpirySeconds: -1},
		{Amount: money.Sats(1), Memo: strings.Repeat("m", 640)},
	} {
		_, err := sc.CreateInvoice(ctx, bad)
		wantCode(t, err, wallet.ErrBadRequest, wallet.CodeBadRequest)
	}

	payreq, pre := h.node.newInvoice(t, money.Sats(3))
	h.secretPreimage(pre)
	if _, err := bc.PayInvoice(ctx, wallet.PayRequest{Invoice: payreq}); err != nil {
		t.Fatal(err)
	}
	mine, err := bc.History(ctx, 10)
	if err != nil || len(mine) != 1 || mine[0].Hash != pre.Hash() {
		t.Fatalf("buyer's history: %+v %v", mine, err)
	}
	theirs, err := sc.History(ctx, 10)
	if err != nil || len(theirs) != 0 {
		t.Errorf("seller's history shows %d payments of another agent (%v)", len(theirs), err)
	}
	raw, err := json.Marshal(mine)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "preimage") {
		t.Errorf("history carries preimages: %s", raw)
	}
}

// TestAllowanceReportsLimits: the allowance lists the credential's limits
// with what is left.
func TestAllowanceReportsLimits(t *testing.T) {
	h := newHarness(t)
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	_, _, cred := h.mint(t, "limited", bakery.Limits{
		ExpiresAt: expires, MaxPerCall: money.Sats(200), Budgets: []bakery.Budget{{Limit: money.Sats(5000), Window: day}, {Limit: money.Sats(20000), Window: bakery.Window{Period: bakery.Month}}},
		Hosts: []string{"api.example.com", "*.example.org"}, Ops: []bakery.Op{bakery.OpFetch},
	})
	a, err := h.client(t, cred).Allowance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if a.Agent != "limited" || !a.ExpiresAt.Equal(expires) || a.MaxPerCall != money.Sats(200) || a.MaxFee != wallet.DefaultMaxFee ||
		len(a.Budgets) != 2 || a.Budgets[0].Left != money.Sats(5000) || a.Budgets[1].Window != "month" ||
		len(a.Hosts) != 1 || len(a.Ops) != 1 || a.Ops[0] != bakery.OpFetch || a.Frozen || a.Network != "regtest" {
		t.Errorf("allowance %+v", a)
	}
}

// TestSocket: the socket is its owner's only, a second daemon on it is
// refused, and a stale one left by a killed daemon is replaced.
func TestSocket(t *testing.T) {
	h := newHarness(t)
	fi, err := os.Stat(h.socket)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("socket mode %o, want 600", mode)
	}
	if err := wallet.Serve(t.Context(), wallet.ServeConfig{Socket: h.socket}, http.NotFoundHandler()); err == nil {
		t.Error("a second daemon was let onto the socket of a running one")
	}
	if _, e := h.raw(t, "", http.MethodGet, "/v1/allowance", nil); e == nil || e.Code != wallet.CodeCredentialInvalid {
		t.Errorf("the first daemon no longer answers: %+v", e)
	}

	stale := filepath.Join(shortDir(t), "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- wallet.Serve(ctx, wallet.ServeConfig{Socket: stale}, http.NotFoundHandler()) }()
	waitForSocket(t, stale)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serving on a stale socket: %v", err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is left behind: %v", err)
	}
	if err := wallet.Serve(t.Context(), wallet.ServeConfig{Socket: filepath.Join(shortDir(t), "tls.sock"), TLSAddr: "0.0.0.0:0"}, http.NotFoundHandler()); err == nil {
		t.Error("a TLS listener off loopback was accepted")
	}
}

// TestDialRefusesBadAddresses: the agent's client needs a wallet address
// it can reach safely.
func TestDialRefusesBadAddresses(t *testing.T) {
	h := newHarness(t)
	_, _, cred := h.mint(t, "dialer", bakery.Limits{})
	for _, addr := range []string{"", "http://127.0.0.1:1", "unix://", "https://127.0.0.1:1"} {
		if _, err := wallet.Dial(bakery.File{Credential: cred}, addr); err == nil {
			t.Errorf("Dial(%q) accepted", addr)
		}
	}
	if _, err := wallet.Dial(bakery.File{Credential: "garbage"}, "unix://"+h.socket); !errors.Is(err, bakery.ErrMalformed) {
		t.Errorf("Dial with a garbage credential: %v", err)
	}
	c, err := wallet.Dial(bakery.File{Credential: cred}, "unix://"+filepath.Join(shortDir(t), "nobody.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Allowance(t.Context()); !errors.Is(err, wallet.ErrDaemonUnreachable) {
		t.Errorf("no daemon: %v", err)
	}
}

// TestFetchFailures: what goes wrong in a fetch reaches the agent with its
// own code, and the ledger holds exactly what was spent.
func TestFetchFailures(t *testing.T) {
	t.Run("seller down", func(t *testing.T) {
		h := newHarness(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, _, cred := h.mint(t, "f", bakery.Limits{})
		_, err = fetch(t, h.client(t, cred), 0, http.MethodGet, "http://"+addr+"/v1/x", "", true)
		wantCode(t, err, wallet.ErrUpstream, wallet.CodeUpstream)
	})
	t.Run("unreadable challenge", func(t *testing.T) {
		h := newHarness(t)
		seller := newSeller(t, h.node, money.Sats(10))
		seller.badChallenge = true
		_, _, cred := h.mint(t, "f", bakery.Limits{})
		_, err := fetch(t, h.client(t, cred), 0, http.MethodGet, seller.url("/v1/x"), "", true)
		wantCode(t, err, wallet.ErrUpstream, wallet.CodeUpstream)
		if n := h.node.pays.Load(); n != 0 {
			t.Errorf("node paid %d times", n)
		}
	})
	t.Run("payment fails", func(t *testing.T) {
		h := newHarness(t)
		seller := newSeller(t, h.node, money.Sats(10))
		h.node.setMode(payFail)
		_, _, cred := h.mint(t, "f", bakery.Limits{Budgets: budget(100)})
		c := h.client(t, cred)
		_, err := fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", true)
		wantCode(t, err, wallet.ErrPaymentFailed, wallet.CodePaymentFailed)
		if released := h.entries(t)[wallet.EntryReleased]; len(released) != 1 {
			t.Errorf("%d released entries, want 1", len(released))
		}
		if used, _ := allowanceUsed(t, c); used != 0 {
			t.Errorf("a failed fetch uses %s", used)
		}
	})
	t.Run("payment in flight", func(t *testing.T) {
		h := newHarness(t)
		seller := newSeller(t, h.node, money.Sats(10))
		h.node.setMode(payInFlight)
		_, _, cred := h.mint(t, "f", bakery.Limits{Budgets: budget(100)})
		c := h.client(t, cred)
		_, err := fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", true)
		wantCode(t, err, wallet.ErrInFlight, wallet.CodeInFlight)
		reserved := h.entries(t)[wallet.EntryReserved]
		if len(reserved) != 1 {
			t.Fatalf("%d reserved entries, want 1", len(reserved))
		}
		if used, _ := allowanceUsed(t, c); used != money.Sats(20) {
			t.Errorf("an in-flight fetch uses %s, want 20 sat", used)
		}
		// Asked again meanwhile: not paid again.
		_, err = fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", true)
		wantCode(t, err, wallet.ErrInFlight, wallet.CodeInFlight)
		h.node.complete(reserved[0].Hash, true)
		h.waitStatus(t, reserved[0].Hash, wallet.EntrySettled)
		// Once paid, the token bought is used.
		r, err := fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", true)
		if err != nil || r.status != http.StatusOK || r.rec.Paid {
			t.Errorf("after the payment ended: %+v %v", r, err)
		}
		if n := h.node.pays.Load(); n != 1 {
			t.Errorf("node paid %d times, want 1", n)
		}
	})
	t.Run("paid but refused", func(t *testing.T) {
		h := newHarness(t)
		seller := newSeller(t, h.node, money.Sats(10))
		seller.refusePaid = true
		_, _, cred := h.mint(t, "f", bakery.Limits{Budgets: budget(100)})
		c := h.client(t, cred)
		r, err := fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", true)
		we := wantCode(t, err, client.ErrPaidButRefused, wallet.CodePaidButRefused)
		if we.Receipt == nil || !r.rec.Paid || r.rec.Amount != money.Sats(10) || r.rec.PaymentHash == (l402.PaymentHash{}) {
			t.Fatalf("the agent's receipt: %+v (error's %+v)", r.rec, we.Receipt)
		}
		if e := h.entry(t, r.rec.PaymentHash); e.Status != wallet.EntrySettled {
			t.Errorf("paid and refused: entry %s", e.Status)
		}
		_, err = fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", true)
		wantCode(t, err, client.ErrSellerRefusedPaid, wallet.CodeSellerRefusedPaid)
		if n := h.node.pays.Load(); n != 1 {
			t.Errorf("node paid %d times, want 1", n)
		}
	})
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir and
// returns their paths and the certificate's PEM.
func selfSigned(t *testing.T, dir string) (certPath, keyPath, certPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "satloop wallet test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	certPath, keyPath = filepath.Join(dir, "tls.cert"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certPath, []byte(certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath, certPEM
}

// TestHTTPSWalletRedirectKeepsCredential: through a wallet on TLS, a
// seller's redirect to a host of its choosing never receives the agent's
// credential, whether the agent follows redirects or not.
func TestHTTPSWalletRedirectKeepsCredential(t *testing.T) {
	h := newHarness(t)
	certPath, keyPath, certPEM := selfSigned(t, h.dir)
	addrc := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- wallet.Serve(ctx, wallet.ServeConfig{
			Socket: filepath.Join(h.dir, "tls-side.sock"), TLSAddr: "127.0.0.1:0", TLSCert: certPath, TLSKey: keyPath,
			Ready: func(addr string) { addrc <- addr },
		}, h.wallet.Handler())
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}

	var thiefHits atomic.Int32
	var thiefSaw atomic.Value
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		thiefHits.Add(1)
		b, _ := json.Marshal(r.Header)
		thiefSaw.Store(string(b))
		io.WriteString(w, "stolen")
	}))
	defer thief.Close()
	seller := newSeller(t, h.node, money.Sats(10))
	seller.redirect = strings.Replace(thief.URL, "127.0.0.1", "localhost", 1) + "/steal"

	_, _, cred := h.mint(t, "tls-agent", bakery.Limits{Hosts: []string{"127.0.0.1"}})
	c, err := wallet.Dial(bakery.File{Credential: cred, WalletCert: certPEM}, "https://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	checkThief := func() {
		t.Helper()
		if n := thiefHits.Load(); n != 0 {
			saw, _ := thiefSaw.Load().(string)
			t.Fatalf("the redirect target was called %d times; the credential sent to it: %v", n, strings.Contains(saw, cred))
		}
	}
	r, err := fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", false)
	checkThief()
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusFound || !r.rec.Paid {
		t.Errorf("redirect answer: %d %+v", r.status, r.rec)
	}
	_, err = fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", true)
	checkThief()
	wantCode(t, err, wallet.ErrHostNotAllowed, wallet.CodeHostNotAllowed)
}

// TestFetchUpperCaseInvoice: a seller whose invoice is in upper case (as
// bech32 allows, and QR codes carry it) is paid like any other.
func TestFetchUpperCaseInvoice(t *testing.T) {
	h := newHarness(t)
	seller := newSeller(t, h.node, money.Sats(10))
	seller.upper = true
	_, _, cred := h.mint(t, "upper", bakery.Limits{Hosts: []string{"127.0.0.1"}, Budgets: budget(100)})
	c := h.client(t, cred)
	r, err := fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", true)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK || !r.rec.Paid {
		t.Errorf("%d %+v", r.status, r.rec)
	}
	if e := h.entry(t, r.rec.PaymentHash); e.Status != wallet.EntrySettled {
		t.Errorf("entry %+v", e)
	}
	// Paying the upper-case invoice directly works too.
	inv, pre := h.node.newInvoice(t, money.Sats(3))
	_, _, payCred := h.mint(t, "upper-pay", bakery.Limits{Budgets: budget(100)})
	res, err := h.client(t, payCred).PayInvoice(t.Context(), wallet.PayRequest{Invoice: strings.ToUpper(inv)})
	if err != nil || res.Preimage != pre {
		t.Errorf("an upper-case invoice: %v", err)
	}
}

// TestFetchBodyTooLarge: a body over what the wallet forwards is the
// agent's mistake, said so, not an internal error.
func TestFetchBodyTooLarge(t *testing.T) {
	h := newHarness(t)
	seller := newSeller(t, h.node, money.Sats(10))
	_, _, cred := h.mint(t, "big", bakery.Limits{})
	c := h.client(t, cred)
	_, err := fetch(t, c, 0, http.MethodPost, seller.url("/v1/x"), strings.Repeat("x", 9<<20), true)
	wantCode(t, err, wallet.ErrBadRequest, wallet.CodeBadRequest)
	if n := h.node.pays.Load(); n != 0 {
		t.Errorf("node paid %d times", n)
	}
}
