package client_test

import (
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// wantSellerRefused checks that err is a *SellerRefusedError naming tok.
func wantSellerRefused(t *testing.T, err error, tok l402.TokenID, status int) *client.SellerRefusedError {
	t.Helper()
	var sre *client.SellerRefusedError
	if !errors.As(err, &sre) || !errors.Is(err, client.ErrSellerRefusedPaid) {
		t.Fatalf("error %v, want *SellerRefusedError", err)
	}
	if sre.TokenID != tok || sre.StatusCode != status || sre.Price != money.Sats(10) || sre.RefusedAt.IsZero() ||
		sre.PaymentHash == (l402.PaymentHash{}) || sre.Scope != "/v1/" || sre.Host == "" {
		t.Errorf("error fields: %+v, want token %s status %d", sre, tok, status)
	}
	return sre
}

// storedToken returns the one token in s.
func storedToken(t *testing.T, s client.Store) client.Token {
	t.Helper()
	toks, err := s.Tokens(t.Context())
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens: %d %v, want 1", len(toks), err)
	}
	return toks[0]
}

// TestSellerThatRefusesAfterPaymentIsPaidOnce: a seller that takes the
// money and then refuses is paid by the first request only; the next
// ones, in this Transport or a new one on the same file (the next run of
// the CLI), pay nothing and name the token to delete; deleting it allows
// exactly one purchase again.
func TestSellerThatRefusesAfterPaymentIsPaidOnce(t *testing.T) {
	s := newTestSeller(t)
	s.refusePaid.Store(true)
	db := filepath.Join(t.TempDir(), "buyer.db")
	b := newBuyer(t, s)
	b.store = openStore(t, db)
	b.tr.Store = b.store

	_, _, rec, err := b.get(t, s.url("/v1/a"))
	var pbr *client.PaidButRefusedError
	if !errors.As(err, &pbr) {
		t.Fatalf("request 1: %v, want *PaidButRefusedError", err)
	}
	tok := storedToken(t, b.store)
	if !tok.Refused() || !tok.AcceptedAt.IsZero() || pbr.Receipt.TokenID != tok.ID || rec.TokenID != tok.ID {
		t.Fatalf("after request 1: token %+v, error names %s", tok, pbr.Receipt.TokenID)
	}
	b.assertPaid(t, 1)

	// Requests 2 and 3 through the same Transport, 4 and 5 through a new
	// Transport and store handle on the same file.
	next := &client.Transport{Payer: b.payer, Store: openStore(t, db)}
	clients := []*http.Client{b.client, b.client, {Transport: next}, {Transport: next}}
	for i, c := range clients {
		withCred := s.withCred.Load()
		_, _, rec, err := (&buyer{client: c}).get(t, s.url("/v1/b"))
		wantSellerRefused(t, err, tok.ID, http.StatusPaymentRequired)
		if rec.Paid || rec.TokenID != tok.ID {
			t.Errorf("request %d: receipt %+v", i+2, rec)
		}
		if n := s.withCred.Load() - withCred; n != 1 {
			t.Errorf("request %d presented the refused token %d times, want 1", i+2, n)
		}
	}
	b.assertPaid(t, 1)
	if got := storedToken(t, b.store); got.ID != tok.ID || !got.RefusedAt.Equal(tok.RefusedAt) {
		t.Errorf("the refused token changed: %+v", got)
	}

	// The user deletes it: the next request buys once again.
	if err := b.store.DeleteToken(t.Context(), tok.ID); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = (&buyer{client: clients[2]}).get(t, s.url("/v1/c"))
	if !errors.As(err, &pbr) {
		t.Fatalf("after deleting the token: %v, want *PaidButRefusedError", err)
	}
	b.assertPaid(t, 2)
	if got := storedToken(t, b.store); got.ID == tok.ID || !got.Refused() {
		t.Errorf("the new token is not marked refused: %+v", got)
	}
	if _, _, _, err := b.get(t, s.url("/v1/d")); !errors.Is(err, client.ErrSellerRefusedPaid) {
		t.Errorf("after the second purchase: %v, want ErrSellerRefusedPaid", err)
	}
	b.assertPaid(t, 2)
}

// TestRefusedTokenExpiredStillBlocksTheScope: once the refused token has
// expired it is no longer sent, and a 402 to its scope is still not paid.
func TestRefusedTokenExpiredStillBlocksTheScope(t *testing.T) {
	s := newTestSeller(t)
	s.refusePaid.Store(true)
	s.validFor = 10 * time.Minute
	b := newBuyer(t, s)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	b.tr.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	if _, _, _, err := b.get(t, s.url("/v1/a")); !errors.Is(err, client.ErrPaidButRefused) {
		t.Fatalf("request 1: %v", err)
	}
	tok := storedToken(t, b.store)
	clock.Add(int64(30 * time.Minute))
	for _, tr := range []*client.Transport{b.tr, {Payer: b.payer, Store: b.store, Now: b.tr.Now}} {
		withCred := s.withCred.Load()
		_, _, _, err := (&buyer{client: &http.Client{Transport: tr}}).get(t, s.url("/v1/a"))
		wantSellerRefused(t, err, tok.ID, 0)
		if n := s.withCred.Load() - withCred; n != 0 {
			t.Errorf("the expired token was sent %d times", n)
		}
	}
	b.assertPaid(t, 1)
	// Another scope of the same seller is not blocked.
	if _, _, _, err := b.get(t, s.url("/v2/a")); !errors.Is(err, client.ErrPaidButRefused) {
		t.Errorf("other scope: %v, want a purchase refused after payment", err)
	}
	b.assertPaid(t, 2)
}

// TestSellerThatRecoversClearsTheMark: a seller that refuses the paid
// retry once and then serves the token clears the mark; from then on the
// token is an ordinary one, dropped and replaced once if rejected.
func TestSellerThatRecoversClearsTheMark(t *testing.T) {
	s := newTestSeller(t)
	s.refusePaid.Store(true)
	b := newBuyer(t, s)
	if _, _, _, err := b.get(t, s.url("/v1/a")); !errors.Is(err, client.ErrPaidButRefused) {
		t.Fatalf("request 1: %v", err)
	}
	if tok := storedToken(t, b.store); !tok.Refused() {
		t.Fatalf("not marked: %+v", tok)
	}
	s.refusePaid.Store(false)
	status, _, rec, err := b.get(t, s.url("/v1/a"))
	if err != nil || status != http.StatusOK || !rec.TokenReused || rec.Paid {
		t.Fatalf("after recovery: %d %v %+v", status, err, rec)
	}
	tok := storedToken(t, b.store)
	if tok.Refused() || tok.AcceptedAt.IsZero() {
		t.Errorf("the mark was not cleared: %+v", tok)
	}
	b.assertPaid(t, 1)
	// A new run sees the cleared mark too.
	other := &buyer{client: &http.Client{Transport: &client.Transport{Payer: b.payer, Store: b.store}}}
	if _, _, rec, err := other.get(t, s.url("/v1/b")); err != nil || !rec.TokenReused {
		t.Fatalf("next run: %v %+v", err, rec)
	}
	// Served before, rejected now (revoked, say): replaced once.
	s.reject401.Store(1)
	if _, _, rec, err := b.get(t, s.url("/v1/a")); err != nil || !rec.Paid {
		t.Fatalf("after a 401 to a served token: %v %+v", err, rec)
	}
	b.assertPaid(t, 2)
}

// TestConcurrentRequestsToRefusingSellerPayOnce: goroutines that all get
// the token another one just bought, and see it refused, buy no other.
func TestConcurrentRequestsToRefusingSellerPayOnce(t *testing.T) {
	s := newTestSeller(t)
	s.refusePaid.Store(true)
	s.payDelay = 100 * time.Millisecond
	b := newBuyer(t, s)
	var (
		wg                sync.WaitGroup
		paidRefused, sell atomic.Int32
	)
	for range 16 {
		wg.Go(func() {
			_, _, _, err := b.get(t, s.url("/v1/a"))
			switch {
			case errors.Is(err, client.ErrPaidButRefused):
				paidRefused.Add(1)
			case errors.Is(err, client.ErrSellerRefusedPaid):
				sell.Add(1)
			default:
				t.Errorf("error %v", err)
			}
		})
	}
	wg.Wait()
	if paidRefused.Load() != 1 || sell.Load() != 15 {
		t.Errorf("%d paid and refused, %d refused without paying; want 1 and 15", paidRefused.Load(), sell.Load())
	}
	b.assertPaid(t, 1)
}

// TestManyProcessesToRefusingSellerPayOnce: 4 processes of 8 goroutines
// against a seller that refuses what it is paid for: one payment in all.
func TestManyProcessesToRefusingSellerPayOnce(t *testing.T) {
	s := newTestSeller(t)
	s.refusePaid.Store(true)
	s.payDelay = 300 * time.Millisecond
	db := filepath.Join(t.TempDir(), "buyer.db")
	store := openStore(t, db)
	runChildren(t, 4, "refused", s.srv.URL, db)
	if n := s.paidHashes.Load(); n != 1 {
		t.Errorf("the seller saw %d invoices paid, want 1", n)
	}
	if n := succeededPayments(t, store); n != 1 {
		t.Errorf("spend log has %d succeeded payments, want 1", n)
	}
	if tok := storedToken(t, store); !tok.Refused() {
		t.Errorf("the token is not marked refused: %+v", tok)
	}
}

// TestRecoveredTokenRefusedIsNotReplaced: a token recovered from a crash
// (paid, never presented) that the seller refuses was paid for and got
// nothing: it is marked, and no second payment is made.
func TestRecoveredTokenRefusedIsNotReplaced(t *testing.T) {
	s := newTestSeller(t)
	s.refusePaid.Store(true)
	store := openStore(t, "")
	leavePending(t, s, store, true)

	next := newTestPayer(s)
	next.track = s.track
	b := &buyer{seller: s, payer: next, store: store, tr: &client.Transport{Payer: next, Store: store}}
	b.client = &http.Client{Transport: b.tr}
	if err := b.tr.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	tok := storedToken(t, store)
	for i := range 3 {
		_, _, rec, err := b.get(t, s.url("/v1/a"))
		wantSellerRefused(t, err, tok.ID, http.StatusPaymentRequired)
		if rec.Paid {
			t.Errorf("request %d paid", i+1)
		}
	}
	if next.pays.Load() != 0 || s.paidHashes.Load() != 1 || succeededPayments(t, store) != 1 {
		t.Errorf("paid again: payer %d, seller saw %d", next.pays.Load(), s.paidHashes.Load())
	}
	if got := storedToken(t, store); !got.Refused() {
		t.Errorf("the recovered token is not marked refused: %+v", got)
	}
}
