// Package lightningtest makes real, signed BOLT 11 invoices for tests that
// need an invoice a node would accept without a node to make it. Only
// tests import it.
package lightningtest

import (
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/zpay32"

	"github.com/satloop/satloop/l402"
)

// SignInvoice encodes an invoice for hash on params, created at created,
// signed by key (a new random key when nil) as that node's invoice.
func SignInvoice(key *btcec.PrivateKey, params *chaincfg.Params, hash l402.PaymentHash, created time.Time, opts ...func(*zpay32.Invoice)) (string, error) {
	if key == nil {
		var err error
		if key, err = btcec.NewPrivateKey(); err != nil {
			return "", fmt.Errorf("lightningtest: node key: %w", err)
		}
	}
	inv, err := zpay32.NewInvoice(params, hash, created, opts...)
	if err != nil {
		return "", fmt.Errorf("lightningtest: %w", err)
	}
	payreq, err := inv.Encode(zpay32.MessageSigner{SignCompact: func(msg []byte) ([]byte, error) {
		return ecdsa.SignCompact(key, chainhash.HashB(msg), true), nil
	}})
	if err != nil {
		return "", fmt.Errorf("lightningtest: sign: %w", err)
	}
	return payreq, nil
}
