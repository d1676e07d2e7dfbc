package l402_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"time"

	"github.com/satloop/satloop/l402"
	"gopkg.in/macaroon.v2"
)

// Example walks one token through its life: the seller mints it for an
// invoice and sends a challenge, the buyer reads the challenge and (after
// paying the invoice, which is outside this package) presents a credential,
// and the seller verifies it locally.
func Example() {
	ctx := context.Background()
	master := sha256.Sum256([]byte("load a 32-byte random secret from a 0600 file instead"))
	keys, err := l402.NewDerivedRootKeys(master[:])
	if err != nil {
		panic(err)
	}

	// Seller: the node created an invoice whose preimage only it knows.
	var preimage l402.Preimage
	copy(preimage[:], "the node's secret, 32 bytes long")
	invoice := "lnbcrt100n1..." // BOLT 11, opaque to this package
	mac, _, err := l402.Minter{Keys: keys}.Mint(ctx, preimage.Hash(),
		l402.ServicesCaveat(l402.Service{Name: "search"}),
		l402.CapabilitiesCaveat("search", "query"),
		l402.ValidUntilCaveat("search", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix()),
	)
	if err != nil {
		panic(err)
	}
	challenge, err := l402.FormatChallenge(mac, invoice)
	if err != nil {
		panic(err)
	}

	// Buyer: read the challenge, check ID.PaymentHash against the decoded
	// invoice, pay, and send the credential.
	offers, err := l402.ParseChallenges(challenge)
	if err != nil {
		panic(err)
	}
	fmt.Println("invoice to pay:", offers[0].Invoice)
	fmt.Println("hash matches:", offers[0].ID.PaymentHash == preimage.Hash())
	auth, err := l402.FormatAuthorization(l402.Credential{Macaroons: []*macaroon.Macaroon{offers[0].Macaroon}, Preimage: preimage})
	if err != nil {
		panic(err)
	}

	// Seller: verify without a database or a node.
	req := http.Header{"Authorization": {auth}}
	cred, err := l402.ParseCredential(req)
	if err != nil {
		panic(err)
	}
	now := time.Date(2029, 6, 1, 0, 0, 0, 0, time.UTC)
	tok, err := l402.Verifier{Keys: keys}.Verify(ctx, cred, l402.RequestSatisfiers("search", "query", now)...)
	fmt.Println("verified:", err == nil, tok.ID.PaymentHash == preimage.Hash())
	fmt.Println("preimage prints as:", cred.Preimage)
	// Output:
	// invoice to pay: lnbcrt100n1...
	// hash matches: true
	// verified: true true
	// preimage prints as: [redacted preimage]
}
