package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
)

// acquire returns a token for the exchange's scope in answer to ch: one
// stored meanwhile by another goroutine or process, one recovered from a
// payment left pending by a crash, or a new one bought by paying ch's
// invoice (bought is then true). rejected names a token the server just
// refused, never to be returned.
func (x *exchange) acquire(ch *l402.Challenge, rejected l402.TokenID) (held *heldToken, bought bool, err error) {
	t := x.t
	q, err := x.check(ch)
	x.rec.Quote = &q
	if err != nil {
		t.log().Info("client: not paying", "host", q.Host, "price", q.Price, "payment_hash", q.PaymentHash, "reason", err)
		return nil, false, err
	}
	if !x.body.replayable() {
		return nil, false, &RefusedError{Reason: ErrBodyNotReplayable, Quote: q}
	}

	unlock, err := t.lock(x.ctx, x.key)
	if err != nil {
		return nil, false, err
	}
	defer unlock()

	// Held the lock: whatever another buyer did for this scope is done.
	recovered, err := t.recoverScope(x.ctx, x.key)
	if err != nil {
		return nil, false, err
	}
	tok, err := t.Store.Token(x.ctx, x.key.origin(), x.key.scope)
	switch {
	case err == nil:
		if tok.ID != rejected {
			h, err := newHeld(tok)
			if err != nil {
				return nil, false, err
			}
			if h.usable(t.now()) {
				t.remember(x.key, h)
				if recovered[tok.PaymentHash] {
					x.rec.Recovered = true
					x.rec.PaymentHash = tok.PaymentHash
				}
				return h, false, nil
			}
		}
		if tok.Refused() {
			// The last purchase for this scope was refused after payment,
			// and its token has expired since: the user decides.
			x.rec.TokenID = tok.ID
			t.log().Warn("client: not buying for a scope whose last token the seller refused after payment",
				"host", x.rec.Host, "token_id", tok.ID, "payment_hash", tok.PaymentHash)
			return nil, false, newSellerRefusedError(tok, x.rec.Host, 0)
		}
	case !errors.Is(err, ErrNotFound):
		return nil, false, fmt.Errorf("client: read the token for %s%s: %w", x.key.origin(), x.key.scope, err)
	}

	if t.Policy.Approve != nil {
		if err := t.Policy.Approve(x.ctx, q); err != nil {
			t.log().Info("client: payment not approved", "host", q.Host, "price", q.Price, "payment_hash", q.PaymentHash)
			return nil, false, &RefusedError{Reason: ErrNotApproved, Quote: q, Err: err}
		}
	}
	h, err := x.pay(ch, q)
	if err != nil {
		return nil, false, err
	}
	return h, true, nil
}

// check reads ch's invoice into a Quote and refuses what must not be paid.
// It runs before any lock is taken and before the node sees the invoice.
func (x *exchange) check(ch *l402.Challenge) (Quote, error) {
	t := x.t
	q := Quote{
		URL: x.url(), Host: x.rec.Host, Origin: x.key.origin(), Scope: x.key.scope,
		TokenPaymentHash: ch.ID.PaymentHash, Invoice: ch.Invoice,
	}
	if t.Payer == nil {
		return q, fmt.Errorf("client: %s asks for payment and the Transport has no Payer", q.Host)
	}
	inv, err := t.Payer.DecodeInvoice(ch.Invoice)
	if err != nil {
		reason := ErrBadInvoice
		if errors.Is(err, lightning.ErrWrongNetwork) {
			reason = ErrWrongNetwork
		}
		return q, &RefusedError{Reason: reason, Quote: q, Err: err}
	}
	q.Price, q.HasAmount = inv.Amount, inv.HasAmount
	q.Description, q.ExpiresAt, q.Network, q.PaymentHash = inv.Description, inv.ExpiresAt, inv.Network, inv.Hash
	switch {
	case inv.Hash != ch.ID.PaymentHash:
		return q, &RefusedError{Reason: ErrHashMismatch, Quote: q}
	case !inv.HasAmount || inv.Amount <= 0 || !inv.Amount.Valid():
		q.HasAmount = false
		return q, &RefusedError{Reason: ErrNoAmount, Quote: q}
	case inv.Expired(t.now()):
		return q, &RefusedError{Reason: ErrInvoiceExpired, Quote: q}
	case t.Policy.QuoteOnly:
		return q, &RefusedError{Reason: ErrQuoteOnly, Quote: q}
	case inv.Amount > t.Policy.maxPrice():
		return q, &RefusedError{Reason: ErrPriceTooHigh, Quote: q,
			Err: fmt.Errorf("the cap is %s", t.Policy.maxPrice())}
	}
	return q, nil
}

// pay records the pending payment, pays, and stores the token. The caller
// holds the scope's lock.
func (x *exchange) pay(ch *l402.Challenge, q Quote) (*heldToken, error) {
	t := x.t
	raw, err := ch.Macaroon.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("client: encode the offered token: %w", err)
	}
	p := Payment{
		Hash: q.PaymentHash, URL: q.URL, Host: q.Host, Origin: q.Origin, Scope: q.Scope,
		Invoice: q.Invoice, Description: q.Description, Amount: q.Price,
		Status: PaymentPending, Macaroon: raw, CreatedAt: t.now(),
	}
	if err := t.Store.BeginPayment(x.ctx, p); err != nil {
		return nil, fmt.Errorf("client: record the payment for %s before paying: %w", q.URL, err)
	}
	t.log().Info("client: paying", "host", q.Host, "price", q.Price, "max_fee", t.Policy.maxFee(), "payment_hash", q.PaymentHash)
	paid, payErr := t.Payer.Pay(x.ctx, lightning.PayRequest{
		Invoice: ch.Invoice, MaxFee: t.Policy.maxFee(), Timeout: t.Policy.payTimeout(),
	})
	// What was paid must be recorded even if the caller gives up now.
	ctx := context.WithoutCancel(x.ctx)
	var final *lightning.PaymentError
	switch {
	case payErr == nil && paid.Status == lightning.PaymentSucceeded && paid.Preimage.Hash() == p.Hash:
		h, err := t.settle(ctx, p, paid)
		if err != nil {
			return nil, err
		}
		x.rec.Paid = true
		x.rec.Amount += p.Amount
		x.rec.Fee += paid.Fee
		x.rec.PaymentHash = p.Hash
		t.log().Info("client: paid", "host", q.Host, "amount", p.Amount, "fee", paid.Fee, "payment_hash", p.Hash)
		return h, nil
	case errors.As(payErr, &final):
		if err := t.Store.EndPayment(ctx, p.Hash, PaymentFailed, t.now(), payErr.Error()); err != nil {
			t.log().Warn("client: could not record a failed payment", "payment_hash", p.Hash, "err", err)
		}
		t.log().Info("client: payment failed", "host", q.Host, "payment_hash", p.Hash, "err", payErr)
		return nil, &PaymentError{Kind: ErrPaymentFailed, Hash: p.Hash, Quote: q, Err: payErr}
	case errors.Is(payErr, lightning.ErrPaymentInFlight):
		t.log().Warn("client: payment still in flight; the scope will not be paid again until it is resolved", "payment_hash", p.Hash)
		return nil, &PaymentError{Kind: ErrPaymentInFlight, Hash: p.Hash, Quote: q, Err: payErr}
	}
	// Any other answer leaves the outcome unknown (the node may have
	// sent the payment before failing to answer): ask the node by hash.
	t.log().Warn("client: payment outcome unknown; tracking it", "payment_hash", p.Hash, "err", payErr)
	h, status, err := t.resolve(ctx, p)
	switch {
	case err != nil:
		return nil, err
	case status == PaymentSucceeded:
		x.rec.Paid = true
		x.rec.Amount += p.Amount
		x.rec.Fee += h.tok.Fee
		x.rec.PaymentHash = p.Hash
		return h, nil
	}
	if payErr == nil {
		payErr = fmt.Errorf("client: the payer reported payment %s %s", p.Hash, paid.Status)
	}
	return nil, &PaymentError{Kind: ErrPaymentFailed, Hash: p.Hash, Quote: q, Err: payErr}
}

// settle stores the token bought by the pending payment p, now paid, and
// marks p succeeded. If the Store fails, the token is still returned for
// this request: the payment stays pending and the next run recovers it.
func (t *Transport) settle(ctx context.Context, p Payment, paid lightning.Payment) (*heldToken, error) {
	_, info, err := readToken(p.Macaroon)
	if err != nil {
		return nil, err
	}
	if info.id.PaymentHash != p.Hash {
		return nil, fmt.Errorf("client: payment %s does not buy its recorded token", p.Hash)
	}
	tok := Token{
		ID: info.id.TokenID, PaymentHash: p.Hash, Origin: p.Origin, Scope: p.Scope,
		Macaroon: p.Macaroon, Preimage: paid.Preimage, Price: p.Amount, Fee: paid.Fee,
		CreatedAt: t.now(), ValidUntil: info.validUntil,
	}
	h, err := newHeld(tok)
	if err != nil {
		return nil, err
	}
	if err := t.Store.SettlePayment(ctx, p.Hash, paid.Fee, tok.CreatedAt, tok); err != nil {
		t.log().Error("client: paid but could not store the token; it will be recovered from the node by hash",
			"payment_hash", p.Hash, "err", err)
	}
	t.remember(keyFor(p.Origin, p.Scope), h)
	return h, nil
}

// resolve asks the payer for the outcome of the pending payment p and
// records it: succeeded (the token is rebuilt from the recorded macaroon
// and the preimage), failed, or not sent. A payment still in flight, or
// whose outcome cannot be learned, is left pending and returned as a
// *PaymentError with Kind ErrPaymentInFlight.
func (t *Transport) resolve(ctx context.Context, p Payment) (*heldToken, PaymentStatus, error) {
	tctx, cancel := context.WithTimeout(ctx, t.Policy.trackTimeout())
	got, err := t.Payer.TrackPayment(tctx, p.Hash)
	cancel()
	var final *lightning.PaymentError
	switch {
	case err == nil && got.Status == lightning.PaymentSucceeded && got.Preimage.Hash() == p.Hash:
		h, err := t.settle(ctx, p, got)
		if err != nil {
			return nil, PaymentPending, err
		}
		t.log().Info("client: recovered a token from a payment made before a crash", "host", p.Host, "payment_hash", p.Hash)
		return h, PaymentSucceeded, nil
	case errors.Is(err, lightning.ErrPaymentNotFound):
		if err := t.Store.EndPayment(ctx, p.Hash, PaymentNotSent, t.now(), "the node has no payment for this hash"); err != nil {
			return nil, PaymentPending, fmt.Errorf("client: record payment %s as not sent: %w", p.Hash, err)
		}
		t.log().Info("client: a pending payment was never sent", "payment_hash", p.Hash)
		return nil, PaymentNotSent, nil
	case errors.As(err, &final) || (err == nil && got.Status == lightning.PaymentFailed):
		reason := "the node reports the payment failed"
		if err != nil {
			reason = err.Error()
		}
		if err := t.Store.EndPayment(ctx, p.Hash, PaymentFailed, t.now(), reason); err != nil {
			return nil, PaymentPending, fmt.Errorf("client: record payment %s as failed: %w", p.Hash, err)
		}
		return nil, PaymentFailed, nil
	}
	if err == nil || !errors.Is(err, lightning.ErrPaymentInFlight) {
		cause := err
		if cause == nil {
			cause = fmt.Errorf("status %s", got.Status)
		}
		err = fmt.Errorf("%w: outcome unknown: %w", lightning.ErrPaymentInFlight, cause)
	}
	q := Quote{URL: p.URL, Host: p.Host, Origin: p.Origin, Scope: p.Scope, Price: p.Amount, HasAmount: true,
		Description: p.Description, PaymentHash: p.Hash, TokenPaymentHash: p.Hash, Invoice: p.Invoice}
	return nil, PaymentPending, &PaymentError{Kind: ErrPaymentInFlight, Hash: p.Hash, Quote: q, Err: err}
}

// recoverScope resolves the payments of key left pending, and returns the
// hashes of those found paid. The caller holds key's lock, so a pending
// payment here is not being made by anyone: its payer crashed or gave up
// waiting.
func (t *Transport) recoverScope(ctx context.Context, key scopeKey) (map[l402.PaymentHash]bool, error) {
	pending, err := t.Store.PendingPayments(ctx)
	if err != nil {
		return nil, fmt.Errorf("client: list pending payments: %w", err)
	}
	var paid map[l402.PaymentHash]bool
	origin := key.origin()
	for _, p := range pending {
		if p.Origin != origin || p.Scope != key.scope {
			continue
		}
		_, status, err := t.resolve(ctx, p)
		if err != nil {
			return nil, err
		}
		if status == PaymentSucceeded {
			if paid == nil {
				paid = make(map[l402.PaymentHash]bool)
			}
			paid[p.Hash] = true
		}
	}
	return paid, nil
}

// Recover resolves every payment left pending by a crash, scope by scope
// under each scope's lock: paid ones get their token rebuilt, the others
// are marked failed or not sent. The CLI calls it at start; RoundTrip does
// the same for a scope before paying it. The error joins one
// *PaymentError (ErrPaymentInFlight) per scope still in flight.
func (t *Transport) Recover(ctx context.Context) error {
	if t.Store == nil || t.Payer == nil {
		return errors.New("client: Recover needs a Store and a Payer")
	}
	pending, err := t.Store.PendingPayments(ctx)
	if err != nil {
		return fmt.Errorf("client: list pending payments: %w", err)
	}
	seen := make(map[scopeKey]bool)
	var errs []error
	for _, p := range pending {
		key := keyFor(p.Origin, p.Scope)
		if seen[key] {
			continue
		}
		seen[key] = true
		unlock, err := t.lock(ctx, key)
		if err != nil {
			return err
		}
		_, err = t.recoverScope(ctx, key)
		unlock()
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// lock takes key's purchase lock: first among this Transport's goroutines,
// then through the Store among processes.
func (t *Transport) lock(ctx context.Context, key scopeKey) (unlock func(), err error) {
	t.locksMu.Lock()
	if t.locks == nil {
		t.locks = make(map[scopeKey]chan struct{})
	}
	sem := t.locks[key]
	if sem == nil {
		sem = make(chan struct{}, 1)
		t.locks[key] = sem
	}
	t.locksMu.Unlock()

	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("client: wait for the purchase lock of %s%s: %w", key.origin(), key.scope, ctx.Err())
	}
	origin := key.origin()
	release, err := t.Store.Lock(ctx, lockKey(origin, key.scope))
	if err != nil {
		<-sem
		return nil, fmt.Errorf("client: take the purchase lock of %s%s: %w", origin, key.scope, err)
	}
	return func() {
		release()
		<-sem
	}, nil
}

// lockKey is the Store lock name guarding purchases for origin and scope.
func lockKey(origin, scope string) string { return "buyer-scope " + origin + scope }
