package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
)

// leavePending makes a first run pay (or not) and lose the answer, so that
// the spend log holds one pending payment, as a crash would leave it.
func leavePending(t *testing.T, s *testSeller, store client.Store, reallyPaid bool) l402.PaymentHash {
	t.Helper()
	first := newTestPayer(s)
	if reallyPaid {
		first.lostAfterPay = true
	} else {
		first.payErr = fmt.Errorf("test: no answer: %w", lightning.ErrPaymentInFlight)
	}
	tr := &client.Transport{Payer: first, Store: store}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url("/v1/a"), nil)
	_, err := tr.RoundTrip(req)
	var pe *client.PaymentError
	if !errors.Is(err, client.ErrPaymentInFlight) || !errors.As(err, &pe) {
		t.Fatalf("first run: %v, want a payment in flight", err)
	}
	pending, err := store.PendingPayments(t.Context())
	if err != nil || len(pending) != 1 || pending[0].Hash != pe.Hash || len(pending[0].Macaroon) == 0 {
		t.Fatalf("pending after the first run: %+v %v", pending, err)
	}
	return pe.Hash
}

func TestRecoveryPaidTokenRebuiltWithoutPaying(t *testing.T) {
	s := newTestSeller(t)
	store := openStore(t, "")
	hash := leavePending(t, s, store, true)

	next := newTestPayer(s)
	next.track = s.track
	b := &buyer{seller: s, payer: next, store: store, tr: &client.Transport{Payer: next, Store: store}}
	b.client = &http.Client{Transport: b.tr}
	status, _, rec, err := b.get(t, s.url("/v1/a"))
	if err != nil || status != http.StatusOK {
		t.Fatalf("next run: %d %v", status, err)
	}
	if !rec.Recovered || rec.Paid || rec.PaymentHash != hash {
		t.Errorf("receipt: %+v", rec)
	}
	if next.pays.Load() != 0 || s.paidHashes.Load() != 1 {
		t.Errorf("paid again: payer %d, seller saw %d payments", next.pays.Load(), s.paidHashes.Load())
	}
	p, err := store.Payment(t.Context(), hash)
	if err != nil || p.Status != client.PaymentSucceeded || p.Fee != 500 {
		t.Errorf("recovered payment: %+v %v", p, err)
	}
	if succeededPayments(t, store) != 1 {
		t.Error("spend log does not show exactly one payment")
	}
}

func TestRecoverAtStartThenReuse(t *testing.T) {
	s := newTestSeller(t)
	store := openStore(t, "")
	leavePending(t, s, store, true)
	next := newTestPayer(s)
	next.track = s.track
	tr := &client.Transport{Payer: next, Store: store}
	if err := tr.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := &buyer{seller: s, payer: next, store: store, tr: tr, client: &http.Client{Transport: tr}}
	challenges := s.challenges.Load()
	if _, _, rec, err := b.get(t, s.url("/v1/b")); err != nil || !rec.TokenReused {
		t.Fatalf("after Recover: %v %+v", err, rec)
	}
	if s.challenges.Load() != challenges || next.pays.Load() != 0 {
		t.Error("the recovered token was not used at once")
	}
}

func TestRecoveryNotSentPaysAgain(t *testing.T) {
	s := newTestSeller(t)
	store := openStore(t, "")
	hash := leavePending(t, s, store, false)
	next := newTestPayer(s)
	next.track = s.track
	b := &buyer{seller: s, payer: next, store: store, tr: &client.Transport{Payer: next, Store: store}}
	b.client = &http.Client{Transport: b.tr}
	_, _, rec, err := b.get(t, s.url("/v1/a"))
	if err != nil || !rec.Paid || rec.Recovered {
		t.Fatalf("next run: %v %+v", err, rec)
	}
	if next.pays.Load() != 1 || next.tracks.Load() != 1 {
		t.Errorf("pays %d tracks %d, want 1 and 1", next.pays.Load(), next.tracks.Load())
	}
	p, err := store.Payment(t.Context(), hash)
	if err != nil || p.Status != client.PaymentNotSent {
		t.Errorf("the lost payment: %+v %v", p, err)
	}
	b.assertPaid(t, 1)
}

func TestRecoveryInFlightRefusesToPay(t *testing.T) {
	for _, tt := range []struct {
		name  string
		track func(ctx context.Context, hash l402.PaymentHash) (lightning.Payment, error)
	}{
		{"node says in flight", func(_ context.Context, hash l402.PaymentHash) (lightning.Payment, error) {
			return lightning.Payment{Hash: hash, Status: lightning.PaymentInFlight}, fmt.Errorf("test: %w", lightning.ErrPaymentInFlight)
		}},
		{"node waits past the track timeout", func(ctx context.Context, hash l402.PaymentHash) (lightning.Payment, error) {
			<-ctx.Done()
			return lightning.Payment{}, ctx.Err()
		}},
		{"node unreachable", func(context.Context, l402.PaymentHash) (lightning.Payment, error) {
			return lightning.Payment{}, &lightning.UnreachableError{Addr: "127.0.0.1:1", Err: errors.New("refused")}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSeller(t)
			store := openStore(t, "")
			hash := leavePending(t, s, store, false)
			next := newTestPayer(s)
			next.track = tt.track
			tr := &client.Transport{Payer: next, Store: store, Policy: client.Policy{TrackTimeout: 100 * time.Millisecond}}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url("/v1/a"), nil)
			_, err := tr.RoundTrip(req)
			var pe *client.PaymentError
			if !errors.As(err, &pe) || !errors.Is(err, client.ErrPaymentInFlight) || !errors.Is(err, lightning.ErrPaymentInFlight) || pe.Hash != hash {
				t.Fatalf("error %v, want the pending payment in flight", err)
			}
			if next.pays.Load() != 0 {
				t.Error("paid while a payment was in flight")
			}
			if p, _ := store.Payment(t.Context(), hash); p.Status != client.PaymentPending {
				t.Errorf("status %s, want still pending", p.Status)
			}
			if err := tr.Recover(t.Context()); !errors.Is(err, client.ErrPaymentInFlight) {
				t.Errorf("Recover: %v, want in flight", err)
			}
		})
	}
}

func TestRecoveryFailedMarkedFailed(t *testing.T) {
	s := newTestSeller(t)
	store := openStore(t, "")
	hash := leavePending(t, s, store, false)
	next := newTestPayer(s)
	next.track = func(_ context.Context, h l402.PaymentHash) (lightning.Payment, error) {
		p := lightning.Payment{Hash: h, Status: lightning.PaymentFailed, Failure: lightning.FailureTimeout}
		return p, &lightning.PaymentError{Payment: p}
	}
	tr := &client.Transport{Payer: next, Store: store}
	if err := tr.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p, _ := store.Payment(t.Context(), hash); p.Status != client.PaymentFailed {
		t.Errorf("status %s, want failed", p.Status)
	}
}
