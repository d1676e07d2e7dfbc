package l402

import (
	"encoding/binary"
	"fmt"
)

// IdentifierVersion0 is the only identifier version defined by the spec.
const IdentifierVersion0 uint16 = 0

// identifierV0Len is the encoded size of a version-0 identifier:
// version (2) || payment hash (32) || token id (32).
const identifierV0Len = 2 + 32 + 32

// Identifier is the macaroon identifier of an L402 token. It binds the token
// to the payment hash of the invoice that buys it.
type Identifier struct {
	Version     uint16
	PaymentHash PaymentHash
	TokenID     TokenID
}

// MarshalBinary encodes the identifier in its 66-byte version-0 form.
func (id Identifier) MarshalBinary() ([]byte, error) {
	if id.Version != IdentifierVersion0 {
		return nil, fmt.Errorf("l402: %w: %d", ErrUnknownVersion, id.Version)
	}
	b := make([]byte, identifierV0Len)
	binary.BigEndian.PutUint16(b, id.Version)
	copy(b[2:34], id.PaymentHash[:])
	copy(b[34:], id.TokenID[:])
	return b, nil
}

// DecodeIdentifier decodes a macaroon identifier. A version other than 0 is
// ErrUnknownVersion; a version-0 identifier of any length but 66 bytes is
// ErrMalformed (trailing bytes would be unsigned data a peer might misread).
func DecodeIdentifier(b []byte) (Identifier, error) {
	if len(b) < 2 {
		return Identifier{}, fmt.Errorf("l402: %w: identifier of %d bytes is too short", ErrMalformed, len(b))
	}
	version := binary.BigEndian.Uint16(b)
	if version != IdentifierVersion0 {
		return Identifier{}, fmt.Errorf("l402: %w: %d", ErrUnknownVersion, version)
	}
	if len(b) != identifierV0Len {
		return Identifier{}, fmt.Errorf("l402: %w: version-0 identifier has %d bytes, want %d", ErrMalformed, len(b), identifierV0Len)
	}
	var id Identifier
	copy(id.PaymentHash[:], b[2:34])
	copy(id.TokenID[:], b[34:])
	return id, nil
}
