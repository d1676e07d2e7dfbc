package wallet

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/satloop/satloop/bakery"
	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

// Code is the machine-readable reason of a wallet error, the same on the
// wire and in Go: the client turns a code back into the sentinel below,
// so callers on both sides branch with errors.Is.
type Code string

// Codes of wallet errors. Each says what to do next in its message.
const (
	CodeCredentialInvalid Code = "credential_invalid"
	CodeCredentialExpired Code = "credential_expired"
	CodeRevoked           Code = "credential_revoked"
	CodeFrozen            Code = "wallet_frozen"
	CodeOpNotAllowed      Code = "operation_not_allowed"
	CodeHostNotAllowed    Code = "host_not_allowed"
	CodeOverCallCap       Code = "over_call_cap"
	CodeBudgetExhausted   Code = "budget_exhausted"
	CodeInvoiceRefused    Code = "invoice_refused"
	CodeInFlight          Code = "payment_in_flight"
	CodeAlreadyPaid       Code = "already_paid"
	CodePaymentFailed     Code = "payment_failed"
	CodePaidButRefused    Code = "paid_but_refused"
	CodeSellerRefusedPaid Code = "seller_refused_paid"
	CodeUpstream          Code = "upstream_unreachable"
	CodeNodeUnavailable   Code = "node_unavailable"
	CodeBadRequest        Code = "bad_request"
	CodeNotFound          Code = "not_found"
	CodeInternal          Code = "internal"
)

// Sentinels for the codes that have no ledger or bakery sentinel of
// their own.
var (
	ErrCredential     = errors.New("wallet: credential refused")
	ErrOpNotAllowed   = errors.New("wallet: the credential does not allow this operation")
	ErrHostNotAllowed = errors.New("wallet: the credential does not allow this host")
	ErrOverCallCap    = errors.New("wallet: price above the credential's per-call cap")
	ErrInvoiceRefused = errors.New("wallet: invoice refused before paying")
	ErrPaymentFailed  = errors.New("wallet: payment failed; nothing was spent")
	ErrUpstream       = errors.New("wallet: the seller could not be reached")
	ErrNodeDown       = errors.New("wallet: the node is not available")
	ErrBadRequest     = errors.New("wallet: bad request")
	ErrInternal       = errors.New("wallet: internal error")
)

// sentinels maps each code to the error errors.Is finds for it.
var sentinels = map[Code]error{
	CodeCredentialInvalid: ErrCredential,
	CodeCredentialExpired: bakery.ErrExpired,
	CodeRevoked:           ErrRevoked,
	CodeFrozen:            ErrFrozen,
	CodeOpNotAllowed:      ErrOpNotAllowed,
	CodeHostNotAllowed:    ErrHostNotAllowed,
	CodeOverCallCap:       ErrOverCallCap,
	CodeBudgetExhausted:   ErrOverBudget,
	CodeInvoiceRefused:    ErrInvoiceRefused,
	CodeInFlight:          ErrInFlight,
	CodeAlreadyPaid:       ErrAlreadyPaid,
	CodePaymentFailed:     ErrPaymentFailed,
	CodePaidButRefused:    client.ErrPaidButRefused,
	CodeSellerRefusedPaid: client.ErrSellerRefusedPaid,
	CodeUpstream:          ErrUpstream,
	CodeNodeUnavailable:   ErrNodeDown,
	CodeBadRequest:        ErrBadRequest,
	CodeNotFound:          ErrNotFound,
	CodeInternal:          ErrInternal,
}

// Error is a refusal or failure of the wallet, as an agent sees it. Its
// JSON form is the body of every error the daemon answers.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Limit names the limit that refused ("budget 5000 sat/day",
	// "per-call cap 200 sat"), Left what it still allows and ResetsAt when
	// it frees room; set for limits only.
	Limit    string         `json:"limit,omitempty"`
	Left     money.MilliSat `json:"left_msat,omitempty"`
	ResetsAt time.Time      `json:"resets_at,omitzero"`
	// Receipt says what was paid, for paid_but_refused.
	Receipt *client.Receipt `json:"receipt,omitempty"`
	// cause is the Go error behind it, kept in-process only.
	cause error
}

func (e *Error) Error() string { return "wallet: " + e.Message }

// Unwrap lets errors.Is find the code's sentinel and the cause.
func (e *Error) Unwrap() []error {
	errs := []error{sentinels[e.Code]}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

func newError(code Code, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), cause: cause}
}

// asError turns any error of the wallet's work into an *Error: the one
// place where Go errors become codes.
func asError(err error) *Error {
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	var paid *client.PaidButRefusedError
	var sellerRefused *client.SellerRefusedError
	var refused *client.RefusedError
	var payErr *client.PaymentError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &paid):
		e := newError(CodePaidButRefused, err, "the seller took the payment and still refused (HTTP %d); the payment hash in the receipt is the proof. Nothing more will be paid for this resource", paid.StatusCode)
		e.Receipt = &paid.Receipt
		return e
	case errors.As(err, &sellerRefused):
		return newError(CodeSellerRefusedPaid, err, "the seller refused a token it was paid for (%s); nothing is bought again for %s until the operator deletes that token", sellerRefused.TokenID, sellerRefused.Host)
	case errors.As(err, &tooBig):
		return newError(CodeBadRequest, err, "the request body is larger than the %d bytes the wallet forwards; send a smaller one", tooBig.Limit)
	case errors.Is(err, client.ErrChallenge), errors.Is(err, client.ErrTooManyAttempts):
		return newError(CodeUpstream, err, "%v", err)
	case errors.As(err, &refused):
		return newError(CodeInvoiceRefused, err, "%v; nothing was paid", refused)
	case errors.As(err, &payErr) && errors.Is(err, client.ErrPaymentInFlight):
		return newError(CodeInFlight, err, "payment %s is in flight; it is not paid again. Ask again later: the wallet tracks it", payErr.Hash)
	case errors.As(err, &payErr):
		return newError(CodePaymentFailed, err, "payment failed, nothing was spent: %v", payErr.Err)
	case errors.Is(err, lightning.ErrPaymentInFlight):
		return newError(CodeInFlight, err, "the payment is in flight; it is not paid again. Ask again later: the wallet tracks it")
	case errors.Is(err, lightning.ErrUnreachable), errors.Is(err, lightning.ErrWalletLocked), errors.Is(err, lightning.ErrPermission):
		return newError(CodeNodeUnavailable, err, "the wallet's node cannot do this now (%v); tell the operator", err)
	case errors.Is(err, ErrRevoked):
		return newError(CodeRevoked, err, "this credential was revoked by the operator; ask for a new one")
	case errors.Is(err, ErrFrozen):
		return newError(CodeFrozen, err, "the operator froze all spending; nothing is paid until it is unfrozen")
	case errors.Is(err, ErrInFlight):
		return newError(CodeInFlight, err, "a payment for this invoice is in flight; it is not paid again")
	case errors.Is(err, ErrAlreadyPaid):
		return newError(CodeAlreadyPaid, err, "this invoice is already paid")
	case errors.Is(err, bakery.ErrExpired):
		return newError(CodeCredentialExpired, err, "%v", err)
	case errors.Is(err, bakery.ErrMalformed), errors.Is(err, bakery.ErrBadSignature),
		errors.Is(err, bakery.ErrUnknownAgent), errors.Is(err, bakery.ErrUnknownCaveat):
		return newError(CodeCredentialInvalid, err, "%v", err)
	case errors.Is(err, ErrNotFound):
		return newError(CodeNotFound, err, "not found")
	}
	return newError(CodeInternal, err, "internal error; the daemon's log has the details")
}

// httpStatusFor is the daemon's one mapping from codes to HTTP statuses.
func httpStatusFor(code Code) int {
	switch code {
	case CodeCredentialInvalid, CodeCredentialExpired:
		return http.StatusUnauthorized
	case CodeRevoked, CodeFrozen, CodeOpNotAllowed, CodeHostNotAllowed, CodeOverCallCap, CodeBudgetExhausted:
		return http.StatusForbidden
	case CodeInvoiceRefused:
		return http.StatusUnprocessableEntity
	case CodeInFlight, CodeAlreadyPaid:
		return http.StatusConflict
	case CodePaymentFailed, CodePaidButRefused, CodeSellerRefusedPaid, CodeUpstream:
		return http.StatusBadGateway
	case CodeNodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeNotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}
