package cli

import (
	"context"
	"errors"

	"github.com/satloop/satloop/bakery"
	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/wallet"
)

// ExitCode is the process status satloop ends with. Agents branch on it, so
// a code keeps its meaning across releases.
type ExitCode int

const (
	// ExitOK means the command did what was asked.
	ExitOK ExitCode = 0
	// ExitError means the command failed; the message on stderr says why.
	ExitError ExitCode = 1
	// ExitUsage means the command line was wrong (unknown command or flag,
	// bad arguments): retrying the same line cannot succeed.
	ExitUsage ExitCode = 2
	// ExitRefused means satloop declined to pay and paid nothing: the
	// price is above the cap, the invoice has no amount, has expired, is
	// for another network or pays another hash than the token's, the
	// challenge is unusable, or the body could not be sent again; or the
	// wallet refused: a budget or the per-call cap, a host or operation
	// the credential does not allow, a revoked, expired or invalid
	// credential, a frozen wallet.
	ExitRefused ExitCode = 3
	// ExitPaymentFailed means the node tried to pay and gave up (no route,
	// fee above the cap...): nothing was spent.
	ExitPaymentFailed ExitCode = 4
	// ExitNetwork means the server or the node could not be reached, did
	// not answer in time, or sent a response satloop will not read
	// (headers too large...). Nothing was paid.
	ExitNetwork ExitCode = 5
	// ExitPaidNothing means satloop paid and the server did not deliver:
	// it answered 401/402 to the paid request, or 400 and above, or no
	// response came after paying. The receipt (payment hash) is the proof.
	// Also a request to a scope whose token was paid for and refused:
	// nothing is paid for it until 'satloop tokens rm' deletes the token.
	ExitPaidNothing ExitCode = 6
	// ExitQuote means --quote showed the price; nothing was paid or
	// fetched.
	ExitQuote ExitCode = 7
	// ExitInFlight means a payment's outcome is not known yet. The next
	// run resolves it with the node by payment hash; nothing is paid
	// twice.
	ExitInFlight ExitCode = 8
	// ExitHTTPError means the server answered 400 or above to a request
	// satloop did not pay for (the body is still delivered).
	ExitHTTPError ExitCode = 9
)

// usageError marks an error as the caller's mistake on the command line.
type usageError struct {
	err error
	// cmdPath names the command whose --help explains the right usage.
	cmdPath string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitCodeFor is the one place that maps an error to an exit code. The
// order matters: a payment outcome (paid, in flight, failed) outranks the
// cause it wraps, and an unreachable node outranks the refusal it caused.
func exitCodeFor(err error) ExitCode {
	var (
		usage    *usageError
		status   *httpStatusError
		refused  *client.RefusedError
		network  *networkError
		nodeDown *nodeError
		paidLost *paidNoResponseError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage):
		return ExitUsage
	case errors.Is(err, client.ErrQuoteOnly):
		return ExitQuote
	case errors.Is(err, client.ErrPaidButRefused), errors.Is(err, client.ErrSellerRefusedPaid), errors.As(err, &paidLost):
		return ExitPaidNothing
	case errors.As(err, &status):
		if status.Paid {
			return ExitPaidNothing
		}
		return ExitHTTPError
	case errors.Is(err, client.ErrPaymentInFlight), errors.Is(err, wallet.ErrInFlight):
		return ExitInFlight
	case errors.Is(err, client.ErrPaymentFailed), errors.Is(err, wallet.ErrPaymentFailed):
		return ExitPaymentFailed
	case errors.Is(err, wallet.ErrDaemonUnreachable), errors.Is(err, wallet.ErrUpstream), errors.Is(err, wallet.ErrNodeDown):
		return ExitNetwork
	case errors.Is(err, wallet.ErrOverBudget), errors.Is(err, wallet.ErrOverCallCap), errors.Is(err, wallet.ErrHostNotAllowed),
		errors.Is(err, wallet.ErrOpNotAllowed), errors.Is(err, wallet.ErrFrozen), errors.Is(err, wallet.ErrRevoked),
		errors.Is(err, wallet.ErrCredential), errors.Is(err, bakery.ErrExpired), errors.Is(err, wallet.ErrInvoiceRefused):
		return ExitRefused
	case errors.As(err, &nodeDown), errors.Is(err, lightning.ErrUnreachable):
		return ExitNetwork
	case errors.As(err, &refused), errors.Is(err, client.ErrChallenge):
		return ExitRefused
	case errors.As(err, &network), errors.Is(err, context.DeadlineExceeded):
		return ExitNetwork
	default:
		return ExitError
	}
}
