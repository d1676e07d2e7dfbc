package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// Reasons the Transport refuses to pay. A *RefusedError wraps exactly one,
// so a caller branches with errors.Is; nothing was paid in any of these
// cases.
var (
	// ErrNoAmount: the invoice carries no amount (or a zero one), so the
	// cost cannot be known. lnget treated it as free.
	ErrNoAmount = errors.New("client: invoice has no amount")
	// ErrPriceTooHigh: the price is above Policy.MaxPrice.
	ErrPriceTooHigh = errors.New("client: price above the cap")
	// ErrNotApproved: Policy.Approve refused the quote (a budget, say);
	// its error is wrapped too.
	ErrNotApproved = errors.New("client: payment not approved")
	// ErrWrongNetwork: the invoice is for another network than the
	// payer's; lightning.ErrWrongNetwork is wrapped too.
	ErrWrongNetwork = errors.New("client: invoice for another network")
	// ErrInvoiceExpired: the invoice can no longer be paid.
	ErrInvoiceExpired = errors.New("client: invoice expired")
	// ErrHashMismatch: the invoice pays another hash than the one the
	// token is bound to, so paying it would not unlock the token.
	ErrHashMismatch = errors.New("client: invoice payment hash differs from the token's")
	// ErrBadInvoice: the invoice could not be decoded.
	ErrBadInvoice = errors.New("client: invoice cannot be decoded")
	// ErrQuoteOnly: Policy.QuoteOnly is set; the quote is in the error.
	ErrQuoteOnly = errors.New("client: quote only, not paying")
	// ErrBodyNotReplayable: the request body has no GetBody and is larger
	// than Policy.MaxBodyBuffer, so it could not be sent again after
	// paying.
	ErrBodyNotReplayable = errors.New("client: request body too large to replay after paying")
)

// Other errors of the Transport.
var (
	// ErrChallenge: the server's L402 challenge is malformed or larger
	// than MaxChallengeBytes. An l402 error kind is wrapped when there is
	// one.
	ErrChallenge = errors.New("client: unusable L402 challenge")
	// ErrPaidButRefused: the server still refused after being paid. See
	// PaidButRefusedError.
	ErrPaidButRefused = errors.New("client: server refused the request after payment")
	// ErrSellerRefusedPaid: the scope's token was paid for, the seller
	// refused it and has served nothing for it since, so the Transport
	// buys no other for the scope until the token is deleted. Nothing was
	// paid for this request. See SellerRefusedError.
	ErrSellerRefusedPaid = errors.New("client: seller refused a token it was paid for; not buying another")
	// ErrPaymentFailed: the payer reported a final failure; nothing was
	// spent. The payer's error is wrapped too.
	ErrPaymentFailed = errors.New("client: payment failed")
	// ErrPaymentInFlight: a payment for the scope is still in flight (or
	// its outcome cannot be learned now); the scope is not paid again
	// until it is resolved. lightning.ErrPaymentInFlight is wrapped too.
	ErrPaymentInFlight = errors.New("client: a payment for this scope is in flight")
)

// RefusedError is a challenge the Transport declined to pay. Nothing was
// paid.
type RefusedError struct {
	// Reason is one of the Err* refusal reasons above.
	Reason error
	// Quote describes what was asked, as far as it could be read.
	Quote Quote
	// Err is the underlying cause, if any (the Approve hook's error, the
	// payer's decoding error).
	Err error
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Reason, e.Quote.URL)
	if e.Quote.HasAmount {
		msg += fmt.Sprintf(" asks %s", e.Quote.Price)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap lets errors.Is find Reason and the cause.
func (e *RefusedError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// PaidButRefusedError is a server that answered 401 or 402 to the request
// carrying the token just paid for. The money is spent: Receipt says what
// was paid, so the buyer can complain with proof (the payment hash), and
// Receipt.TokenID names the token, now kept marked refused: later requests
// to its scope present it again but buy nothing (ErrSellerRefusedPaid)
// until it is deleted.
type PaidButRefusedError struct {
	StatusCode int
	Receipt    Receipt
}

func (e *PaidButRefusedError) Error() string {
	return fmt.Sprintf("client: paid %s %s (payment hash %s) and it answered %d to the paid request",
		e.Receipt.Host, e.Receipt.Amount, e.Receipt.PaymentHash, e.StatusCode)
}

// Unwrap makes errors.Is(err, ErrPaidButRefused) true.
func (e *PaidButRefusedError) Unwrap() error { return ErrPaidButRefused }

// SellerRefusedError is a request to a scope whose token was paid for and
// then refused by the seller (see Transport). Nothing was paid for this
// request, and nothing will be for the scope until the token is deleted
// (Store.DeleteToken; 'satloop tokens rm TOKEN-ID').
type SellerRefusedError struct {
	// TokenID names the refused token: the one to delete.
	TokenID     l402.TokenID
	PaymentHash l402.PaymentHash
	Host        string
	Origin      string
	Scope       string
	// Price and Fee are what the token cost.
	Price, Fee money.MilliSat
	// RefusedAt is when the seller refused it after payment.
	RefusedAt time.Time
	// StatusCode is the seller's answer to this request's presentation
	// of the token (401 or 402); 0 when the token was not sent, having
	// expired.
	StatusCode int
}

func newSellerRefusedError(tok Token, host string, status int) *SellerRefusedError {
	return &SellerRefusedError{
		TokenID: tok.ID, PaymentHash: tok.PaymentHash, Host: host, Origin: tok.Origin, Scope: tok.Scope,
		Price: tok.Price, Fee: tok.Fee, RefusedAt: tok.RefusedAt, StatusCode: status,
	}
}

func (e *SellerRefusedError) Error() string {
	msg := fmt.Sprintf("%s: %s was paid %s (fee %s, payment hash %s) for token %s and refused it",
		ErrSellerRefusedPaid, e.Host, e.Price, e.Fee, e.PaymentHash, e.TokenID)
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(" again (%d)", e.StatusCode)
	}
	return msg + fmt.Sprintf("; nothing more is paid for %s%s until that token is deleted", e.Origin, e.Scope)
}

// Unwrap makes errors.Is(err, ErrSellerRefusedPaid) true.
func (e *SellerRefusedError) Unwrap() error { return ErrSellerRefusedPaid }

// PaymentError is a payment that was attempted and did not succeed (final
// failure), or whose outcome is not known yet (in flight).
type PaymentError struct {
	// Kind is ErrPaymentFailed or ErrPaymentInFlight.
	Kind  error
	Hash  l402.PaymentHash
	Quote Quote
	// Err is the payer's error.
	Err error
}

func (e *PaymentError) Error() string {
	msg := fmt.Sprintf("%s: payment %s for %s", e.Kind, e.Hash, e.Quote.URL)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap lets errors.Is find Kind and the payer's error.
func (e *PaymentError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
