package lnd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
)

// CreateInvoice adds an invoice. The expiry is always sent, rounded up to
// whole seconds, so that no invoice falls back on lnd's 24-hour default.
func (n *Node) CreateInvoice(ctx context.Context, req lightning.InvoiceRequest) (lightning.CreatedInvoice, error) {
	if req.Amount <= 0 || !req.Amount.Valid() {
		return lightning.CreatedInvoice{}, fmt.Errorf("lnd: invoice amount %s is not positive: %w", req.Amount, lightning.ErrInvalidRequest)
	}
	if req.Expiry <= 0 {
		return lightning.CreatedInvoice{}, fmt.Errorf("lnd: invoice expiry %s is not positive: %w", req.Expiry, lightning.ErrInvalidRequest)
	}
	add := &lnrpc.Invoice{
		Memo:      req.Memo,
		ValueMsat: int64(req.Amount),
		Expiry:    int64((req.Expiry + time.Second - 1) / time.Second),
	}
	if req.Preimage != nil {
		add.RPreimage = req.Preimage[:]
	}
	resp, err := n.ln.AddInvoice(ctx, add)
	if err != nil {
		return lightning.CreatedInvoice{}, n.rpcError("AddInvoice", err)
	}
	// The node's invoice is decoded rather than trusted: what a payer
	// will see is what satloop reports.
	network := n.network
	if network == "" {
		// A macaroon without info:read (see Dial): the node's own
		// invoice says which network it is on.
		if network, err = lightning.InvoiceNetwork(resp.PaymentRequest); err != nil {
			return lightning.CreatedInvoice{}, fmt.Errorf("lnd: AddInvoice returned an invoice satloop cannot read: %w", err)
		}
	}
	inv, err := lightning.DecodeInvoice(resp.PaymentRequest, network)
	if err != nil {
		return lightning.CreatedInvoice{}, fmt.Errorf("lnd: AddInvoice returned an invoice satloop cannot read: %w", err)
	}
	switch {
	case string(resp.RHash) != string(inv.Hash[:]):
		return lightning.CreatedInvoice{}, errors.New("lnd: AddInvoice returned an invoice for another payment hash than it reported")
	case req.Preimage != nil && req.Preimage.Hash() != inv.Hash:
		return lightning.CreatedInvoice{}, errors.New("lnd: AddInvoice returned an invoice whose hash is not that of the preimage given")
	case !inv.HasAmount || inv.Amount != req.Amount:
		return lightning.CreatedInvoice{}, fmt.Errorf("lnd: AddInvoice returned an invoice for another amount than the %s asked", req.Amount)
	}
	n.log.Debug("lnd: invoice added", "payment_hash", inv.Hash, "amount", inv.Amount, "expires_at", inv.ExpiresAt)
	return lightning.CreatedInvoice{
		PaymentRequest: resp.PaymentRequest,
		Hash:           inv.Hash,
		Amount:         inv.Amount,
		ExpiresAt:      inv.ExpiresAt,
		AddIndex:       resp.AddIndex,
	}, nil
}

// LookupInvoice returns the invoice's current state, or an error wrapping
// lightning.ErrInvoiceNotFound.
func (n *Node) LookupInvoice(ctx context.Context, hash l402.PaymentHash) (lightning.InvoiceStatus, error) {
	resp, err := n.ln.LookupInvoice(ctx, &lnrpc.PaymentHash{RHash: hash[:]})
	if err != nil {
		return lightning.InvoiceStatus{}, n.rpcError("LookupInvoice", err)
	}
	return invoiceStatus(resp)
}

// SubscribeInvoice yields the invoice's state now and at every change. lnd
// waits for an invoice it does not know yet rather than refusing it, so
// for an unknown hash the sequence yields nothing until ctx ends. The
// sequence ends without an error when ctx ends.
func (n *Node) SubscribeInvoice(ctx context.Context, hash l402.PaymentHash) iter.Seq2[lightning.InvoiceStatus, error] {
	return func(yield func(lightning.InvoiceStatus, error) bool) {
		// Canceled when the consumer stops, which ends the stream.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := n.invoices.SubscribeSingleInvoice(ctx, &invoicesrpc.SubscribeSingleInvoiceRequest{RHash: hash[:]})
		if err != nil {
			if ctx.Err() == nil {
				yield(lightning.InvoiceStatus{}, n.rpcError("SubscribeSingleInvoice", err))
			}
			return
		}
		for {
			resp, err := stream.Recv()
			if err != nil {
				switch {
				case ctxEnded(ctx, err) != nil:
				case errors.Is(err, io.EOF):
					yield(lightning.InvoiceStatus{}, fmt.Errorf("lnd: SubscribeSingleInvoice: the node ended the subscription before the invoice was final: %w", io.ErrUnexpectedEOF))
				default:
					yield(lightning.InvoiceStatus{}, n.rpcError("SubscribeSingleInvoice", err))
				}
				return
			}
			status, err := invoiceStatus(resp)
			if !yield(status, err) || err != nil || status.State.Final() {
				return
			}
		}
	}
}

// invoiceStatus converts lnd's invoice.
func invoiceStatus(inv *lnrpc.Invoice) (lightning.InvoiceStatus, error) {
	var hash l402.PaymentHash
	if len(inv.RHash) != len(hash) {
		return lightning.InvoiceStatus{}, fmt.Errorf("lnd: the node reported a %d-byte payment hash", len(inv.RHash))
	}
	copy(hash[:], inv.RHash)
	var state lightning.InvoiceState
	switch inv.State {
	case lnrpc.Invoice_OPEN:
		state = lightning.InvoiceOpen
	case lnrpc.Invoice_ACCEPTED:
		state = lightning.InvoiceAccepted
	case lnrpc.Invoice_SETTLED:
		state = lightning.InvoiceSettled
	case lnrpc.Invoice_CANCELED:
		state = lightning.InvoiceCanceled
	default:
		return lightning.InvoiceStatus{}, fmt.Errorf("lnd: invoice %s is in state %d, which satloop does not know", hash, inv.State)
	}
	var conv amounts
	created := time.Unix(inv.CreationDate, 0)
	status := lightning.InvoiceStatus{
		Hash:       hash,
		State:      state,
		Amount:     conv.msat(inv.ValueMsat),
		AmountPaid: conv.msat(inv.AmtPaidMsat),
		Memo:       inv.Memo,
		CreatedAt:  created,
		ExpiresAt:  created.Add(time.Duration(inv.Expiry) * time.Second),
	}
	if conv.err != nil {
		return lightning.InvoiceStatus{}, conv.err
	}
	if inv.SettleDate > 0 {
		status.SettledAt = time.Unix(inv.SettleDate, 0)
	}
	return status, nil
}
