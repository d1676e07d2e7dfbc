package l402

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/macaroon.v2"
)

// Scheme names. LSAT is the protocol's former name; peers still send it.
const (
	SchemeL402 = "L402"
	SchemeLSAT = "LSAT"
)

// Challenge is one L402 challenge from a WWW-Authenticate header: a token
// bound to the payment hash of an invoice. The token is useless until the
// invoice is paid.
type Challenge struct {
	// Scheme is SchemeL402 or SchemeLSAT, whatever case the server used.
	Scheme string
	// Version is the version parameter, empty when the server sent none.
	Version string
	// Macaroon is the token the server offers.
	Macaroon *macaroon.Macaroon
	// ID is the decoded identifier of Macaroon; ID.PaymentHash must equal
	// the invoice's payment hash before anyone pays.
	ID Identifier
	// Invoice is the BOLT 11 payment request, not decoded here.
	Invoice string
}

// ParseChallenges extracts the L402 and LSAT challenges from the values of
// every WWW-Authenticate header of a response (pass
// resp.Header.Values("WWW-Authenticate")). Each value may hold several
// challenges, and challenges of other schemes are skipped.
//
// Usable challenges are returned L402 first, without duplicates (Aperture
// sends the same token under both schemes). An error is returned only when
// none is usable: ErrNoChallenge when there was no L402 or LSAT challenge at
// all, otherwise an error wrapping ErrMalformed or ErrUnknownVersion that
// says what was wrong with the first one.
func ParseChallenges(values ...string) ([]Challenge, error) {
	var (
		l402, lsat []Challenge
		firstErr   error
	)
	for _, v := range values {
		challenges, syntaxErr := parseAuthChallenges(v)
		for _, ac := range challenges {
			scheme := strings.ToUpper(ac.scheme)
			if scheme != SchemeL402 && scheme != SchemeLSAT {
				continue
			}
			c, err := challengeFrom(ac)
			switch {
			case err != nil:
				if firstErr == nil {
					firstErr = err
				}
			case scheme == SchemeL402:
				l402 = appendUnique(l402, c)
			default:
				lsat = appendUnique(lsat, c)
			}
		}
		if syntaxErr != nil && firstErr == nil {
			firstErr = fmt.Errorf("l402: %w: WWW-Authenticate %w", ErrMalformed, syntaxErr)
		}
	}
	out := l402
	for _, c := range lsat {
		out = appendUnique(out, c)
	}
	if len(out) > 0 {
		return out, nil
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, fmt.Errorf("l402: %w in %d WWW-Authenticate header(s)", ErrNoChallenge, len(values))
}

func appendUnique(list []Challenge, c Challenge) []Challenge {
	for _, have := range list {
		if have.Invoice == c.Invoice && have.ID == c.ID {
			return list
		}
	}
	return append(list, c)
}

func challengeFrom(ac authChallenge) (Challenge, error) {
	c := Challenge{Scheme: ac.scheme}
	if ac.token68 != "" {
		return Challenge{}, fmt.Errorf("l402: %w: %s challenge has a bare value, want macaroon=\"...\", invoice=\"...\"", ErrMalformed, ac.scheme)
	}
	c.Version, _ = ac.param("version")
	if c.Version != "" && c.Version != "0" {
		return Challenge{}, fmt.Errorf("l402: %w: challenge version %q, this client speaks 0", ErrUnknownVersion, c.Version)
	}
	// token= (current spec) and macaroon= (deployed) are synonyms.
	mac, hasMac := ac.param("macaroon")
	token, hasToken := ac.param("token")
	switch {
	case hasMac && hasToken && mac != token:
		return Challenge{}, fmt.Errorf("l402: %w: challenge has different token= and macaroon= values", ErrMalformed)
	case hasToken:
		mac = token
	case !hasMac:
		return Challenge{}, fmt.Errorf("l402: %w: challenge has no macaroon= or token=", ErrMalformed)
	}
	invoice, ok := ac.param("invoice")
	if !ok || invoice == "" {
		return Challenge{}, fmt.Errorf("l402: %w: challenge has no invoice=", ErrMalformed)
	}
	c.Invoice = invoice

	m, err := decodeMacaroon(mac, decodeBase64)
	if err != nil {
		return Challenge{}, fmt.Errorf("l402: %w: challenge macaroon: %w", ErrMalformed, err)
	}
	c.ID, err = DecodeIdentifier(m.Id())
	if err != nil {
		return Challenge{}, err
	}
	c.Macaroon = m
	return c, nil
}

// decodeMacaroon decodes text with decode and unmarshals the macaroon.
func decodeMacaroon(text string, decode func(string) ([]byte, error)) (*macaroon.Macaroon, error) {
	raw, err := decode(strings.TrimSpace(text))
	if err != nil {
		return nil, fmt.Errorf("not valid encoding: %w", err)
	}
	if len(raw) == 0 {
		return nil, errors.New("empty")
	}
	var m macaroon.Macaroon
	if err := m.UnmarshalBinary(raw); err != nil {
		return nil, fmt.Errorf("not a macaroon: %w", err)
	}
	return &m, nil
}

// FormatChallenge renders the value of a WWW-Authenticate header:
//
//	L402 macaroon="<b64>", invoice="<bolt11>", version="0", token="<b64>"
//
// Why this shape: Aperture's client (and lnget, and most scripts in the
// wild) match the regex `(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"`, so
// macaroon= must come first and invoice= right after it. Clients written to
// the current spec read version= and token=. Repeating the token under both
// names costs a few hundred bytes on a 402 and lets both kinds of client read
// the one challenge; a spec parser ignores the macaroon= it does not know,
// and the regex ignores what follows the invoice.
func FormatChallenge(mac *macaroon.Macaroon, invoice string) (string, error) {
	if invoice == "" || strings.ContainsFunc(invoice, func(r rune) bool {
		return r == '"' || r == '\\' || r < 0x21 || r > 0x7e
	}) {
		return "", errors.New("l402: invoice must be non-empty printable ASCII without quotes")
	}
	raw, err := mac.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("l402: challenge macaroon: %w", err)
	}
	b64 := base64.StdEncoding.EncodeToString(raw)
	return SchemeL402 + ` macaroon="` + b64 + `", invoice="` + invoice + `", version="0", token="` + b64 + `"`, nil
}
