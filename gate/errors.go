package gate

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/satloop/satloop/l402"
)

// Errors of the gateway's own, beside the l402 and Store sentinels; each
// maps to one answer in responseFor.
var (
	errRateLimited      = errors.New("too many unpaid requests from this address")
	errNodeUnavailable  = errors.New("the Lightning node cannot create an invoice")
	errStoreUnavailable = errors.New("the gateway's store is unavailable")
	errUpstream         = errors.New("the upstream did not answer")
	errBadRequest       = errors.New("bad request")
	errNoRoute          = errors.New("no route for this request")
)

// rateLimitedError says how long until the client may get a challenge.
type rateLimitedError struct{ wait time.Duration }

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("gate: %s; retry in %s", errRateLimited, e.wait.Round(time.Second))
}
func (e *rateLimitedError) Unwrap() error { return errRateLimited }

// response is how the gateway answers a request it does not proxy.
type response struct {
	status int
	// challenge attaches a fresh challenge: buying a token fixes this.
	challenge bool
	// reason labels the refusal in metrics and debug logs.
	reason string
	// body is the text sent; it never holds a credential.
	body string
}

// responseFor is the one place that maps an error to the gateway's answer.
//
//	no credential, or one for another service, capability or constraint,
//	expired, revoked, over its quota, unknown            402 + fresh challenge
//	malformed, unknown identifier version, forged,
//	tampered, widened by attenuation, wrong preimage     401 + fresh challenge
//	a bad number for a constraint (?limit=abc), a path
//	with . or .. segments or doubled slashes              400
//	no route matches                                     404
//	challenge refused by the per-address limit           429 + Retry-After
//	node cannot create an invoice, store unreachable     503 + Retry-After
//	upstream unreachable                                 502
//
// A 401 carries a challenge too, so that a client holding a broken token
// can buy a new one without another round trip.
func responseFor(err error) response {
	paymentRequired := func(reason string) response {
		return response{status: http.StatusPaymentRequired, challenge: true, reason: reason, body: "payment required"}
	}
	unauthorized := func(reason string) response {
		return response{status: http.StatusUnauthorized, challenge: true, reason: reason, body: "unauthorized: the L402 credential is " + reason}
	}
	switch {
	case errors.Is(err, errRateLimited):
		return response{status: http.StatusTooManyRequests, reason: "rate_limited", body: "rate limit exceeded"}
	case errors.Is(err, errNodeUnavailable):
		return response{status: http.StatusServiceUnavailable, reason: "node_unavailable", body: "payment temporarily unavailable: try again later"}
	case errors.Is(err, errStoreUnavailable):
		return response{status: http.StatusServiceUnavailable, reason: "store_unavailable", body: "temporarily unavailable: try again later"}
	case errors.Is(err, errUpstream):
		return response{status: http.StatusBadGateway, reason: "upstream_unavailable", body: "bad gateway: the upstream did not answer"}
	case errors.Is(err, errNoRoute):
		return response{status: http.StatusNotFound, reason: "no_route", body: errNoRoute.Error()}
	case errors.Is(err, errBadRequest):
		return response{status: http.StatusBadRequest, reason: "bad_request", body: err.Error()}
	case errors.Is(err, l402.ErrNoCredential):
		return paymentRequired("no_credential")
	case errors.Is(err, ErrRevoked):
		return paymentRequired("revoked")
	case errors.Is(err, ErrQuotaExhausted):
		return paymentRequired("quota_exhausted")
	case errors.Is(err, l402.ErrExpired):
		return paymentRequired("expired")
	case errors.Is(err, l402.ErrWrongService):
		return paymentRequired("wrong_service")
	case errors.Is(err, l402.ErrCapability):
		return paymentRequired("capability")
	case errors.Is(err, l402.ErrOverLimit):
		return paymentRequired("constraint")
	case errors.Is(err, l402.ErrUnknownToken):
		return paymentRequired("unknown_token")
	case errors.Is(err, l402.ErrMalformed), errors.Is(err, l402.ErrUnknownVersion):
		return unauthorized("malformed")
	case errors.Is(err, l402.ErrInvalid):
		return unauthorized("invalid")
	default:
		return response{status: http.StatusInternalServerError, reason: "internal", body: "internal error"}
	}
}
