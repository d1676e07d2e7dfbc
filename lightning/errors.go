package lightning

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors: every error an adapter returns for these conditions
// wraps one, so callers branch with errors.Is whatever the node.
var (
	// ErrUnreachable: the node did not answer (wrong address, not running,
	// TLS certificate mismatch). Retrying later may help.
	ErrUnreachable = errors.New("lightning: node unreachable")
	// ErrWalletLocked: the node runs but its wallet is locked or not yet
	// created; its owner must unlock it.
	ErrWalletLocked = errors.New("lightning: node wallet locked")
	// ErrPermission: the credential lacks a permission the call needs.
	ErrPermission = errors.New("lightning: permission denied")
	// ErrWrongNetwork: an invoice is for another network than the node's.
	ErrWrongNetwork = errors.New("lightning: invoice for another network")
	// ErrInvoiceExpired: an invoice can no longer be paid.
	ErrInvoiceExpired = errors.New("lightning: invoice expired")
	// ErrMalformedInvoice: a payment request is not a valid BOLT 11 invoice.
	ErrMalformedInvoice = errors.New("lightning: malformed invoice")
	// ErrNoAmount: an invoice carries no amount. satloop never pays one,
	// because it cannot know what it would spend.
	ErrNoAmount = errors.New("lightning: invoice has no amount")
	// ErrNoRoute: no route to the destination with enough capacity within
	// the fee limit.
	ErrNoRoute = errors.New("lightning: no route")
	// ErrInsufficientBalance: the node's channels cannot carry the amount.
	ErrInsufficientBalance = errors.New("lightning: insufficient balance")
	// ErrPaymentFailed: any other final payment failure (timeout, invoice
	// details refused by the recipient).
	ErrPaymentFailed = errors.New("lightning: payment failed")
	// ErrPaymentInFlight: the payment is still being attempted; track it
	// by hash, do not pay again.
	ErrPaymentInFlight = errors.New("lightning: payment in flight")
	// ErrPaymentNotFound: the node has no payment for this hash.
	ErrPaymentNotFound = errors.New("lightning: payment not found")
	// ErrInvoiceNotFound: the node has no invoice for this hash.
	ErrInvoiceNotFound = errors.New("lightning: invoice not found")
	// ErrInvalidRequest: the caller asked for something the node cannot
	// do as asked (a zero amount, a negative expiry...).
	ErrInvalidRequest = errors.New("lightning: invalid request")
)

// UnreachableError says which node could not be reached and why.
type UnreachableError struct {
	Addr string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("lightning: node at %s unreachable: %v; check that it runs and that the address and TLS certificate are right", e.Addr, e.Err)
}

// Unwrap lets errors.Is find both ErrUnreachable and the cause.
func (e *UnreachableError) Unwrap() []error { return []error{ErrUnreachable, e.Err} }

// PermissionError names the call refused and the permission it needs.
type PermissionError struct {
	// Call is the node method refused, such as "SendPaymentV2".
	Call string
	// Need lists the permissions the call requires.
	Need []Permission
}

func (e *PermissionError) Error() string {
	need := ""
	for i, p := range e.Need {
		if i > 0 {
			need += ", "
		}
		need += p.String()
	}
	if need == "" {
		return fmt.Sprintf("lightning: the node macaroon may not call %s; use a macaroon baked with the permissions it needs", e.Call)
	}
	return fmt.Sprintf("lightning: the node macaroon may not call %s, which needs %s; bake one that includes it", e.Call, need)
}

// Unwrap makes errors.Is(err, ErrPermission) true.
func (e *PermissionError) Unwrap() error { return ErrPermission }

// WrongNetworkError names both networks.
type WrongNetworkError struct {
	Invoice Network
	Node    Network
}

func (e *WrongNetworkError) Error() string {
	return fmt.Sprintf("lightning: invoice is for %s but the node is on %s; it cannot be paid from this node", e.Invoice, e.Node)
}

// Unwrap makes errors.Is(err, ErrWrongNetwork) true.
func (e *WrongNetworkError) Unwrap() error { return ErrWrongNetwork }

// ExpiredError says when an invoice expired.
type ExpiredError struct {
	ExpiredAt time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("lightning: invoice expired at %s; ask the seller for a new one", e.ExpiredAt.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrInvoiceExpired) true.
func (e *ExpiredError) Unwrap() error { return ErrInvoiceExpired }

// FailureReason is why the node gave up on a payment.
type FailureReason string

// Failure reasons, as lnd reports them.
const (
	FailureTimeout             FailureReason = "timeout"
	FailureNoRoute             FailureReason = "no_route"
	FailureError               FailureReason = "error"
	FailureIncorrectDetails    FailureReason = "incorrect_payment_details"
	FailureInsufficientBalance FailureReason = "insufficient_balance"
	FailureCanceled            FailureReason = "canceled"
)

// PaymentError is a payment that reached a final failure. Nothing was
// spent.
type PaymentError struct {
	Payment Payment
}

func (e *PaymentError) Error() string {
	switch e.Payment.Failure {
	case FailureNoRoute:
		return fmt.Sprintf("lightning: payment %s failed: no route to the destination within the fee limit; try a higher fee limit or check channels", e.Payment.Hash)
	case FailureInsufficientBalance:
		return fmt.Sprintf("lightning: payment %s failed: not enough outbound balance in the node's channels", e.Payment.Hash)
	case FailureIncorrectDetails:
		return fmt.Sprintf("lightning: payment %s failed: the recipient refused it (unknown or already settled invoice, wrong amount)", e.Payment.Hash)
	case FailureTimeout:
		return fmt.Sprintf("lightning: payment %s failed: no route found before the payment timeout", e.Payment.Hash)
	}
	return fmt.Sprintf("lightning: payment %s failed: %s", e.Payment.Hash, e.Payment.Failure)
}

// Unwrap returns the sentinel matching the failure reason.
func (e *PaymentError) Unwrap() error {
	switch e.Payment.Failure {
	case FailureNoRoute:
		return ErrNoRoute
	case FailureInsufficientBalance:
		return ErrInsufficientBalance
	}
	return ErrPaymentFailed
}
