// Package lightning is what satloop needs from a Lightning node, in
// satloop's own types: the Node interface, the values it returns, and the
// errors a user can act on. It imports no node implementation; adapters
// (lightning/lnd) live beneath it and consumers define narrower interfaces
// of their own over the methods they call.
package lightning

import (
	"context"
	"iter"
	"log/slog"
	"strconv"
	"time"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// Node is a Lightning node as satloop uses it. Every method that touches
// the node takes a context; DecodeInvoice is offline.
type Node interface {
	// Info describes the node: identity, network, sync state.
	Info(ctx context.Context) (NodeInfo, error)

	// CreateInvoice adds an invoice with an explicit expiry.
	CreateInvoice(ctx context.Context, req InvoiceRequest) (CreatedInvoice, error)
	// LookupInvoice returns the current state of the invoice for hash, or
	// an error wrapping ErrInvoiceNotFound.
	LookupInvoice(ctx context.Context, hash l402.PaymentHash) (InvoiceStatus, error)
	// SubscribeInvoice yields the invoice's state now and at every change
	// until ctx ends, the invoice settles or is canceled, or an error is
	// yielded (which ends the sequence).
	SubscribeInvoice(ctx context.Context, hash l402.PaymentHash) iter.Seq2[InvoiceStatus, error]

	// DecodeInvoice parses a BOLT 11 invoice without contacting the node
	// and refuses one for another network than the node's.
	DecodeInvoice(payreq string) (Invoice, error)
	// Pay pays an invoice and waits for the outcome. An invoice paid
	// before returns the earlier payment (AlreadyPaid set), never pays
	// again. A failed payment returns a *PaymentError.
	Pay(ctx context.Context, req PayRequest) (Payment, error)
	// TrackPayment returns the outcome of an earlier payment by hash,
	// waiting while it is in flight until ctx ends. A hash the node never
	// paid returns an error wrapping ErrPaymentNotFound: only then is it
	// safe to pay it.
	TrackPayment(ctx context.Context, hash l402.PaymentHash) (Payment, error)

	// Balances returns on-chain and channel balances.
	Balances(ctx context.Context) (Balances, error)
	// Channels lists the node's open channels.
	Channels(ctx context.Context) ([]Channel, error)
	// OpenChannel connects to the peer if needed and opens a channel,
	// returning once the funding transaction is published.
	OpenChannel(ctx context.Context, req OpenChannelRequest) (ChannelPoint, error)
	// NewAddress returns a fresh on-chain address of the node's wallet.
	NewAddress(ctx context.Context) (string, error)

	// BakeMacaroon asks the node for a macaroon holding only perms, the
	// credential to give a program that must not hold the admin macaroon.
	BakeMacaroon(ctx context.Context, perms []Permission) (NodeMacaroon, error)
}

// Network is a Bitcoin network name as lnd spells it.
type Network string

// The networks an invoice can be for.
const (
	Mainnet Network = "mainnet"
	Testnet Network = "testnet"
	Signet  Network = "signet"
	Regtest Network = "regtest"
	Simnet  Network = "simnet"
)

// NodeInfo describes a node.
type NodeInfo struct {
	Pubkey         string    `json:"pubkey"`
	Alias          string    `json:"alias"`
	Network        Network   `json:"network"`
	Version        string    `json:"version"`
	BlockHeight    uint32    `json:"block_height"`
	SyncedToChain  bool      `json:"synced_to_chain"`
	SyncedToGraph  bool      `json:"synced_to_graph"`
	ActiveChannels int       `json:"active_channels"`
	Peers          int       `json:"peers"`
	URIs           []string  `json:"uris,omitempty"`
	BestHeaderTime time.Time `json:"best_header_time"`
}

// InvoiceRequest asks for a new invoice.
type InvoiceRequest struct {
	// Amount is what the invoice asks for; it must be positive, because an
	// invoice without an amount lets the payer choose.
	Amount money.MilliSat
	// Memo is the description shown to the payer.
	Memo string
	// Expiry is how long the invoice can be paid. It must be positive and
	// is always sent, so that no invoice falls back on a node default
	// (24 hours on lnd).
	Expiry time.Duration
	// Preimage, when set, is used instead of a random one chosen by the
	// node.
	Preimage *l402.Preimage
}

// CreatedInvoice is an invoice the node has just added.
type CreatedInvoice struct {
	PaymentRequest string           `json:"payment_request"`
	Hash           l402.PaymentHash `json:"payment_hash"`
	Amount         money.MilliSat   `json:"amount_msat"`
	ExpiresAt      time.Time        `json:"expires_at"`
	// AddIndex orders invoices on the node; subscriptions resume from it.
	AddIndex uint64 `json:"add_index"`
}

// InvoiceState is where an invoice is in its life.
type InvoiceState string

// Invoice states. Accepted means a held (hodl) invoice has its HTLCs but is
// not settled yet.
const (
	InvoiceOpen     InvoiceState = "open"
	InvoiceAccepted InvoiceState = "accepted"
	InvoiceSettled  InvoiceState = "settled"
	InvoiceCanceled InvoiceState = "canceled"
)

// Final reports whether the state can no longer change.
func (s InvoiceState) Final() bool { return s == InvoiceSettled || s == InvoiceCanceled }

// InvoiceStatus is an invoice as the node sees it now.
type InvoiceStatus struct {
	Hash       l402.PaymentHash `json:"payment_hash"`
	State      InvoiceState     `json:"state"`
	Amount     money.MilliSat   `json:"amount_msat"`
	AmountPaid money.MilliSat   `json:"amount_paid_msat"`
	Memo       string           `json:"memo,omitempty"`
	CreatedAt  time.Time        `json:"created_at"`
	ExpiresAt  time.Time        `json:"expires_at"`
	SettledAt  time.Time        `json:"settled_at,omitzero"`
}

// Invoice is a decoded BOLT 11 payment request.
type Invoice struct {
	PaymentRequest string           `json:"payment_request"`
	Network        Network          `json:"network"`
	Hash           l402.PaymentHash `json:"payment_hash"`
	// Amount is meaningful only when HasAmount is true. An invoice without
	// an amount must never be treated as free.
	Amount          money.MilliSat `json:"amount_msat"`
	HasAmount       bool           `json:"has_amount"`
	Description     string         `json:"description,omitempty"`
	DescriptionHash string         `json:"description_hash,omitempty"`
	Destination     string         `json:"destination"`
	CreatedAt       time.Time      `json:"created_at"`
	ExpiresAt       time.Time      `json:"expires_at"`
}

// Expired reports whether the invoice can no longer be paid at now.
func (inv Invoice) Expired(now time.Time) bool { return !now.Before(inv.ExpiresAt) }

// PayRequest asks the node to pay an invoice.
type PayRequest struct {
	Invoice string
	// MaxFee caps the routing fee; zero means no fee at all is allowed.
	MaxFee money.MilliSat
	// Timeout bounds the node's search for a route; it must be positive.
	// The payment may still settle after the caller's ctx ends: lnd keeps
	// trying in the background, which is why TrackPayment exists.
	Timeout time.Duration
}

// PaymentStatus is where a payment is in its life.
type PaymentStatus string

// Payment statuses. Only Succeeded and Failed are final.
const (
	PaymentInFlight  PaymentStatus = "in_flight"
	PaymentSucceeded PaymentStatus = "succeeded"
	PaymentFailed    PaymentStatus = "failed"
)

// Payment is an outgoing payment.
type Payment struct {
	Hash   l402.PaymentHash `json:"payment_hash"`
	Status PaymentStatus    `json:"status"`
	// Preimage proves payment; it is set only when Status is Succeeded.
	// It redacts itself in logs and is left out of JSON.
	Preimage l402.Preimage  `json:"-"`
	Amount   money.MilliSat `json:"amount_msat"`
	Fee      money.MilliSat `json:"fee_msat"`
	// Hops is the number of channels the successful route took.
	Hops int `json:"hops,omitempty"`
	// Failure says why a Failed payment failed.
	Failure FailureReason `json:"failure,omitempty"`
	// AlreadyPaid is true when Pay found the invoice paid earlier and
	// returned that payment instead of paying again.
	AlreadyPaid bool      `json:"already_paid,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Balances are the node's funds.
type Balances struct {
	OnChainConfirmed   money.MilliSat `json:"onchain_confirmed_msat"`
	OnChainUnconfirmed money.MilliSat `json:"onchain_unconfirmed_msat"`
	ChannelLocal       money.MilliSat `json:"channel_local_msat"`
	ChannelRemote      money.MilliSat `json:"channel_remote_msat"`
	ChannelPending     money.MilliSat `json:"channel_pending_msat"`
}

// ChannelPoint names a channel by its funding output.
type ChannelPoint struct {
	TxID        string `json:"txid"`
	OutputIndex uint32 `json:"output_index"`
}

// String returns the usual txid:index form.
func (c ChannelPoint) String() string {
	return c.TxID + ":" + strconv.FormatUint(uint64(c.OutputIndex), 10)
}

// Channel is an open channel.
type Channel struct {
	Point        ChannelPoint   `json:"channel_point"`
	ChanID       uint64         `json:"chan_id"`
	RemotePubkey string         `json:"remote_pubkey"`
	Capacity     money.MilliSat `json:"capacity_msat"`
	Local        money.MilliSat `json:"local_msat"`
	Remote       money.MilliSat `json:"remote_msat"`
	Active       bool           `json:"active"`
	Private      bool           `json:"private"`
	Initiator    bool           `json:"initiator"`
}

// OpenChannelRequest asks for a channel to a peer.
type OpenChannelRequest struct {
	// PeerPubkey is the peer's hex public key; PeerHost its host:port,
	// needed only when not connected yet.
	PeerPubkey string
	PeerHost   string
	// Capacity is what the node puts in the channel; Push of it goes to the
	// peer at once, which gives the peer liquidity to pay back.
	Capacity money.MilliSat
	Push     money.MilliSat
	Private  bool
}

// Permission is one lnd macaroon permission, such as offchain:write.
type Permission struct {
	Entity string `json:"entity"`
	Action string `json:"action"`
}

// String returns the entity:action form lnd uses.
func (p Permission) String() string { return p.Entity + ":" + p.Action }

// NodeMacaroon is a node credential. It redacts itself so that it cannot
// reach a log or an error by accident.
type NodeMacaroon []byte

// String redacts the macaroon.
func (m NodeMacaroon) String() string { return "[redacted node macaroon]" }

// GoString redacts the macaroon under %#v too.
func (m NodeMacaroon) GoString() string { return m.String() }

// LogValue redacts the macaroon in structured logs.
func (m NodeMacaroon) LogValue() slog.Value { return slog.StringValue(m.String()) }
