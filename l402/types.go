package l402

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
)

// PaymentHash is the SHA-256 of a payment preimage. It is public: it appears
// in invoices and in token identifiers.
type PaymentHash [32]byte

// String returns the hash as lowercase hex.
func (h PaymentHash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText encodes the hash as hex, so that JSON shows it the way
// invoices and lncli do.
func (h PaymentHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes a hex hash.
func (h *PaymentHash) UnmarshalText(b []byte) error {
	parsed, err := ParsePaymentHash(string(b))
	if err != nil {
		return err
	}
	*h = parsed
	return nil
}

// ParsePaymentHash decodes a 64-character hex payment hash.
func ParsePaymentHash(s string) (PaymentHash, error) {
	var h PaymentHash
	if err := decodeHex32(h[:], s); err != nil {
		return PaymentHash{}, fmt.Errorf("l402: payment hash: %w", err)
	}
	return h, nil
}

// TokenID is the random half of a token identifier; it names one token.
type TokenID [32]byte

// String returns the token id as lowercase hex.
func (t TokenID) String() string { return hex.EncodeToString(t[:]) }

// ParseTokenID decodes a 64-character hex token id, the form operators
// copy from sales lists and logs.
func ParseTokenID(s string) (TokenID, error) {
	var t TokenID
	if err := decodeHex32(t[:], s); err != nil {
		return TokenID{}, fmt.Errorf("l402: token id: %w", err)
	}
	return t, nil
}

// MarshalText encodes the token id as hex.
func (t TokenID) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText decodes a hex token id.
func (t *TokenID) UnmarshalText(b []byte) error {
	parsed, err := ParseTokenID(string(b))
	if err != nil {
		return err
	}
	*t = parsed
	return nil
}

// Preimage is the secret whose SHA-256 is a payment hash. Whoever holds it has
// paid, so it is a bearer secret: String and LogValue redact it, and Hex is
// the only way to see its value.
type Preimage [32]byte

// ParsePreimage decodes a 64-character hex preimage (either case).
func ParsePreimage(s string) (Preimage, error) {
	var p Preimage
	if err := decodeHex32(p[:], s); err != nil {
		return Preimage{}, fmt.Errorf("l402: preimage: %w", err)
	}
	return p, nil
}

// Hash returns the payment hash this preimage settles.
func (p Preimage) Hash() PaymentHash { return sha256.Sum256(p[:]) }

// Hex returns the preimage as lowercase hex, for the wire and nowhere else.
func (p Preimage) Hex() string { return hex.EncodeToString(p[:]) }

// String redacts the preimage so that it cannot reach a log or an error by
// accident (fmt's %s, %v and %x all go through String).
func (p Preimage) String() string { return "[redacted preimage]" }

// GoString redacts the preimage under %#v too.
func (p Preimage) GoString() string { return p.String() }

// LogValue redacts the preimage in structured logs.
func (p Preimage) LogValue() slog.Value { return slog.StringValue(p.String()) }

func decodeHex32(dst []byte, s string) error {
	if len(s) != 64 {
		return fmt.Errorf("want 64 hex characters, got %d", len(s))
	}
	// encoding/hex's error quotes the offending character: a character of
	// a secret, so it is not passed on.
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return errors.New("not hex")
	}
	return nil
}
