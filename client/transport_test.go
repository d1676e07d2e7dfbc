package client_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

func TestPaysOnceThenReusesToken(t *testing.T) {
	s := newTestSeller(t)
	b := newBuyer(t, s)

	status, body, rec, err := b.get(t, s.url("/v1/search?q=1"))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK || body != "GET /v1/search " {
		t.Fatalf("paid request: %d %q", status, body)
	}
	if !rec.Paid || rec.Amount != money.Sats(10) || rec.Fee != 1000 || rec.TokenReused || rec.Quote == nil ||
		rec.PaymentHash != rec.Quote.PaymentHash || rec.Quote.Description != "test resource" {
		t.Errorf("receipt of the paid request: %+v", rec)
	}
	if rec.URL != s.url("/v1/search") {
		t.Errorf("receipt URL %q keeps the query", rec.URL)
	}
	b.assertPaid(t, 1)
	if n := s.challenges.Load(); n != 1 {
		t.Errorf("the first call drew %d challenges, want 1 (lnget draws 2)", n)
	}

	// Same directory: reused, no payment, no challenge.
	status, _, rec, err = b.get(t, s.url("/v1/images"))
	if err != nil || status != http.StatusOK {
		t.Fatalf("second request: %d %v", status, err)
	}
	if rec.Paid || !rec.TokenReused || rec.Amount != 0 || rec.Quote != nil {
		t.Errorf("receipt of the reusing request: %+v", rec)
	}
	b.assertPaid(t, 1)

	// The token was stored where the CLI lists it.
	toks, err := b.store.Tokens(t.Context())
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens: %d %v", len(toks), err)
	}
	if toks[0].Scope != "/v1/" || toks[0].Price != money.Sats(10) || toks[0].Fee != 1000 || toks[0].ValidUntil.IsZero() {
		t.Errorf("stored token: %+v", toks[0])
	}

	// A new Transport on the same store (the next run of the CLI) reuses
	// it too.
	b2 := &buyer{seller: s, payer: b.payer, store: b.store, tr: &client.Transport{Payer: b.payer, Store: b.store}}
	b2.client = &http.Client{Transport: b2.tr}
	if _, _, rec, err := b2.get(t, s.url("/v1/x")); err != nil || !rec.TokenReused {
		t.Errorf("next run: reused=%v err=%v", rec.TokenReused, err)
	}

	// Another directory is another scope: a new purchase.
	if _, _, rec, err := b.get(t, s.url("/v2/search")); err != nil || !rec.Paid {
		t.Fatalf("other scope: paid=%v err=%v", rec.Paid, err)
	}
	b.assertPaid(t, 2)
}

// TestRefusesWithoutPaying: every challenge that must not be paid is
// refused with its reason, and nothing is paid: not by the payer, not in
// the spend log.
func TestRefusesWithoutPaying(t *testing.T) {
	errBudget := errors.New("budget spent")
	tests := []struct {
		name   string
		seller func(*testSeller)
		policy client.Policy
		reason error
		also   error
	}{
		{name: "amount absent", seller: func(s *testSeller) { s.price = 0 }, reason: client.ErrNoAmount},
		{name: "amount over the default cap", seller: func(s *testSeller) { s.price = money.Sats(1001) }, reason: client.ErrPriceTooHigh},
		{name: "amount over the cap", policy: client.Policy{MaxPrice: money.Sats(9)}, reason: client.ErrPriceTooHigh},
		{name: "a msat over the cap", seller: func(s *testSeller) { s.price = money.Sats(9) + 1 }, policy: client.Policy{MaxPrice: money.Sats(9)}, reason: client.ErrPriceTooHigh},
		{name: "wrong network", seller: func(s *testSeller) { s.net = &chaincfg.TestNet3Params }, reason: client.ErrWrongNetwork, also: lightning.ErrWrongNetwork},
		{name: "mainnet invoice", seller: func(s *testSeller) { s.net = &chaincfg.MainNetParams }, reason: client.ErrWrongNetwork},
		{name: "expired invoice", seller: func(s *testSeller) { s.expired = true }, reason: client.ErrInvoiceExpired},
		{name: "hash mismatch", seller: func(s *testSeller) { s.mismatch = true }, reason: client.ErrHashMismatch},
		{name: "quote only", policy: client.Policy{QuoteOnly: true}, reason: client.ErrQuoteOnly},
		{name: "approve refuses", policy: client.Policy{Approve: func(context.Context, client.Quote) error { return errBudget }}, reason: client.ErrNotApproved, also: errBudget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSeller(t)
			if tt.seller != nil {
				tt.seller(s)
			}
			b := newBuyer(t, s)
			b.tr.Policy = tt.policy
			_, _, rec, err := b.get(t, s.url("/v1/thing"))
			if !errors.Is(err, tt.reason) {
				t.Fatalf("error %v, want %v", err, tt.reason)
			}
			if tt.also != nil && !errors.Is(err, tt.also) {
				t.Errorf("error %v does not wrap %v", err, tt.also)
			}
			var refused *client.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("error %T is not a *RefusedError", err)
			}
			if refused.Quote.URL != s.url("/v1/thing") || refused.Quote.Origin == "" || refused.Quote.Invoice == "" {
				t.Errorf("quote in the refusal: %+v", refused.Quote)
			}
			if rec.Quote == nil || rec.Paid {
				t.Errorf("receipt: %+v", rec)
			}
			b.assertPaid(t, 0)
			if pending, _ := b.store.PendingPayments(t.Context()); len(pending) != 0 {
				t.Errorf("%d pending payments recorded for a refusal", len(pending))
			}
		})
	}
}

func TestQuoteOnlyShowsThePrice(t *testing.T) {
	s := newTestSeller(t)
	b := newBuyer(t, s)
	b.tr.Policy.QuoteOnly = true
	_, _, _, err := b.get(t, s.url("/v1/thing"))
	var refused *client.RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, client.ErrQuoteOnly) {
		t.Fatalf("quote: %v", err)
	}
	q := refused.Quote
	if !q.HasAmount || q.Price != money.Sats(10) || q.Description != "test resource" || q.ExpiresAt.IsZero() ||
		q.Network != lightning.Regtest || q.PaymentHash != q.TokenPaymentHash || q.Host != strings.TrimPrefix(s.srv.URL, "http://") {
		t.Errorf("quote: %+v", q)
	}
	b.assertPaid(t, 0)
}

func TestApproveSeesQuoteAndAllows(t *testing.T) {
	s := newTestSeller(t)
	b := newBuyer(t, s)
	var seen []client.Quote
	b.tr.Policy.Approve = func(_ context.Context, q client.Quote) error {
		seen = append(seen, q)
		return nil
	}
	if _, _, _, err := b.get(t, s.url("/a")); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := b.get(t, s.url("/b")); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].Price != money.Sats(10) {
		t.Errorf("Approve saw %d quotes, want 1 (the reuse is free): %+v", len(seen), seen)
	}
	b.assertPaid(t, 1)
}

func TestBodyTooLargeWithoutGetBodyRefusedBeforePaying(t *testing.T) {
	s := newTestSeller(t)
	b := newBuyer(t, s)
	b.tr.Policy.MaxBodyBuffer = 16
	payload := strings.Repeat("x", 100)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url("/v1/upload"), io.NopCloser(strings.NewReader(payload)))
	req.GetBody = nil
	body := &closeCounter{Reader: strings.NewReader(payload)}
	req.Body = body
	_, _, _, err := b.do(t, req)
	if !errors.Is(err, client.ErrBodyNotReplayable) {
		t.Fatalf("error %v, want ErrBodyNotReplayable", err)
	}
	b.assertPaid(t, 0)
	if n := body.closed.Load(); n != 1 {
		t.Errorf("request body closed %d times, want 1", n)
	}
}

// closeCounter is a request body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

func TestPostBodyArrivesIntactOnPaidRetry(t *testing.T) {
	payload := strings.Repeat("the body of a paid POST\n", 1000)
	for _, withGetBody := range []bool{true, false} {
		name := map[bool]string{true: "with GetBody", false: "without GetBody"}[withGetBody]
		t.Run(name, func(t *testing.T) {
			s := newTestSeller(t)
			b := newBuyer(t, s)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url("/v1/upload"), strings.NewReader(payload))
			var cc *closeCounter
			if !withGetBody {
				cc = &closeCounter{Reader: strings.NewReader(payload)}
				req.Body, req.GetBody = cc, nil
			}
			status, body, rec, err := b.do(t, req)
			if err != nil || status != http.StatusOK {
				t.Fatalf("%d %v", status, err)
			}
			if !rec.Paid || body != "POST /v1/upload "+payload {
				t.Errorf("paid=%v, body of %d bytes", rec.Paid, len(body))
			}
			if got, _ := s.lastBody.Load().(string); got != payload {
				t.Errorf("server got %d bytes, want %d", len(got), len(payload))
			}
			if cc != nil && cc.closed.Load() != 1 {
				t.Errorf("request body closed %d times, want 1", cc.closed.Load())
			}
			b.assertPaid(t, 1)
		})
	}
}

func TestPaidButRefusedIsReportedNotRepaid(t *testing.T) {
	s := newTestSeller(t)
	s.refusePaid.Store(true)
	b := newBuyer(t, s)
	_, _, rec, err := b.get(t, s.url("/v1/thing"))
	var pbr *client.PaidButRefusedError
	if !errors.As(err, &pbr) || !errors.Is(err, client.ErrPaidButRefused) {
		t.Fatalf("error %v, want *PaidButRefusedError", err)
	}
	if pbr.StatusCode != http.StatusPaymentRequired || !pbr.Receipt.Paid || pbr.Receipt.Amount != money.Sats(10) ||
		pbr.Receipt.PaymentHash == (l402.PaymentHash{}) {
		t.Errorf("error: %+v", pbr)
	}
	if !rec.Paid {
		t.Error("the receipt does not show the payment")
	}
	b.assertPaid(t, 1)
	if n := s.challenges.Load(); n != 2 {
		t.Errorf("%d challenges, want 2 (the first, and the refusal of the paid retry)", n)
	}
}

func TestRejectedTokenBuysOnceAgain(t *testing.T) {
	s := newTestSeller(t)
	b := newBuyer(t, s)
	if _, _, _, err := b.get(t, s.url("/v1/a")); err != nil {
		t.Fatal(err)
	}
	old, err := b.store.Tokens(t.Context())
	if err != nil || len(old) != 1 {
		t.Fatal(len(old), err)
	}
	s.reject401.Store(1)
	status, _, rec, err := b.get(t, s.url("/v1/a"))
	if err != nil || status != http.StatusOK {
		t.Fatalf("after a 401: %d %v", status, err)
	}
	if !rec.Paid || rec.TokenReused {
		t.Errorf("receipt after a rejected token: %+v", rec)
	}
	b.assertPaid(t, 2)
	toks, _ := b.store.Tokens(t.Context())
	if len(toks) != 1 || toks[0].ID == old[0].ID {
		t.Errorf("the rejected token was not replaced")
	}
	if _, _, rec, err := b.get(t, s.url("/v1/a")); err != nil || !rec.TokenReused {
		t.Errorf("the new token is not reused: %v %+v", err, rec)
	}
	b.assertPaid(t, 2)
}

func TestRevokedTokenAnswered402BuysOnceAgain(t *testing.T) {
	s := newTestSeller(t)
	b := newBuyer(t, s)
	if _, _, _, err := b.get(t, s.url("/v1/a")); err != nil {
		t.Fatal(err)
	}
	toks, _ := b.store.Tokens(t.Context())
	mac, err := readMacaroon(toks[0].Macaroon)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := l402.DecodeIdentifier(mac.Id())
	s.keys.Revoke(id) // Aperture answers a revoked token with a fresh 402
	challenges := s.challenges.Load()
	if _, _, rec, err := b.get(t, s.url("/v1/a")); err != nil || !rec.Paid {
		t.Fatalf("after a 402 to a held token: %v %+v", err, rec)
	}
	if got := s.challenges.Load() - challenges; got != 1 {
		t.Errorf("%d challenges to replace a revoked token, want 1 (the 402 to the old token is the challenge)", got)
	}
	b.assertPaid(t, 2)
}

func TestExpiredTokenIsNotSent(t *testing.T) {
	s := newTestSeller(t)
	s.validFor = 10 * time.Minute
	b := newBuyer(t, s)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	b.tr.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	if _, _, _, err := b.get(t, s.url("/v1/a")); err != nil {
		t.Fatal(err)
	}
	if _, _, rec, err := b.get(t, s.url("/v1/a")); err != nil || !rec.TokenReused {
		t.Fatalf("reuse within validity: %v %+v", err, rec)
	}
	sent := s.withCred.Load()
	// The buyer's clock passes the token's api_valid_until (10 min) but
	// not the invoices' expiry (1 h); the seller's clock passes neither, so
	// a token sent now would be served free.
	clock.Add(int64(30 * time.Minute))
	_, _, rec, err := b.get(t, s.url("/v1/a"))
	if err != nil || !rec.Paid || rec.TokenReused {
		t.Fatalf("after expiry: %v %+v", err, rec)
	}
	if got := s.withCred.Load() - sent; got != 1 {
		t.Errorf("%d requests carried a credential after expiry, want 1 (the paid retry)", got)
	}
	b.assertPaid(t, 2)
}

func TestRedirectToAnotherHostCarriesNoToken(t *testing.T) {
	var gotAuth atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Values("Authorization"))
		io.WriteString(w, "elsewhere")
	}))
	defer other.Close()
	s := newTestSeller(t)
	// Same host name, another port: another origin all the same.
	s.redirect = other.URL + "/v1/landing"
	b := newBuyer(t, s)
	status, body, rec, err := b.get(t, s.url("/v1/go"))
	if err != nil || status != http.StatusOK || body != "elsewhere" {
		t.Fatalf("%d %q %v", status, body, err)
	}
	if !rec.Paid {
		t.Error("the first hop was not paid")
	}
	if v, _ := gotAuth.Load().([]string); len(v) != 0 {
		t.Errorf("the other origin received Authorization %d times", len(v))
	}
	b.assertPaid(t, 1)
}

func TestCallerAuthorizationIsLeftAlone(t *testing.T) {
	s := newTestSeller(t)
	b := newBuyer(t, s)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url("/v1/a"), nil)
	req.Header.Set("Authorization", "Bearer the-callers-own")
	status, _, _, err := b.do(t, req)
	if err != nil || status != http.StatusPaymentRequired {
		t.Fatalf("%d %v, want the 402 as is", status, err)
	}
	b.assertPaid(t, 0)
}

func TestPlain402IsPassedThrough(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Payment realm="x"`)
		http.Error(w, "pay another way", http.StatusPaymentRequired)
	}))
	defer srv.Close()
	b := newBuyer(t, newTestSeller(t))
	status, body, _, err := b.get(t, srv.URL+"/")
	if err != nil || status != http.StatusPaymentRequired || !strings.Contains(body, "another way") {
		t.Fatalf("%d %q %v", status, body, err)
	}
	b.assertPaid(t, 0)
}

func TestStalledServerTimesOut(t *testing.T) {
	s := newTestSeller(t)
	s.stall = true
	b := newBuyer(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url("/v1/a"), nil)
	start := time.Now()
	_, _, _, err := b.do(t, req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
	b.assertPaid(t, 0)
}

func TestOversizedChallengeRefused(t *testing.T) {
	s := newTestSeller(t)
	s.hugeChallenge = true
	b := newBuyer(t, s)
	_, _, _, err := b.get(t, s.url("/v1/a"))
	if !errors.Is(err, client.ErrChallenge) {
		t.Fatalf("error %v, want ErrChallenge", err)
	}
	b.assertPaid(t, 0)
}

func TestPaymentFailureRecorded(t *testing.T) {
	s := newTestSeller(t)
	b := newBuyer(t, s)
	b.payer.payErr = &lightning.PaymentError{Payment: lightning.Payment{Status: lightning.PaymentFailed, Failure: lightning.FailureNoRoute}}
	_, _, _, err := b.get(t, s.url("/v1/a"))
	if !errors.Is(err, client.ErrPaymentFailed) || !errors.Is(err, lightning.ErrNoRoute) {
		t.Fatalf("error %v, want ErrPaymentFailed wrapping ErrNoRoute", err)
	}
	all, _ := b.store.Payments(t.Context(), client.PaymentQuery{})
	if len(all) != 1 || all[0].Status != client.PaymentFailed || all[0].Error == "" || all[0].FinishedAt.IsZero() {
		t.Errorf("spend log: %+v", all)
	}
	if toks, _ := b.store.Tokens(t.Context()); len(toks) != 0 {
		t.Error("a failed payment stored a token")
	}
}

func TestConcurrentRequestsPayOnce(t *testing.T) {
	s := newTestSeller(t)
	s.payDelay = 100 * time.Millisecond
	b := newBuyer(t, s)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 32 {
		wg.Go(func() {
			status, _, _, err := b.get(t, s.url("/v1/hot"))
			if err != nil || status != http.StatusOK {
				failed.Add(1)
				t.Errorf("%d %v", status, err)
			}
		})
	}
	wg.Wait()
	b.assertPaid(t, 1)
	if n := s.paidHashes.Load(); n != 1 {
		t.Errorf("the seller saw %d invoices paid, want 1", n)
	}
	if n := s.served.Load(); n != 32 {
		t.Errorf("served %d, want 32", n)
	}
}

// TestNoSecretsInLogs: the Authorization header, preimages and macaroons
// never reach the logger, even at debug level.
func TestNoSecretsInLogs(t *testing.T) {
	s := newTestSeller(t)
	b := newBuyer(t, s)
	var logs bytes.Buffer
	b.tr.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.reject401.Store(0)
	for _, p := range []string{"/v1/a", "/v1/b"} {
		if _, _, _, err := b.get(t, s.url(p)); err != nil {
			t.Fatal(err)
		}
	}
	s.reject401.Store(1)
	if _, _, _, err := b.get(t, s.url("/v1/c")); err != nil {
		t.Fatal(err)
	}
	if logs.Len() == 0 {
		t.Fatal("nothing logged")
	}
	toks, _ := b.store.Tokens(t.Context())
	all, _ := b.store.Payments(t.Context(), client.PaymentQuery{})
	for _, tok := range toks {
		for _, secret := range []string{tok.Preimage.Hex(), base64.StdEncoding.EncodeToString(tok.Macaroon), base64.RawURLEncoding.EncodeToString(tok.Macaroon)} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a secret reached the log")
			}
		}
	}
	if strings.Contains(logs.String(), "L402 ") || len(all) != 2 {
		t.Errorf("log mentions an Authorization value, or %d payments", len(all))
	}
}

// countingStore counts the token lookups that reach the Store.
type countingStore struct {
	client.Store
	lookups atomic.Int32
}

func (c *countingStore) Token(ctx context.Context, origin, scope string) (client.Token, error) {
	c.lookups.Add(1)
	return c.Store.Token(ctx, origin, scope)
}

// TestCachedPathsSkipTheStore: neither a held token nor a free resource
// costs a database round trip per request.
func TestCachedPathsSkipTheStore(t *testing.T) {
	s := newTestSeller(t)
	b := newBuyer(t, s)
	cs := &countingStore{Store: b.store}
	b.tr.Store = cs
	for range 10 {
		if status, body, _, err := b.get(t, s.url("/free/x")); err != nil || status != http.StatusOK || body != "free" {
			t.Fatalf("%d %q %v", status, body, err)
		}
	}
	if n := cs.lookups.Load(); n != 1 {
		t.Errorf("10 free requests made %d token lookups, want 1", n)
	}
	if _, _, _, err := b.get(t, s.url("/paid/x")); err != nil {
		t.Fatal(err)
	}
	before := cs.lookups.Load()
	for range 10 {
		if _, _, rec, err := b.get(t, s.url("/paid/y")); err != nil || !rec.TokenReused {
			t.Fatalf("%v %+v", err, rec)
		}
	}
	if n := cs.lookups.Load() - before; n != 0 {
		t.Errorf("10 requests with a held token made %d token lookups, want 0", n)
	}
}

// TestTokenBoughtByAnotherTransportIsUsed: a Transport that remembers
// having no token for a scope still finds the one another process bought,
// on the next 402, instead of paying again.
func TestTokenBoughtByAnotherTransportIsUsed(t *testing.T) {
	s := newTestSeller(t)
	a := newBuyer(t, s)
	// A quote leaves a remembering that /v2/ has no token.
	a.tr.Policy.QuoteOnly = true
	if _, _, _, err := a.get(t, s.url("/v2/x")); !errors.Is(err, client.ErrQuoteOnly) {
		t.Fatal(err)
	}
	a.tr.Policy.QuoteOnly = false

	other := &http.Client{Transport: &client.Transport{Payer: a.payer, Store: a.store}}
	resp, err := other.Get(s.url("/v2/x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a.assertPaid(t, 1)

	_, _, rec, err := a.get(t, s.url("/v2/y"))
	if err != nil || rec.Paid {
		t.Fatalf("%v %+v", err, rec)
	}
	a.assertPaid(t, 1)
}

func TestPayRequestCarriesPolicy(t *testing.T) {
	for _, tt := range []struct {
		policy  client.Policy
		fee     money.MilliSat
		timeout time.Duration
	}{
		{client.Policy{}, client.DefaultMaxFee, client.DefaultPayTimeout},
		{client.Policy{MaxFee: money.Sats(2), PayTimeout: 7 * time.Second}, money.Sats(2), 7 * time.Second},
	} {
		s := newTestSeller(t)
		b := newBuyer(t, s)
		b.tr.Policy = tt.policy
		if _, _, _, err := b.get(t, s.url("/v1/a")); err != nil {
			t.Fatal(err)
		}
		req := b.payer.last.Load().(lightning.PayRequest)
		if req.MaxFee != tt.fee || req.Timeout != tt.timeout || req.Invoice == "" {
			t.Errorf("policy %+v: PayRequest fee %s timeout %s", tt.policy, req.MaxFee, req.Timeout)
		}
	}
}

// TestStallAfterPayingKeepsToken: a server that takes the money and then
// stalls costs the caller its timeout, not a second payment: the token is
// stored before the retry, and the next call uses it.
func TestStallAfterPayingKeepsToken(t *testing.T) {
	s := newTestSeller(t)
	s.stallPaid.Store(true)
	b := newBuyer(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url("/v1/a"), nil)
	_, _, rec, err := b.do(t, req)
	if !errors.Is(err, context.DeadlineExceeded) || !rec.Paid {
		t.Fatalf("error %v, paid %v: want a deadline after paying", err, rec.Paid)
	}
	b.assertPaid(t, 1)
	s.stallPaid.Store(false)
	if _, _, rec, err := b.get(t, s.url("/v1/a")); err != nil || !rec.TokenReused || rec.Paid {
		t.Fatalf("next call: %v %+v", err, rec)
	}
	b.assertPaid(t, 1)
}

// TestCachedTokenRefusedReplaysBody: a request sent on the cached-token
// path whose served token is now rejected goes on to one new purchase,
// its body sent again intact, and the caller's request is left as it was.
func TestCachedTokenRefusedReplaysBody(t *testing.T) {
	for _, tt := range []struct {
		name string
		body func(string) io.Reader
	}{
		{"with GetBody", func(s string) io.Reader { return strings.NewReader(s) }},
		{"without GetBody", func(s string) io.Reader { return io.NopCloser(strings.NewReader(s)) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSeller(t)
			b := newBuyer(t, s)
			if _, _, _, err := b.get(t, s.url("/v1/a")); err != nil {
				t.Fatal(err)
			}
			if _, _, rec, err := b.get(t, s.url("/v1/a")); err != nil || !rec.TokenReused {
				t.Fatalf("reuse: %v %+v", err, rec)
			}
			s.reject401.Store(1)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url("/v1/post"), tt.body("the body"))
			req.Header.Set("X-Caller", "1")
			status, body, rec, err := b.do(t, req)
			if err != nil || status != http.StatusOK || body != "POST /v1/post the body" || !rec.Paid {
				t.Fatalf("%d %q %v %+v", status, body, err, rec)
			}
			if len(req.Header) != 1 || req.Header.Get("Authorization") != "" {
				t.Errorf("the caller's request was modified: %v", req.Header)
			}
			b.assertPaid(t, 2)
		})
	}
}
