package client_test

import (
	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/lightning/lnd"
)

// The lnd adapter is a Payer; the guard lives in a test because client
// must not import lnd.
var _ client.Payer = (*lnd.Node)(nil)
