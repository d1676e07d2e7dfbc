package client

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// Store keeps the buyer's durable state: the tokens bought, the payments
// made (pending ones included, so that a crash can be resolved by hash), and
// the locks that make one purchase per scope across processes. SQLite
// (store/sqlite.BuyerStore) is the default; client/clienttest holds the
// conformance suite every implementation must pass.
//
// Implementations must be safe for concurrent use by many goroutines and,
// for a durable store, by several processes sharing it.
type Store interface {
	// Token returns the token held for origin and scope, or an error
	// wrapping ErrNotFound.
	Token(ctx context.Context, origin, scope string) (Token, error)
	// TokenByID returns the token with id, or an error wrapping ErrNotFound.
	TokenByID(ctx context.Context, id l402.TokenID) (Token, error)
	// Tokens lists every token held, newest first.
	Tokens(ctx context.Context) ([]Token, error)
	// DeleteToken forgets a token; an unknown id returns an error wrapping
	// ErrNotFound.
	DeleteToken(ctx context.Context, id l402.TokenID) error
	// MarkAccepted records that the seller served a request carrying
	// token id: AcceptedAt is set to at unless already set, and RefusedAt
	// is cleared. An unknown id returns an error wrapping ErrNotFound.
	MarkAccepted(ctx context.Context, id l402.TokenID, at time.Time) error
	// MarkRefused records that the seller refused token id, paid for and
	// not served since, at at (RefusedAt). The mark stays until
	// MarkAccepted clears it or the token is deleted. An unknown id
	// returns an error wrapping ErrNotFound.
	MarkRefused(ctx context.Context, id l402.TokenID, at time.Time) error

	// BeginPayment records p, whose Status must be PaymentPending, before
	// anything is paid. A payment for the same hash already pending or
	// succeeded returns an error wrapping ErrPaymentExists and changes
	// nothing; one that failed or was never sent is replaced, since paying
	// that hash again is safe.
	BeginPayment(ctx context.Context, p Payment) error
	// SettlePayment marks the pending payment for hash succeeded with fee
	// and stores tok (replacing any token of the same origin and scope), in
	// one atomic step: a token is never stored without its payment being
	// settled, nor the reverse. A payment that is not pending returns an
	// error wrapping ErrNotPending (ErrNotFound when there is none).
	SettlePayment(ctx context.Context, hash l402.PaymentHash, fee money.MilliSat, finished time.Time, tok Token) error
	// EndPayment marks the pending payment for hash with status
	// PaymentFailed or PaymentNotSent and the reason (never a secret).
	EndPayment(ctx context.Context, hash l402.PaymentHash, status PaymentStatus, finished time.Time, reason string) error
	// Payment returns the payment for hash, or an error wrapping ErrNotFound.
	Payment(ctx context.Context, hash l402.PaymentHash) (Payment, error)
	// PendingPayments lists the payments still pending, oldest first,
	// with the token macaroon each one would buy.
	PendingPayments(ctx context.Context) ([]Payment, error)
	// Payments lists the spend log, newest first.
	Payments(ctx context.Context, q PaymentQuery) ([]Payment, error)

	// Lock takes the lock named key, waiting until it is free or ctx ends.
	// The lock excludes every holder of the same key through any Store
	// sharing the same data, in this process or another; unlock releases
	// it and must be called exactly once.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// Errors a Store returns.
var (
	// ErrNotFound means no token or payment matched.
	ErrNotFound = errors.New("client: not found")
	// ErrPaymentExists means a payment for the hash is already pending or
	// succeeded: paying it again could pay twice.
	ErrPaymentExists = errors.New("client: payment already recorded for this hash")
	// ErrNotPending means the payment has already reached a final status.
	ErrNotPending = errors.New("client: payment is not pending")
)

// Token is an L402 credential bought for an origin and path scope.
type Token struct {
	ID          l402.TokenID     `json:"token_id"`
	PaymentHash l402.PaymentHash `json:"payment_hash"`
	// Origin is "scheme://host:port", lowercase, port always present.
	Origin string `json:"origin"`
	// Scope is the path prefix the token is sent for (see ScopeOf).
	Scope string `json:"scope"`
	// Macaroon is the token in its binary V2 form. It is a secret once
	// paid for: it redacts itself when printed and is left out of JSON.
	Macaroon Secret `json:"-"`
	// Preimage proves payment. It redacts itself and is left out of JSON.
	Preimage l402.Preimage `json:"-"`
	// Price is what the invoice asked; Fee what routing cost on top.
	Price money.MilliSat `json:"price_msat"`
	Fee   money.MilliSat `json:"fee_msat"`
	// CreatedAt is when the token was bought.
	CreatedAt time.Time `json:"created_at"`
	// ValidUntil is the earliest <service>_valid_until caveat of the
	// token; zero when it has none. The token is never sent after it.
	ValidUntil time.Time `json:"valid_until,omitzero"`
	// AcceptedAt is when the seller first served a request carrying the
	// token; zero while it never has.
	AcceptedAt time.Time `json:"accepted_at,omitzero"`
	// RefusedAt is when the seller refused the token although it was paid
	// for and had never served it (or not since its last refusal); zero
	// when it is not so marked. The Transport buys nothing more for the token's scope while
	// a marked token is held (see Transport).
	RefusedAt time.Time `json:"refused_at,omitzero"`
}

// Refused reports whether the token is marked refused: paid for, refused
// by the seller, and not served since.
func (t Token) Refused() bool { return !t.RefusedAt.IsZero() }

// PaymentStatus is where a payment recorded by the buyer is in its life.
type PaymentStatus string

// Payment statuses. Only PaymentPending can change.
const (
	// PaymentPending: recorded before paying; the outcome is not known
	// yet. A pending payment found after a crash is resolved by hash
	// before its scope is paid again.
	PaymentPending PaymentStatus = "pending"
	// PaymentSucceeded: paid; the token was stored.
	PaymentSucceeded PaymentStatus = "succeeded"
	// PaymentFailed: the node gave up; nothing was spent.
	PaymentFailed PaymentStatus = "failed"
	// PaymentNotSent: the node has no payment for the hash (a crash came
	// before the node saw it); nothing was spent.
	PaymentNotSent PaymentStatus = "not_sent"
)

// Payment is one entry of the spend log.
type Payment struct {
	Hash l402.PaymentHash `json:"payment_hash"`
	// URL is the request's URL without user info, query or fragment,
	// which may carry secrets.
	URL    string `json:"url"`
	Host   string `json:"host"`
	Origin string `json:"origin"`
	Scope  string `json:"scope"`
	// Invoice is the BOLT 11 payment request paid (public).
	Invoice     string         `json:"invoice"`
	Description string         `json:"description,omitempty"`
	Amount      money.MilliSat `json:"amount_msat"`
	Fee         money.MilliSat `json:"fee_msat"`
	Status      PaymentStatus  `json:"status"`
	// Macaroon is the token the payment buys, kept while the payment is
	// pending so that a crash after paying can rebuild the token from the
	// node's preimage. Stores drop it once the payment is final.
	Macaroon   Secret    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Error says why a payment failed or was not sent.
	Error string `json:"error,omitempty"`
}

// PaymentQuery selects entries of the spend log.
type PaymentQuery struct {
	// Since keeps payments created at or after it; zero keeps all.
	Since time.Time
	// Host keeps payments to this host only; empty keeps all.
	Host string
	// Limit caps the number returned; zero or less means no cap.
	Limit int
}

// Secret is secret bytes (a paid macaroon). It redacts itself in fmt and
// slog output so that it cannot reach a log or an error by accident.
type Secret []byte

// String redacts the secret.
func (Secret) String() string { return "[redacted]" }

// GoString redacts the secret under %#v too.
func (Secret) GoString() string { return "[redacted]" }

// LogValue redacts the secret in structured logs.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }
