package l402

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"gopkg.in/macaroon.v2"
)

// Header names that carry L402 credentials, in the order a server consults
// them (Aperture's order, so that clients written for it behave the same).
const (
	HeaderAuthorization = "Authorization"
	// The hex forms carry the preimage as a "preimage=<hex>" caveat.
	HeaderGrpcToken    = "Grpc-Metadata-Token"
	HeaderToken        = "Token"
	HeaderGrpcMacaroon = "Grpc-Metadata-Macaroon"
	HeaderMacaroon     = "Macaroon"
)

// maxMacaroons bounds the macaroons of one credential so that a hostile
// header cannot make a server unmarshal thousands of them.
const maxMacaroons = 8

// Credential is what a buyer presents after paying: the token (and any
// discharge macaroons bound to it) and the preimage of the invoice it paid.
type Credential struct {
	// Macaroons holds the token first, then discharges.
	Macaroons []*macaroon.Macaroon
	// Preimage proves payment. It redacts itself when printed.
	Preimage Preimage
}

// ParseCredential finds the credential in request headers. It tries every
// Authorization line (L402 or LSAT, in any case; other schemes are skipped),
// then the hex forms Grpc-Metadata-Token, Token, Grpc-Metadata-Macaroon and
// Macaroon. It returns ErrNoCredential when there is none and an error
// wrapping ErrMalformed when one is present but cannot be decoded.
func ParseCredential(h http.Header) (Credential, error) {
	var firstErr error
	found := false
	for _, line := range h.Values(HeaderAuthorization) {
		cred, ok, err := parseAuthorizationLine(line)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if ok {
			return cred, nil
		}
		found = found || err != nil
	}
	if found {
		return Credential{}, firstErr
	}
	for _, name := range []string{HeaderGrpcToken, HeaderToken, HeaderGrpcMacaroon, HeaderMacaroon} {
		if v := h.Get(name); v != "" {
			return ParseMacaroonHeader(v)
		}
	}
	return Credential{}, fmt.Errorf("l402: %w", ErrNoCredential)
}

// ParseAuthorization parses one Authorization value:
// "L402 <b64>[,<b64>...]:<hex preimage>" (or LSAT).
func ParseAuthorization(value string) (Credential, error) {
	cred, ok, err := parseAuthorizationLine(value)
	if err != nil {
		return Credential{}, err
	}
	if !ok {
		return Credential{}, fmt.Errorf("l402: %w: Authorization scheme is not L402 or LSAT", ErrNoCredential)
	}
	return cred, nil
}

// parseAuthorizationLine returns ok=false with no error when the line holds
// no L402 credential. A proxy may fold several Authorization lines into one
// ("LSAT a:p, L402 a:p"); each credential in it is tried in turn.
func parseAuthorizationLine(line string) (Credential, bool, error) {
	var firstErr error
	for _, part := range splitCredentials(line) {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(part), " ")
		if !strings.EqualFold(scheme, SchemeL402) && !strings.EqualFold(scheme, SchemeLSAT) {
			continue
		}
		cred, err := parseCredentialValue(strings.TrimSpace(rest))
		if err == nil {
			return cred, true, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return Credential{}, false, firstErr
}

// splitCredentials splits a folded Authorization value at each comma that is
// followed by a new scheme ("..., L402 ..."): a short token and a space. A
// macaroon after a comma is hundreds of base64 characters, so it never looks
// like a scheme.
func splitCredentials(line string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(line); i++ {
		if line[i] != ',' {
			continue
		}
		rest := strings.TrimLeft(line[i+1:], " \t")
		word, after, hasSpace := strings.Cut(rest, " ")
		if hasSpace && isScheme(word) && !strings.HasPrefix(strings.TrimLeft(after, " \t"), ":") {
			parts = append(parts, line[start:i])
			start = i + 1
		}
	}
	return append(parts, line[start:])
}

// isScheme reports whether word can be an authentication scheme name.
func isScheme(word string) bool {
	if word == "" || len(word) > 32 {
		return false
	}
	for i := 0; i < len(word); i++ {
		if !isTokenChar(word[i]) {
			return false
		}
	}
	return true
}

func parseCredentialValue(v string) (Credential, error) {
	macs, preimageHex, ok := cutLast(v, ":")
	if !ok {
		return Credential{}, fmt.Errorf("l402: %w: Authorization value has no ':' before the preimage", ErrMalformed)
	}
	preimage, err := ParsePreimage(strings.TrimSpace(preimageHex))
	if err != nil {
		return Credential{}, fmt.Errorf("l402: %w: Authorization %w", ErrMalformed, err)
	}
	texts := strings.Split(macs, ",")
	if len(texts) > maxMacaroons {
		return Credential{}, fmt.Errorf("l402: %w: %d macaroons in one credential, at most %d", ErrMalformed, len(texts), maxMacaroons)
	}
	cred := Credential{Preimage: preimage, Macaroons: make([]*macaroon.Macaroon, 0, len(texts))}
	for i, text := range texts {
		m, err := decodeMacaroon(text, decodeBase64)
		if err != nil {
			return Credential{}, fmt.Errorf("l402: %w: Authorization macaroon %d: %w", ErrMalformed, i+1, err)
		}
		cred.Macaroons = append(cred.Macaroons, m)
	}
	return cred, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// ParseMacaroonHeader parses the hex form sent in Macaroon:,
// Grpc-Metadata-Macaroon:, Token: and Grpc-Metadata-Token: headers, where
// the preimage travels as the token's last "preimage=<hex>" caveat.
func ParseMacaroonHeader(value string) (Credential, error) {
	m, err := decodeMacaroon(value, hex.DecodeString)
	if err != nil {
		return Credential{}, fmt.Errorf("l402: %w: macaroon header: %w", ErrMalformed, err)
	}
	var preimageHex string
	found := false
	for _, c := range m.Caveats() {
		if cav, ok := ParseCaveat(string(c.Id)); ok && cav.Condition == ConditionPreimage {
			preimageHex, found = cav.Value, true
		}
	}
	if !found {
		return Credential{}, fmt.Errorf("l402: %w: macaroon header has no preimage caveat", ErrMalformed)
	}
	preimage, err := ParsePreimage(preimageHex)
	if err != nil {
		return Credential{}, fmt.Errorf("l402: %w: macaroon header %w", ErrMalformed, err)
	}
	return Credential{Macaroons: []*macaroon.Macaroon{m}, Preimage: preimage}, nil
}

// FormatAuthorization renders the one Authorization value a client sends:
// "L402 <b64>[,<b64>...]:<lowercase hex preimage>", standard padded base64.
// The result contains the preimage: it is a secret and must not be logged.
func FormatAuthorization(cred Credential) (string, error) {
	if len(cred.Macaroons) == 0 {
		return "", errors.New("l402: credential has no macaroon")
	}
	var b strings.Builder
	b.WriteString(SchemeL402)
	b.WriteByte(' ')
	for i, m := range cred.Macaroons {
		raw, err := m.MarshalBinary()
		if err != nil {
			return "", fmt.Errorf("l402: credential macaroon %d: %w", i+1, err)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(base64.StdEncoding.EncodeToString(raw))
	}
	b.WriteByte(':')
	b.WriteString(cred.Preimage.Hex())
	return b.String(), nil
}

// FormatMacaroonHeader renders the hex form for Macaroon: and
// Grpc-Metadata-Macaroon: headers: a copy of the token with a
// "preimage=<hex>" caveat appended. Discharges cannot travel in this form.
func FormatMacaroonHeader(cred Credential) (string, error) {
	if len(cred.Macaroons) != 1 {
		return "", fmt.Errorf("l402: macaroon header carries exactly one macaroon, credential has %d", len(cred.Macaroons))
	}
	m := cred.Macaroons[0].Clone()
	if err := AddCaveats(m, Caveat{Condition: ConditionPreimage, Value: cred.Preimage.Hex()}); err != nil {
		return "", err
	}
	raw, err := m.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("l402: macaroon header: %w", err)
	}
	return hex.EncodeToString(raw), nil
}
