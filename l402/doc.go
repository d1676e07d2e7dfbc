// Package l402 speaks the L402 protocol (formerly LSAT): the challenge a
// seller sends with 402 Payment Required, the credential a buyer sends back,
// the version-0 macaroon identifier, and minting and verifying tokens with
// their caveats.
//
// The package depends only on the standard library and gopkg.in/macaroon.v2.
// It knows nothing about Lightning nodes: a payment hash and a preimage are
// 32-byte values here, and invoices are opaque strings. Deciding whether an
// invoice is worth paying belongs to the buyer, creating one to the seller.
//
// Parsing is liberal (every form real peers send is accepted, see
// ParseChallenges and ParseCredential); emitting is conservative (one form
// that every known client accepts, see FormatChallenge and
// FormatAuthorization).
package l402
