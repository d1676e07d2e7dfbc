package lnd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
)

// DecodeInvoice parses an invoice offline and refuses one for another
// network than the node's.
func (n *Node) DecodeInvoice(payreq string) (lightning.Invoice, error) {
	if n.network == "" {
		return lightning.Invoice{}, fmt.Errorf("lnd: the node's network is unknown, so no invoice can be checked before paying; use a macaroon with info:read: %w",
			&lightning.PermissionError{Call: "GetInfo", Need: permissions["GetInfo"]})
	}
	inv, err := lightning.DecodeInvoice(payreq, n.network)
	if err != nil {
		return lightning.Invoice{}, fmt.Errorf("lnd: %w", err)
	}
	return inv, nil
}

// Pay pays an invoice and waits for the outcome.
//
// The invoice is decoded and checked before the node sees it: one without
// an amount, expired, or for another network is refused here. MaxFee is
// sent as fee_limit_msat, which lnd reads as a hard cap where 0 allows
// zero-fee routes only (direct channels), never "unlimited". Timeout
// becomes timeout_seconds: how long lnd keeps starting new attempts; an
// HTLC already out is waited for regardless, which is why ctx, not
// Timeout, bounds how long Pay waits. When ctx ends first, Pay returns the
// in-flight payment and an error wrapping lightning.ErrPaymentInFlight:
// lnd carries on, and TrackPayment has the outcome.
//
// lnd pays a payment hash at most once: an invoice already paid or being
// paid makes Pay wait for and return that payment, with AlreadyPaid set.
func (n *Node) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	inv, err := n.DecodeInvoice(req.Invoice)
	if err != nil {
		return lightning.Payment{}, err
	}
	if err := lightning.CheckPayable(inv, time.Now()); err != nil {
		return lightning.Payment{}, fmt.Errorf("lnd: %w", err)
	}
	if req.MaxFee < 0 || !req.MaxFee.Valid() {
		return lightning.Payment{}, fmt.Errorf("lnd: fee limit %s is negative: %w", req.MaxFee, lightning.ErrInvalidRequest)
	}
	if req.Timeout <= 0 {
		return lightning.Payment{}, fmt.Errorf("lnd: payment timeout %s is not positive: %w", req.Timeout, lightning.ErrInvalidRequest)
	}
	timeout := (req.Timeout + time.Second - 1) / time.Second
	if timeout > math.MaxInt32 {
		return lightning.Payment{}, fmt.Errorf("lnd: payment timeout %s is more than lnd accepts: %w", req.Timeout, lightning.ErrInvalidRequest)
	}

	// Canceling the stream does not cancel the payment: it is not sent
	// as cancelable.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.log.Info("lnd: paying", "payment_hash", inv.Hash, "amount", inv.Amount, "max_fee", req.MaxFee, "destination", inv.Destination)
	inFlight := lightning.Payment{Hash: inv.Hash, Status: lightning.PaymentInFlight, Amount: inv.Amount}
	call := "SendPaymentV2"
	var p lightning.Payment
	stream, err := n.router.SendPaymentV2(ctx, &routerrpc.SendPaymentRequest{
		PaymentRequest:    inv.PaymentRequest,
		FeeLimitMsat:      int64(req.MaxFee),
		TimeoutSeconds:    int32(timeout),
		NoInflightUpdates: true,
	})
	if err == nil {
		p, err = n.await(ctx, stream.Recv, inFlight)
	}
	if status.Code(err) == codes.AlreadyExists {
		// lnd pays a hash once and refuses again with AlreadyExists
		// ("invoice is already paid", "payment is in transition"): the
		// earlier payment is the answer.
		n.log.Info("lnd: invoice paid or being paid before; tracking that payment", "payment_hash", inv.Hash)
		call = "TrackPaymentV2"
		inFlight.AlreadyPaid = true
		p, err = n.track(ctx, inv.Hash, inFlight)
	}
	if isRPCError(err) {
		err = mapError(errContext{addr: n.addr, call: call, network: n.network, invoice: &inv}, err)
	}
	if err != nil {
		n.log.Info("lnd: payment not made", "payment_hash", inv.Hash, "status", p.Status, "failure", p.Failure, "err", err)
		return p, err
	}
	// The preimage proves payment of p.Hash; it must be the invoice's.
	if p.Hash != inv.Hash {
		return lightning.Payment{}, fmt.Errorf("lnd: asked to pay %s, the node reports paying %s", inv.Hash, p.Hash)
	}
	n.log.Info("lnd: paid", "payment_hash", p.Hash, "amount", p.Amount, "fee", p.Fee, "hops", p.Hops, "already_paid", p.AlreadyPaid)
	return p, nil
}

// isRPCError reports whether err came from gRPC, still to be mapped.
func isRPCError(err error) bool {
	_, ok := status.FromError(err)
	return err != nil && ok
}

// TrackPayment returns the outcome of an earlier payment, waiting while it
// is in flight until ctx ends.
func (n *Node) TrackPayment(ctx context.Context, hash l402.PaymentHash) (lightning.Payment, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := n.track(ctx, hash, lightning.Payment{})
	if isRPCError(err) {
		err = n.rpcError("TrackPaymentV2", err)
	}
	return p, err
}

// track follows the payment for hash until it is final or ctx ends; known
// is the payment as known before (see await). gRPC errors are returned as
// they are, for the caller to map.
func (n *Node) track(ctx context.Context, hash l402.PaymentHash, known lightning.Payment) (lightning.Payment, error) {
	// In-flight updates are asked for: the first one tells what the
	// payment is, which is what to return if ctx ends before the outcome.
	stream, err := n.router.TrackPaymentV2(ctx, &routerrpc.TrackPaymentRequest{PaymentHash: hash[:]})
	if err != nil {
		return lightning.Payment{}, err
	}
	return n.await(ctx, stream.Recv, known)
}

// await reads payment updates until a final one, returning a failure as a
// *lightning.PaymentError. last is the payment as known so far, returned
// in flight if ctx ends first; when it has no hash, the payment is not
// known to exist and only ctx's error is returned.
func (n *Node) await(ctx context.Context, recv func() (*lnrpc.Payment, error), last lightning.Payment) (lightning.Payment, error) {
	for {
		update, err := recv()
		if err != nil {
			switch ended := ctxEnded(ctx, err); {
			case ended != nil:
				if last.Hash == (l402.PaymentHash{}) {
					return lightning.Payment{}, fmt.Errorf("lnd: no news of the payment before: %w", ended)
				}
				return last, fmt.Errorf("lnd: payment %s is still in flight; track it by hash, do not pay again: %w (%w)", last.Hash, lightning.ErrPaymentInFlight, ended)
			case errors.Is(err, io.EOF):
				return last, fmt.Errorf("lnd: the node ended the payment stream before the outcome; track it by hash, do not pay again: %w", lightning.ErrPaymentInFlight)
			}
			return lightning.Payment{}, err
		}
		p, err := payment(update)
		if err != nil {
			return lightning.Payment{}, err
		}
		p.AlreadyPaid = last.AlreadyPaid
		switch p.Status {
		case lightning.PaymentSucceeded:
			return p, nil
		case lightning.PaymentFailed:
			return p, fmt.Errorf("lnd: %w", &lightning.PaymentError{Payment: p})
		}
		last = p
	}
}

// ctxEnded returns ctx's error, or the one a stream reported for it: the
// server can see the deadline pass a moment before the client does.
func ctxEnded(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	case codes.Canceled:
		return context.Canceled
	}
	return nil
}

// payment converts lnd's payment. A succeeded payment's preimage is checked
// against its hash: a wrong one would be a token nobody accepts.
func payment(in *lnrpc.Payment) (lightning.Payment, error) {
	hash, err := l402.ParsePaymentHash(in.PaymentHash)
	if err != nil {
		return lightning.Payment{}, fmt.Errorf("lnd: the node reported a payment with a malformed hash: %w", err)
	}
	var conv amounts
	p := lightning.Payment{
		Hash:   hash,
		Amount: conv.msat(in.ValueMsat),
		Fee:    conv.msat(in.FeeMsat),
	}
	if conv.err != nil {
		return lightning.Payment{}, conv.err
	}
	if in.CreationTimeNs > 0 {
		p.CreatedAt = time.Unix(0, in.CreationTimeNs)
	}
	switch in.Status {
	case lnrpc.Payment_SUCCEEDED:
		p.Status = lightning.PaymentSucceeded
		if p.Preimage, err = l402.ParsePreimage(in.PaymentPreimage); err != nil || p.Preimage.Hash() != hash {
			return lightning.Payment{}, fmt.Errorf("lnd: the node reported payment %s succeeded without its preimage", hash)
		}
		for _, htlc := range in.Htlcs {
			if htlc.Status == lnrpc.HTLCAttempt_SUCCEEDED && htlc.Route != nil {
				p.Hops = len(htlc.Route.Hops)
				break
			}
		}
	case lnrpc.Payment_FAILED:
		p.Status = lightning.PaymentFailed
		p.Failure = failureReason(in.FailureReason)
	default:
		// INITIATED, IN_FLIGHT and the deprecated UNKNOWN: nothing
		// final, so not safe to pay again.
		p.Status = lightning.PaymentInFlight
	}
	return p, nil
}

func failureReason(r lnrpc.PaymentFailureReason) lightning.FailureReason {
	switch r {
	case lnrpc.PaymentFailureReason_FAILURE_REASON_TIMEOUT:
		return lightning.FailureTimeout
	case lnrpc.PaymentFailureReason_FAILURE_REASON_NO_ROUTE:
		return lightning.FailureNoRoute
	case lnrpc.PaymentFailureReason_FAILURE_REASON_INCORRECT_PAYMENT_DETAILS:
		return lightning.FailureIncorrectDetails
	case lnrpc.PaymentFailureReason_FAILURE_REASON_INSUFFICIENT_BALANCE:
		return lightning.FailureInsufficientBalance
	case lnrpc.PaymentFailureReason_FAILURE_REASON_CANCELED:
		return lightning.FailureCanceled
	}
	return lightning.FailureError
}
