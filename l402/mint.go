package l402

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"gopkg.in/macaroon.v2"
)

// DefaultLocation is the macaroon location Aperture writes; peers ignore it,
// so keeping Aperture's value keeps tokens byte-compatible.
const DefaultLocation = "lsat"

// Minter mints tokens bound to payment hashes.
type Minter struct {
	// Keys gives each new token its root key. Required.
	Keys RootKeyStore
	// Location is written into the macaroon; empty means DefaultLocation.
	Location string
	// Rand supplies token ids; nil means crypto/rand.
	Rand io.Reader
}

// Mint returns a new token for the invoice with payment hash hash, carrying
// caveats in order. The token is worthless until its preimage is revealed by
// paying the invoice.
func (m Minter) Mint(ctx context.Context, hash PaymentHash, caveats ...Caveat) (*macaroon.Macaroon, Identifier, error) {
	id := Identifier{Version: IdentifierVersion0, PaymentHash: hash}
	r := m.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, id.TokenID[:]); err != nil {
		return nil, Identifier{}, fmt.Errorf("l402: mint: token id: %w", err)
	}
	rootKey, err := m.Keys.NewRootKey(ctx, id)
	if err != nil {
		return nil, Identifier{}, fmt.Errorf("l402: mint: %w", err)
	}
	idBytes, err := id.MarshalBinary()
	if err != nil {
		return nil, Identifier{}, err
	}
	loc := m.Location
	if loc == "" {
		loc = DefaultLocation
	}
	mac, err := macaroon.New(rootKey, idBytes, loc, macaroon.V2)
	if err != nil {
		return nil, Identifier{}, fmt.Errorf("l402: mint: %w", err)
	}
	if err := AddCaveats(mac, caveats...); err != nil {
		return nil, Identifier{}, err
	}
	return mac, id, nil
}

// AddCaveats appends first-party caveats to mac. Any holder can do this
// offline to narrow a token before handing it on; the verifier rejects a
// caveat that widens an earlier one with the same condition.
func AddCaveats(mac *macaroon.Macaroon, caveats ...Caveat) error {
	for _, c := range caveats {
		if c.Condition == "" {
			return errors.New("l402: caveat without a condition")
		}
		if err := mac.AddFirstPartyCaveat([]byte(c.String())); err != nil {
			return fmt.Errorf("l402: add caveat %s: %w", c.Condition, err)
		}
	}
	return nil
}

// Token is what a successful verification established.
type Token struct {
	ID Identifier
	// Caveats are the first-party caveats of the token and its discharges,
	// in signing order. Entries that are not "condition=value", and the
	// secret preimage caveat, are left out.
	Caveats []Caveat
}

// Value returns the last value of a caveat condition, which is the one in
// force after attenuation.
func (t Token) Value(condition string) (string, bool) { return lastValue(t.Caveats, condition) }

// Verifier checks credentials locally: no node call, and no storage round
// trip when Keys derives root keys.
type Verifier struct {
	// Keys gives the root key of each token. Required.
	Keys RootKeyStore
}

// Verify checks, in order: the identifier, the preimage against the payment
// hash, the root key, the HMAC chain of the macaroon (and of any discharges),
// and finally the caveats against satisfiers. Comparisons of secrets are
// constant-time.
func (v Verifier) Verify(ctx context.Context, cred Credential, satisfiers ...Satisfier) (Token, error) {
	if len(cred.Macaroons) == 0 {
		return Token{}, fmt.Errorf("l402: %w: no macaroon", ErrMalformed)
	}
	mac := cred.Macaroons[0]
	id, err := DecodeIdentifier(mac.Id())
	if err != nil {
		return Token{}, err
	}
	sum := sha256.Sum256(cred.Preimage[:])
	if subtle.ConstantTimeCompare(sum[:], id.PaymentHash[:]) != 1 {
		return Token{}, fmt.Errorf("l402: %w: preimage does not match payment hash %s", ErrInvalid, id.PaymentHash)
	}
	rootKey, err := v.Keys.RootKey(ctx, id)
	if err != nil {
		return Token{}, fmt.Errorf("l402: verify: %w", err)
	}
	conditions, err := mac.VerifySignature(rootKey, cred.Macaroons[1:])
	if err != nil {
		// The library's message names no secret, but it adds nothing a
		// caller can act on either.
		return Token{}, fmt.Errorf("l402: %w: signature does not verify for token %s", ErrInvalid, id.TokenID)
	}
	tok := Token{ID: id, Caveats: make([]Caveat, 0, len(conditions))}
	for _, cond := range conditions {
		// The preimage caveat is a secret and already checked above.
		if c, ok := ParseCaveat(cond); ok && c.Condition != ConditionPreimage {
			tok.Caveats = append(tok.Caveats, c)
		}
	}
	if err := CheckCaveats(tok.Caveats, satisfiers...); err != nil {
		return Token{}, err
	}
	return tok, nil
}
