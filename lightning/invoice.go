package lightning

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/zpay32"

	"github.com/satloop/satloop/money"
)

// maxInvoiceLength bounds what DecodeInvoice reads, before any bech32 work:
// invoices come from servers satloop does not trust. zpay32 has the same
// bound (7089, the most a QR code holds).
const maxInvoiceLength = 7089

// networkPrefixes maps the part of an invoice's human-readable prefix after
// "ln" to its network. Longer prefixes come first because "bc" (mainnet) is
// a prefix of "bcrt" (regtest) and "tb" (testnet) of "tbs" (signet):
// zpay32.Decode with mainnet parameters lets a regtest invoice through its
// network check and fails later on the "amount".
var networkPrefixes = []struct {
	prefix  string
	network Network
	params  *chaincfg.Params
}{
	{"bcrt", Regtest, &chaincfg.RegressionNetParams},
	{"tbs", Signet, &chaincfg.SigNetParams},
	{"bc", Mainnet, &chaincfg.MainNetParams},
	{"tb", Testnet, &chaincfg.TestNet3Params},
	{"sb", Simnet, &chaincfg.SimNetParams},
}

// InvoiceNetwork tells which network a BOLT 11 invoice is for, from its
// prefix alone: nothing else in it is checked. A seller that cannot ask its
// node for the network reads it from the invoices the node makes.
func InvoiceNetwork(payreq string) (Network, error) {
	_, _, network, err := invoiceNetwork(payreq)
	return network, err
}

// invoiceNetwork returns payreq in lower case with its network, bounding
// its length before any bech32 work.
func invoiceNetwork(payreq string) (string, *chaincfg.Params, Network, error) {
	if len(payreq) > maxInvoiceLength {
		return "", nil, "", fmt.Errorf("%w: %d characters, more than the %d an invoice may have", ErrMalformedInvoice, len(payreq), maxInvoiceLength)
	}
	// bech32 is either all lower or all upper case.
	if strings.ToUpper(payreq) == payreq {
		payreq = strings.ToLower(payreq)
	}
	hrpEnd := strings.LastIndexByte(payreq, '1')
	if !strings.HasPrefix(payreq, "ln") || hrpEnd < 0 {
		return "", nil, "", fmt.Errorf("%w: a BOLT 11 invoice starts with \"ln\" and a network prefix", ErrMalformedInvoice)
	}
	hrp := payreq[2:hrpEnd]
	for _, p := range networkPrefixes {
		if strings.HasPrefix(hrp, p.prefix) {
			return payreq, p.params, p.network, nil
		}
	}
	return "", nil, "", fmt.Errorf("%w: unknown network prefix in %q", ErrMalformedInvoice, "ln"+hrp)
}

// DecodeInvoice parses a BOLT 11 payment request offline and checks that it
// is for network. It refuses nothing else: whether the amount is present,
// acceptable or expired is for the caller to judge (see Invoice.HasAmount
// and Invoice.Expired); the node adapters refuse to pay either.
func DecodeInvoice(payreq string, network Network) (Invoice, error) {
	payreq, params, invoiceNetwork, err := invoiceNetwork(payreq)
	if err != nil {
		return Invoice{}, err
	}
	if invoiceNetwork != network {
		return Invoice{}, &WrongNetworkError{Invoice: invoiceNetwork, Node: network}
	}

	decoded, err := zpay32.Decode(payreq, params)
	if err != nil {
		return Invoice{}, fmt.Errorf("%w: %v", ErrMalformedInvoice, err)
	}
	inv := Invoice{
		PaymentRequest: payreq,
		Network:        invoiceNetwork,
		CreatedAt:      decoded.Timestamp,
		ExpiresAt:      decoded.Timestamp.Add(decoded.Expiry()),
	}
	// zpay32 checks only that a payment hash is present. A zero hash is
	// present too, matches no preimage anyone knows, and must not pass
	// for a hash.
	if decoded.PaymentHash == nil || *decoded.PaymentHash == [32]byte{} {
		return Invoice{}, fmt.Errorf("%w: no payment hash", ErrMalformedInvoice)
	}
	inv.Hash = *decoded.PaymentHash
	if decoded.MilliSat != nil && *decoded.MilliSat > 0 {
		// Compared as uint64 first: a huge lnwire amount would wrap
		// negative as an int64.
		if uint64(*decoded.MilliSat) > uint64(money.MaxMilliSat) {
			return Invoice{}, fmt.Errorf("%w: amount %d msat is more than all the bitcoin there is", ErrMalformedInvoice, uint64(*decoded.MilliSat))
		}
		inv.Amount, inv.HasAmount = money.MilliSat(*decoded.MilliSat), true
	}
	if decoded.Description != nil {
		inv.Description = *decoded.Description
	}
	if decoded.DescriptionHash != nil {
		inv.DescriptionHash = hex.EncodeToString(decoded.DescriptionHash[:])
	}
	if decoded.Destination != nil {
		inv.Destination = hex.EncodeToString(decoded.Destination.SerializeCompressed())
	}
	return inv, nil
}

// CheckPayable refuses an invoice satloop must not pay at now: one without
// an amount, or one that has expired. Adapters call it before the node
// sees the invoice.
func CheckPayable(inv Invoice, now time.Time) error {
	if !inv.HasAmount {
		return fmt.Errorf("%w: satloop pays only invoices that state their amount", ErrNoAmount)
	}
	if inv.Expired(now) {
		return &ExpiredError{ExpiredAt: inv.ExpiresAt}
	}
	return nil
}
