package lnd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/satloop/satloop/lightning"
)

// permissions lists what each RPC the adapter calls needs, copied from
// lnd v0.21.2's own maps (rpcserver.go MainRPCServerPermissions,
// lnrpc/routerrpc/router_server.go and lnrpc/invoicesrpc/invoices_server.go
// macPermissions), so that a refusal can name the permission to add.
var permissions = map[string][]lightning.Permission{
	"GetInfo":                {{Entity: "info", Action: "read"}},
	"AddInvoice":             {{Entity: "invoices", Action: "write"}},
	"LookupInvoice":          {{Entity: "invoices", Action: "read"}},
	"SubscribeSingleInvoice": {{Entity: "invoices", Action: "read"}},
	"SendPaymentV2":          {{Entity: "offchain", Action: "write"}},
	"TrackPaymentV2":         {{Entity: "offchain", Action: "read"}},
	"WalletBalance":          {{Entity: "onchain", Action: "read"}},
	"ChannelBalance":         {{Entity: "offchain", Action: "read"}},
	"ListChannels":           {{Entity: "offchain", Action: "read"}},
	"NewAddress":             {{Entity: "address", Action: "write"}},
	"ConnectPeer":            {{Entity: "peers", Action: "write"}},
	"OpenChannelSync":        {{Entity: "onchain", Action: "write"}, {Entity: "offchain", Action: "write"}},
	"BakeMacaroon":           {{Entity: "macaroon", Action: "generate"}},
}

// Texts lnd's RPC interceptor (rpcperms/interceptor.go) returns, with code
// Unknown, for every call but the wallet unlocker's until the node is ready.
const (
	textWalletLocked  = "wallet locked, unlock it to enable full RPC access"
	textNoWallet      = "wallet not created, create one to enable full RPC access"
	textWaitingStart  = "waiting to start, RPC services not available"
	textRPCStarting   = "the RPC server is in the process of starting up, but not yet ready to accept calls"
	textPermission    = "permission denied" // macaroon-bakery's ErrPermissionDenied
	textInvoiceExpiry = "invoice expired"   // routerrpc.ValidatePayReqExpiry
	textWrongNetwork  = "not for current active network"
)

// macaroonRefusals are texts lnd returns for a macaroon it cannot use at
// all, as opposed to one lacking a permission; each maps to what to do.
var macaroonRefusals = []struct{ text, why string }{
	{"expected 1 macaroon", "no macaroon was sent"},
	{"verification failed", "the macaroon was not made by this node"},
	{"root key with id", "the macaroon was not made by this node, or its root key was deleted"},
	{"cannot get macaroon", "the macaroon was not made by this node, or its root key was deleted"},
	{"macaroon has expired", "the macaroon has expired"},
	{"not satisfied", "a caveat of the macaroon does not hold"},
	{"invalid ID", "the macaroon is not an lnd macaroon"},
	{"unknown macaroon version", "the macaroon is not an lnd macaroon"},
}

// errContext is what mapError knows about the failed call.
type errContext struct {
	addr    string
	call    string
	network lightning.Network
	// invoice is the invoice the call was about, if any.
	invoice *lightning.Invoice
}

// mapError turns an error from an lnd call into one that starts with
// "lnd: " and wraps the lightning error a caller can act on. It is the one
// place that reads lnd's error texts; they are never passed on verbatim,
// since nothing guarantees they hold no secret (see redact).
func mapError(c errContext, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("lnd: %s: %w", c.call, err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("lnd: %s: %s", c.call, redact(err.Error()))
	}
	msg := st.Message()
	clean := status.Error(st.Code(), redact(msg))

	switch st.Code() {
	case codes.Unavailable:
		return fmt.Errorf("lnd: %s: %w", c.call, &lightning.UnreachableError{Addr: c.addr, Err: clean})
	case codes.DeadlineExceeded:
		return fmt.Errorf("lnd: %s: %w", c.call, context.DeadlineExceeded)
	case codes.Canceled:
		return fmt.Errorf("lnd: %s: %w", c.call, context.Canceled)
	case codes.NotFound:
		switch c.call {
		case "TrackPaymentV2":
			return fmt.Errorf("lnd: %s: %w", c.call, lightning.ErrPaymentNotFound)
		case "LookupInvoice":
			return fmt.Errorf("lnd: %s: %w", c.call, lightning.ErrInvoiceNotFound)
		}
	}

	switch {
	case strings.Contains(msg, textWalletLocked):
		return fmt.Errorf("lnd: %s: the node's wallet is locked; unlock it with `lncli unlock`: %w", c.call, lightning.ErrWalletLocked)
	case strings.Contains(msg, textNoWallet):
		return fmt.Errorf("lnd: %s: the node has no wallet yet; create one with `lncli create`: %w", c.call, lightning.ErrWalletLocked)
	case strings.Contains(msg, textWaitingStart), strings.Contains(msg, textRPCStarting):
		return fmt.Errorf("lnd: %s: the node is still starting (unlock it with `lncli unlock` if it waits for that), retry in a moment: %w", c.call, lightning.ErrWalletLocked)
	case msg == textPermission:
		return fmt.Errorf("lnd: %w", &lacksPermissionError{&lightning.PermissionError{Call: c.call, Need: permissions[c.call]}})
	case strings.Contains(msg, "unable to locate invoice"):
		return fmt.Errorf("lnd: %s: %w", c.call, lightning.ErrInvoiceNotFound)
	case strings.Contains(msg, textInvoiceExpiry):
		expired := &lightning.ExpiredError{}
		if c.invoice != nil {
			expired.ExpiredAt = c.invoice.ExpiresAt
		}
		return fmt.Errorf("lnd: %s: %w", c.call, expired)
	case strings.Contains(msg, textWrongNetwork):
		wrong := &lightning.WrongNetworkError{Invoice: "another network", Node: c.network}
		if c.invoice != nil {
			wrong.Invoice = c.invoice.Network
		}
		return fmt.Errorf("lnd: %s: %w", c.call, wrong)
	}
	for _, r := range macaroonRefusals {
		if strings.Contains(msg, r.text) {
			return fmt.Errorf("lnd: %s: the node refused the macaroon (%s): %w", c.call, r.why, &lightning.PermissionError{Call: c.call, Need: permissions[c.call]})
		}
	}
	return fmt.Errorf("lnd: %s: %w", c.call, clean)
}

// lacksPermissionError is a refusal of a macaroon the node accepted as its
// own but that lacks the call's permission, as opposed to a macaroon the
// node rejects outright: only the former proves the connection is
// authenticated. It reads and matches as its *lightning.PermissionError.
type lacksPermissionError struct{ *lightning.PermissionError }

func (e *lacksPermissionError) Unwrap() error { return e.PermissionError }

// maxErrorText bounds how much of lnd's text an error carries.
const maxErrorText = 300

// longHex matches runs of hex long enough to be a secret: a preimage is 64
// hex digits, a macaroon hundreds. Payment hashes go too; they cannot be
// told apart from preimages, and the caller knows the hash anyway.
var longHex = regexp.MustCompile(`[0-9a-fA-F]{64,}`)

// redact strips from lnd's error text what could be a secret, and bounds
// its length.
func redact(msg string) string {
	msg = longHex.ReplaceAllString(msg, "[redacted hex]")
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText] + "..."
	}
	return msg
}
