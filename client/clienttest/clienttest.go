// Package clienttest is the conformance suite for client.Store: one test
// body run against every implementation (SQLite today, PostgreSQL later),
// so that the buyer behaves the same whatever keeps its state.
package clienttest

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// TestStore runs the conformance suite. open must return a new, empty
// store each time it is called, and close it when t ends.
func TestStore(t *testing.T, open func(t *testing.T) client.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s client.Store)
	}{
		{"SettleStoresToken", testSettleStoresToken},
		{"OneTokenPerScope", testOneTokenPerScope},
		{"DeleteToken", testDeleteToken},
		{"MarkToken", testMarkToken},
		{"BeginPaymentClaimsHashOnce", testBeginPaymentClaimsHashOnce},
		{"BeginPaymentConcurrent", testBeginPaymentConcurrent},
		{"EndPayment", testEndPayment},
		{"OnlyPendingFinishes", testOnlyPendingFinishes},
		{"PendingKeepsMacaroon", testPendingKeepsMacaroon},
		{"PaymentsQuery", testPaymentsQuery},
		{"Lock", testLock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, open(t))
		})
	}
}

// base is a fixed instant at microsecond precision, the coarsest a store
// may keep.
var base = time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC)

// fixture is a token and the payment that bought it.
type fixture struct {
	tok client.Token
	pay client.Payment
}

func newFixture(t *testing.T, origin, scope string, created time.Time) fixture {
	t.Helper()
	var preimage l402.Preimage
	var id l402.TokenID
	rand.Read(preimage[:])
	rand.Read(id[:])
	ident := l402.Identifier{Version: 0, PaymentHash: preimage.Hash(), TokenID: id}
	raw, err := ident.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mac, err := macaroon.New(make([]byte, 32), raw, l402.DefaultLocation, macaroon.V2)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := mac.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{
		tok: client.Token{
			ID: id, PaymentHash: preimage.Hash(), Origin: origin, Scope: scope,
			Macaroon: bin, Preimage: preimage, Price: money.Sats(10), Fee: 1500,
			CreatedAt: created.Add(time.Second), ValidUntil: created.Add(time.Hour),
		},
		pay: client.Payment{
			Hash: preimage.Hash(), URL: origin + scope + "thing", Host: "example.test",
			Origin: origin, Scope: scope, Invoice: "lnbcrt100n1fake", Description: "a thing",
			Amount: money.Sats(10), Status: client.PaymentPending, Macaroon: bin, CreatedAt: created,
		},
	}
	return f
}

func ctx(t *testing.T) context.Context { return t.Context() }

func mustBeginSettle(t *testing.T, s client.Store, f fixture) {
	t.Helper()
	if err := s.BeginPayment(ctx(t), f.pay); err != nil {
		t.Fatalf("BeginPayment: %v", err)
	}
	if err := s.SettlePayment(ctx(t), f.pay.Hash, f.tok.Fee, f.tok.CreatedAt, f.tok); err != nil {
		t.Fatalf("SettlePayment: %v", err)
	}
}

func equalToken(t *testing.T, got, want client.Token) {
	t.Helper()
	if got.ID != want.ID || got.PaymentHash != want.PaymentHash || got.Origin != want.Origin || got.Scope != want.Scope ||
		string(got.Macaroon) != string(want.Macaroon) || got.Preimage != want.Preimage ||
		got.Price != want.Price || got.Fee != want.Fee ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.ValidUntil.Equal(want.ValidUntil) ||
		!got.AcceptedAt.Equal(want.AcceptedAt) || !got.RefusedAt.Equal(want.RefusedAt) {
		t.Errorf("token read back differs:\n got %+v\nwant %+v", got, want)
	}
}

func testSettleStoresToken(t *testing.T, s client.Store) {
	f := newFixture(t, "https://a.test:443", "/v1/", base)
	if _, err := s.Token(ctx(t), f.tok.Origin, f.tok.Scope); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Token before any purchase: %v, want ErrNotFound", err)
	}
	mustBeginSettle(t, s, f)
	got, err := s.Token(ctx(t), f.tok.Origin, f.tok.Scope)
	if err != nil {
		t.Fatal(err)
	}
	equalToken(t, got, f.tok)
	got, err = s.TokenByID(ctx(t), f.tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalToken(t, got, f.tok)
	if _, err := s.Token(ctx(t), f.tok.Origin, "/v2/"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Token for another scope: %v, want ErrNotFound", err)
	}
	if _, err := s.Token(ctx(t), "http://a.test:443", f.tok.Scope); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Token for another origin: %v, want ErrNotFound", err)
	}
	p, err := s.Payment(ctx(t), f.pay.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != client.PaymentSucceeded || p.Fee != f.tok.Fee || !p.FinishedAt.Equal(f.tok.CreatedAt) ||
		p.Amount != f.pay.Amount || p.URL != f.pay.URL || p.Host != f.pay.Host || p.Invoice != f.pay.Invoice ||
		p.Description != f.pay.Description || !p.CreatedAt.Equal(f.pay.CreatedAt) {
		t.Errorf("settled payment read back as %+v", p)
	}
	if len(p.Macaroon) != 0 {
		t.Error("a settled payment still holds its macaroon; the token table has it")
	}
	// A token without expiry reads back without one.
	g := newFixture(t, "https://a.test:443", "/v3/", base)
	g.tok.ValidUntil = time.Time{}
	mustBeginSettle(t, s, g)
	got, err = s.TokenByID(ctx(t), g.tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalToken(t, got, g.tok)
}

func testOneTokenPerScope(t *testing.T, s client.Store) {
	old := newFixture(t, "https://a.test:443", "/v1/", base)
	mustBeginSettle(t, s, old)
	other := newFixture(t, "https://a.test:443", "/v2/", base.Add(time.Minute))
	mustBeginSettle(t, s, other)
	fresh := newFixture(t, "https://a.test:443", "/v1/", base.Add(2*time.Minute))
	mustBeginSettle(t, s, fresh)
	got, err := s.Token(ctx(t), "https://a.test:443", "/v1/")
	if err != nil {
		t.Fatal(err)
	}
	equalToken(t, got, fresh.tok)
	if _, err := s.TokenByID(ctx(t), old.tok.ID); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("replaced token: %v, want ErrNotFound", err)
	}
	all, err := s.Tokens(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != fresh.tok.ID || all[1].ID != other.tok.ID {
		t.Errorf("Tokens: got %d, want the two current ones newest first", len(all))
	}
}

func testDeleteToken(t *testing.T, s client.Store) {
	f := newFixture(t, "https://a.test:443", "/", base)
	mustBeginSettle(t, s, f)
	if err := s.DeleteToken(ctx(t), f.tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx(t), f.tok.Origin, f.tok.Scope); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("deleted token: %v, want ErrNotFound", err)
	}
	if err := s.DeleteToken(ctx(t), f.tok.ID); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("delete twice: %v, want ErrNotFound", err)
	}
	// The spend log keeps the payment.
	if p, err := s.Payment(ctx(t), f.pay.Hash); err != nil || p.Status != client.PaymentSucceeded {
		t.Errorf("payment after its token was deleted: %+v, %v", p, err)
	}
}

// testMarkToken: the refused and accepted marks are kept with the token,
// read back by every lookup, and go away with it.
func testMarkToken(t *testing.T, s client.Store) {
	f := newFixture(t, "https://a.test:443", "/v1/", base)
	mustBeginSettle(t, s, f)
	want := f.tok
	check := func(step string) {
		t.Helper()
		got, err := s.Token(ctx(t), want.Origin, want.Scope)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		equalToken(t, got, want)
		if got, err = s.TokenByID(ctx(t), want.ID); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		equalToken(t, got, want)
		all, err := s.Tokens(ctx(t))
		if err != nil || len(all) != 1 {
			t.Fatalf("%s: Tokens %d %v", step, len(all), err)
		}
		equalToken(t, all[0], want)
		if got.Refused() != !want.RefusedAt.IsZero() {
			t.Errorf("%s: Refused() = %v", step, got.Refused())
		}
	}
	check("fresh token")

	refused := base.Add(time.Minute)
	if err := s.MarkRefused(ctx(t), f.tok.ID, refused); err != nil {
		t.Fatal(err)
	}
	want.RefusedAt = refused
	check("marked refused")

	accepted := base.Add(2 * time.Minute)
	if err := s.MarkAccepted(ctx(t), f.tok.ID, accepted); err != nil {
		t.Fatal(err)
	}
	want.AcceptedAt, want.RefusedAt = accepted, time.Time{}
	check("accepted clears the refusal")

	if err := s.MarkAccepted(ctx(t), f.tok.ID, accepted.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	check("accepted again keeps the first time")

	refused = base.Add(4 * time.Minute)
	if err := s.MarkRefused(ctx(t), f.tok.ID, refused); err != nil {
		t.Fatal(err)
	}
	want.RefusedAt = refused
	check("refused after being accepted")

	var unknown l402.TokenID
	rand.Read(unknown[:])
	if err := s.MarkRefused(ctx(t), unknown, refused); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("MarkRefused of an unknown token: %v, want ErrNotFound", err)
	}
	if err := s.MarkAccepted(ctx(t), unknown, accepted); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("MarkAccepted of an unknown token: %v, want ErrNotFound", err)
	}

	// The mark belongs to the token: the next purchase for the scope
	// starts unmarked, and a deleted token keeps no mark.
	fresh := newFixture(t, want.Origin, want.Scope, base.Add(time.Hour))
	mustBeginSettle(t, s, fresh)
	want = fresh.tok
	check("replaced by a new purchase")
	if err := s.DeleteToken(ctx(t), fresh.tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRefused(ctx(t), fresh.tok.ID, refused); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("MarkRefused of a deleted token: %v, want ErrNotFound", err)
	}

	// A token stored with its marks keeps them.
	marked := newFixture(t, want.Origin, "/v2/", base)
	marked.tok.AcceptedAt, marked.tok.RefusedAt = base.Add(time.Minute), base.Add(2*time.Minute)
	mustBeginSettle(t, s, marked)
	got, err := s.TokenByID(ctx(t), marked.tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalToken(t, got, marked.tok)
}

func testBeginPaymentClaimsHashOnce(t *testing.T, s client.Store) {
	f := newFixture(t, "https://a.test:443", "/", base)
	if err := s.BeginPayment(ctx(t), f.pay); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginPayment(ctx(t), f.pay); !errors.Is(err, client.ErrPaymentExists) {
		t.Fatalf("second BeginPayment while pending: %v, want ErrPaymentExists", err)
	}
	if err := s.EndPayment(ctx(t), f.pay.Hash, client.PaymentNotSent, base.Add(time.Second), "never sent"); err != nil {
		t.Fatal(err)
	}
	retry := f.pay
	retry.CreatedAt = base.Add(time.Minute)
	if err := s.BeginPayment(ctx(t), retry); err != nil {
		t.Fatalf("BeginPayment after not sent: %v", err)
	}
	p, err := s.Payment(ctx(t), f.pay.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != client.PaymentPending || p.Error != "" || !p.FinishedAt.IsZero() || !p.CreatedAt.Equal(retry.CreatedAt) {
		t.Errorf("payment begun again: %+v", p)
	}
	if err := s.SettlePayment(ctx(t), f.pay.Hash, 0, base.Add(2*time.Minute), f.tok); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginPayment(ctx(t), f.pay); !errors.Is(err, client.ErrPaymentExists) {
		t.Errorf("BeginPayment after success: %v, want ErrPaymentExists", err)
	}
	bad := newFixture(t, "https://a.test:443", "/", base).pay
	bad.Status = client.PaymentSucceeded
	if err := s.BeginPayment(ctx(t), bad); err == nil {
		t.Error("BeginPayment accepted a payment that is not pending")
	}
}

func testBeginPaymentConcurrent(t *testing.T, s client.Store) {
	f := newFixture(t, "https://a.test:443", "/", base)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			err := s.BeginPayment(ctx(t), f.pay)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, client.ErrPaymentExists):
				t.Errorf("BeginPayment: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent BeginPayment calls won, want 1", wins.Load())
	}
}

func testEndPayment(t *testing.T, s client.Store) {
	f := newFixture(t, "https://a.test:443", "/", base)
	if err := s.BeginPayment(ctx(t), f.pay); err != nil {
		t.Fatal(err)
	}
	if err := s.EndPayment(ctx(t), f.pay.Hash, client.PaymentSucceeded, base, ""); err == nil {
		t.Error("EndPayment accepted the status succeeded, which needs a token")
	}
	if err := s.EndPayment(ctx(t), f.pay.Hash, client.PaymentFailed, base.Add(time.Second), "no route"); err != nil {
		t.Fatal(err)
	}
	p, err := s.Payment(ctx(t), f.pay.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != client.PaymentFailed || p.Error != "no route" || !p.FinishedAt.Equal(base.Add(time.Second)) || p.Fee != 0 {
		t.Errorf("failed payment read back as %+v", p)
	}
	if _, err := s.Token(ctx(t), f.tok.Origin, f.tok.Scope); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("a failed payment left a token: %v", err)
	}
	pending, err := s.PendingPayments(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Errorf("%d pending payments after the only one failed", len(pending))
	}
}

func testOnlyPendingFinishes(t *testing.T, s client.Store) {
	f := newFixture(t, "https://a.test:443", "/", base)
	var unknown l402.PaymentHash
	rand.Read(unknown[:])
	if err := s.SettlePayment(ctx(t), unknown, 0, base, f.tok); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("settle an unknown payment: %v, want ErrNotFound", err)
	}
	if err := s.EndPayment(ctx(t), unknown, client.PaymentFailed, base, "x"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("end an unknown payment: %v, want ErrNotFound", err)
	}
	if _, err := s.Payment(ctx(t), unknown); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("read an unknown payment: %v, want ErrNotFound", err)
	}
	mustBeginSettle(t, s, f)
	if err := s.SettlePayment(ctx(t), f.pay.Hash, 0, base, f.tok); !errors.Is(err, client.ErrNotPending) {
		t.Errorf("settle twice: %v, want ErrNotPending", err)
	}
	if err := s.EndPayment(ctx(t), f.pay.Hash, client.PaymentFailed, base, "x"); !errors.Is(err, client.ErrNotPending) {
		t.Errorf("fail a settled payment: %v, want ErrNotPending", err)
	}
	// A settle that fails stores no token.
	g := newFixture(t, "https://a.test:443", "/g/", base)
	if err := s.SettlePayment(ctx(t), g.pay.Hash, 0, base, g.tok); err == nil {
		t.Fatal("settled a payment never begun")
	}
	if _, err := s.TokenByID(ctx(t), g.tok.ID); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("a refused settle stored its token: %v", err)
	}
}

func testPendingKeepsMacaroon(t *testing.T, s client.Store) {
	a := newFixture(t, "https://a.test:443", "/a/", base.Add(time.Minute))
	b := newFixture(t, "https://b.test:443", "/", base)
	for _, f := range []fixture{a, b} {
		if err := s.BeginPayment(ctx(t), f.pay); err != nil {
			t.Fatal(err)
		}
	}
	pending, err := s.PendingPayments(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 2 || pending[0].Hash != b.pay.Hash || pending[1].Hash != a.pay.Hash {
		t.Fatalf("PendingPayments: %d, want both oldest first", len(pending))
	}
	for i, f := range []fixture{b, a} {
		p := pending[i]
		if string(p.Macaroon) != string(f.pay.Macaroon) || p.Origin != f.pay.Origin || p.Scope != f.pay.Scope ||
			p.Invoice != f.pay.Invoice || p.Amount != f.pay.Amount || p.Status != client.PaymentPending {
			t.Errorf("pending payment %d read back as %+v", i, p)
		}
	}
}

func testPaymentsQuery(t *testing.T, s client.Store) {
	var fs []fixture
	for i := range 5 {
		f := newFixture(t, "https://a.test:443", "/", base.Add(time.Duration(i)*time.Minute))
		if i%2 == 1 {
			f.pay.Host = "other.test"
		}
		if err := s.BeginPayment(ctx(t), f.pay); err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	all, err := s.Payments(ctx(t), client.PaymentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("Payments: %d, want 5", len(all))
	}
	for i, p := range all {
		if p.Hash != fs[4-i].pay.Hash {
			t.Errorf("Payments[%d] is not the %dth newest", i, i)
		}
	}
	for _, tc := range []struct {
		name string
		q    client.PaymentQuery
		want []int
	}{
		{"limit", client.PaymentQuery{Limit: 2}, []int{4, 3}},
		{"since", client.PaymentQuery{Since: base.Add(3 * time.Minute)}, []int{4, 3}},
		{"host", client.PaymentQuery{Host: "other.test"}, []int{3, 1}},
		{"host and limit", client.PaymentQuery{Host: "example.test", Limit: 2}, []int{4, 2}},
	} {
		got, err := s.Payments(ctx(t), tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d payments, want %d", tc.name, len(got), len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if got[i].Hash != fs[w].pay.Hash {
				t.Errorf("%s: payment %d is not fixture %d", tc.name, i, w)
			}
		}
	}
}

func testLock(t *testing.T, s client.Store) {
	unlock, err := s.Lock(ctx(t), "k1")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx(t), 50*time.Millisecond)
	_, err = s.Lock(short, "k1")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock of a held key: %v, want a deadline error", err)
	}
	unlock2, err := s.Lock(ctx(t), "k2")
	if err != nil {
		t.Fatalf("Lock of another key while k1 is held: %v", err)
	}
	unlock2()

	got := make(chan error, 1)
	go func() {
		u, err := s.Lock(ctx(t), "k1")
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Lock returned (%v) while the key was held", err)
	case <-time.After(30 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lock did not return after the holder unlocked")
	}

	// Mutual exclusion under contention.
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				u, err := s.Lock(ctx(t), "k3")
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(time.Millisecond)
				inside.Add(-1)
				u()
			}
		})
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Errorf("%d holders of one lock at once", maxInside.Load())
	}
}
