package client

import (
	"context"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// Receipt says what the Transport did for one request: whether it paid,
// how much, and whether a token it held was reused. Get one with
// WithReceipt; the Transport fills it while the request runs, and it is
// complete when the client call (http.Client.Do) returns, whether with a
// response or an error.
//
// When a client follows redirects, every hop fills the same Receipt:
// Amount and Fee add up, and the other fields describe the last purchase
// or the last hop.
type Receipt struct {
	// URL is the last request's URL without user info, query or fragment.
	URL  string `json:"url"`
	Host string `json:"host"`
	// Paid is true when a payment succeeded for this request.
	Paid   bool           `json:"paid"`
	Amount money.MilliSat `json:"amount_msat"`
	Fee    money.MilliSat `json:"fee_msat"`
	// PaymentHash identifies the last payment made (or recovered) for this
	// request.
	PaymentHash l402.PaymentHash `json:"payment_hash,omitzero"`
	// TokenID names the token sent on the last attempt.
	TokenID l402.TokenID `json:"token_id,omitzero"`
	// TokenReused is true when a token held before the request was sent
	// and accepted.
	TokenReused bool `json:"token_reused"`
	// Recovered is true when the token came from a payment left pending by
	// a crash and found settled on the node: nothing was paid again.
	Recovered bool `json:"recovered,omitempty"`
	// Quote is the last challenge read, nil when the server asked nothing.
	Quote *Quote `json:"quote,omitempty"`
}

type receiptKey struct{}

// WithReceipt returns a context that makes the Transport report into the
// returned Receipt. Use one per request: a Receipt is not safe for
// concurrent requests.
func WithReceipt(ctx context.Context) (context.Context, *Receipt) {
	r := new(Receipt)
	return context.WithValue(ctx, receiptKey{}, r), r
}

// ReceiptFrom returns the Receipt WithReceipt put in ctx, or nil. It is
// for round trippers that pay elsewhere (the allowance daemon's client)
// and report into the same Receipt as the Transport.
func ReceiptFrom(ctx context.Context) *Receipt {
	r, _ := ctx.Value(receiptKey{}).(*Receipt)
	return r
}
