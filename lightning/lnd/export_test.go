package lnd

import (
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/satloop/satloop/money"
)

// Exports for the lab integration tests, which live in package lnd_test
// because they import labtest, which imports this package.

// Permissions is the adapter's table of what each lnd call needs.
var Permissions = permissions

// SignTestInvoice signs an invoice with a random key and preimage: one no
// lab node can pay (no route) or one for another network.
func SignTestInvoice(t *testing.T, net *chaincfg.Params, amount money.MilliSat, created time.Time, expiry time.Duration) string {
	return newInvoice(t, net, amount, created, expiry).payreq
}
