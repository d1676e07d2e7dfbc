package gate

import (
	"context"
	"errors"
	"time"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// Store is the state that gateway instances share: quota counters,
// revocations and the sales record. Root keys are not in it: they are
// derived from the master secret (l402.DerivedRootKeys), so verifying a
// token never waits for the store. SQLite (store/sqlite) serves one
// instance; PostgreSQL (store/postgres) serves several behind a load
// balancer. Implementations must be safe for concurrent use by many
// goroutines and many processes.
type Store interface {
	// UseQuota counts one request against the token's quota of limit
	// requests and returns how many it has now used. The check and the
	// increment are one atomic step across every instance sharing the
	// store: when the quota is already used up it returns an error wrapping
	// ErrQuotaExhausted and counts nothing. A revoked token returns an
	// error wrapping ErrRevoked and counts nothing; revocation is checked in
	// the same step, so a revocation committed before the call is always
	// seen. A limit below 1 admits nothing (fail closed): a route without a
	// quota does not call UseQuota.
	UseQuota(ctx context.Context, id l402.TokenID, limit int64) (used int64, err error)
	// RefundQuota gives back one request counted by UseQuota, for a
	// request the upstream never served (it was down). It never takes the
	// count below zero: refunding a token with nothing counted, or one never
	// seen, does nothing and is not an error.
	RefundQuota(ctx context.Context, id l402.TokenID) error

	// Revoke marks a token revoked from now on. Revoking twice is not an
	// error and changes nothing: the first reason and the first place in
	// RevokedSince's order are kept. The reason is free text for the
	// operator; any string is accepted (a store may replace bytes it
	// cannot keep, such as NUL or invalid UTF-8).
	Revoke(ctx context.Context, id l402.TokenID, reason string) error
	// Revoked reports whether the token has been revoked.
	Revoked(ctx context.Context, id l402.TokenID) (bool, error)
	// RevokedSince returns the tokens revoked after cursor, and the cursor
	// to pass next time (0 to start), so that instances can keep a local
	// copy of the revocation list and check it without a round trip.
	// Cursors are opaque, increase with every revocation, and are valid
	// across every handle on the same backing store: a caller that passes
	// back each next it receives sees every revocation exactly once, in the
	// order they were made, even when other instances revoke concurrently.
	// With nothing new, ids is empty and next equals cursor.
	RevokedSince(ctx context.Context, cursor int64) (ids []l402.TokenID, next int64, err error)

	// RecordSale records the sale of a token, once: recording the same
	// token again returns false and changes nothing.
	RecordSale(ctx context.Context, sale Sale) (recorded bool, err error)
	// Sales returns the sales made at or after since, newest first (by At,
	// then most recently recorded first), at most limit of them; a limit
	// below 1 returns none. since is compared to the microsecond, like At,
	// so a sale is always found by its own At. The zero since means from the
	// beginning.
	Sales(ctx context.Context, since time.Time, limit int) ([]Sale, error)

	// Close releases the store's connections. The store must not be used
	// after Close.
	Close() error
}

// Sale is a token bought: the invoice behind it was paid.
type Sale struct {
	TokenID     l402.TokenID     `json:"token_id"`
	PaymentHash l402.PaymentHash `json:"payment_hash"`
	// Route is the name of the route the token was minted for.
	Route  string         `json:"route"`
	Amount money.MilliSat `json:"amount_msat"`
	// At is when the sale was made. Stores keep it to the microsecond
	// (PostgreSQL's precision) and return it in UTC.
	At time.Time `json:"at"`
}

// Errors a Store returns, which the gateway maps to a fresh challenge.
var (
	// ErrQuotaExhausted means the token has used all its requests.
	ErrQuotaExhausted = errors.New("gate: token quota used up")
	// ErrRevoked means the token was revoked by the operator.
	ErrRevoked = errors.New("gate: token revoked")
)
