package client

import (
	"context"
	"time"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

// Defaults for the zero values of Policy.
const (
	// DefaultMaxPrice is the per-request cap when Policy.MaxPrice is zero:
	// 1,000 sat. A cap always applies; there is no "unlimited".
	DefaultMaxPrice = money.MilliSat(1_000_000)
	// DefaultMaxFee is the routing fee cap when Policy.MaxFee is zero.
	DefaultMaxFee = money.MilliSat(10_000)
	// DefaultPayTimeout bounds the node's route search when
	// Policy.PayTimeout is zero.
	DefaultPayTimeout = 60 * time.Second
	// DefaultMaxBodyBuffer is how much of a request body without GetBody
	// is buffered for replay when Policy.MaxBodyBuffer is zero: 1 MiB.
	DefaultMaxBodyBuffer = 1 << 20
	// DefaultTrackTimeout bounds how long a pending payment left by a crash
	// is tracked before the scope is reported in flight.
	DefaultTrackTimeout = 10 * time.Second
)

// MaxChallengeBytes caps the WWW-Authenticate values of a 402 that the
// Transport parses: a real challenge is under 2 KiB (Aperture's two lines
// about 1.5 KiB). Larger ones are refused with ErrChallenge. The
// http.Transport underneath should cap the whole response header as well
// (MaxResponseHeaderBytes; the CLI sets 64 KiB).
const MaxChallengeBytes = 16 << 10

// Policy says what the Transport may pay. Its zero value is safe: a
// 1,000-sat cap per request, 10-sat fee cap, every price approved below
// the cap.
type Policy struct {
	// MaxPrice caps the invoice amount of one purchase; zero means
	// DefaultMaxPrice.
	MaxPrice money.MilliSat
	// MaxFee caps the routing fee of one payment; zero means DefaultMaxFee.
	MaxFee money.MilliSat
	// PayTimeout bounds the node's search for a route; zero means
	// DefaultPayTimeout. The request's context bounds the whole exchange.
	PayTimeout time.Duration
	// TrackTimeout bounds tracking a pending payment left by a crash;
	// zero means DefaultTrackTimeout.
	TrackTimeout time.Duration
	// QuoteOnly never pays: a 402 whose invoice is payable is returned as
	// a *RefusedError with Reason ErrQuoteOnly and the Quote. Tokens
	// already held are still used, since they cost nothing more.
	QuoteOnly bool
	// MaxBodyBuffer caps how much of a request body without GetBody is
	// kept for replay after paying; zero means DefaultMaxBodyBuffer.
	MaxBodyBuffer int64
	// Approve, when set, is asked before every payment, after the checks
	// above; an error refuses the payment (ErrNotApproved, wrapping it).
	// A budget keeper (the allowance daemon) hooks in here. It runs while
	// the scope's purchase lock is held.
	Approve func(ctx context.Context, q Quote) error
}

func (p Policy) maxPrice() money.MilliSat {
	if p.MaxPrice > 0 {
		return p.MaxPrice
	}
	return DefaultMaxPrice
}

func (p Policy) maxFee() money.MilliSat {
	if p.MaxFee > 0 {
		return p.MaxFee
	}
	return DefaultMaxFee
}

func (p Policy) payTimeout() time.Duration {
	if p.PayTimeout > 0 {
		return p.PayTimeout
	}
	return DefaultPayTimeout
}

func (p Policy) trackTimeout() time.Duration {
	if p.TrackTimeout > 0 {
		return p.TrackTimeout
	}
	return DefaultTrackTimeout
}

func (p Policy) maxBodyBuffer() int64 {
	if p.MaxBodyBuffer > 0 {
		return p.MaxBodyBuffer
	}
	return DefaultMaxBodyBuffer
}

// Quote is what a server asks for a request, read from its challenge and
// invoice before anything is paid.
type Quote struct {
	// URL is the request's URL without user info, query or fragment.
	URL    string `json:"url"`
	Host   string `json:"host"`
	Origin string `json:"origin"`
	Scope  string `json:"scope"`
	// Price is the invoice amount; meaningful only when HasAmount.
	Price     money.MilliSat `json:"price_msat"`
	HasAmount bool           `json:"has_amount"`
	// Description is the invoice's description, as the seller wrote it.
	Description string            `json:"description,omitempty"`
	ExpiresAt   time.Time         `json:"expires_at,omitzero"`
	Network     lightning.Network `json:"network,omitempty"`
	// PaymentHash is the invoice's; TokenPaymentHash the one the offered
	// token is bound to. They differ only in a refused challenge.
	PaymentHash      l402.PaymentHash `json:"payment_hash"`
	TokenPaymentHash l402.PaymentHash `json:"token_payment_hash"`
	Invoice          string           `json:"invoice"`
}
