package l402

import (
	"fmt"
	"strings"
)

// authChallenge is one challenge of a WWW-Authenticate field value
// (RFC 9110 section 11.6.1): a scheme followed by a token68 or by
// comma-separated auth-params.
type authChallenge struct {
	scheme  string
	token68 string
	params  []authParam
}

type authParam struct {
	name  string // lowercased: parameter names are case-insensitive
	value string
}

func (c authChallenge) param(name string) (string, bool) {
	for _, p := range c.params {
		if p.name == name {
			return p.value, true
		}
	}
	return "", false
}

// parseAuthChallenges splits one WWW-Authenticate field value into its
// challenges. It follows the RFC grammar where the grammar is unambiguous and
// is liberal where real peers are sloppy: unquoted values may hold any
// character but comma and whitespace (base64 often arrives unquoted), and a
// missing comma between two parameters is tolerated. On a syntax error it
// returns the challenges parsed so far together with the error.
func parseAuthChallenges(s string) ([]authChallenge, error) {
	p := authParser{s: s}
	var out []authChallenge
	for {
		p.skipListSeparators()
		if p.done() {
			return out, nil
		}
		scheme := p.token()
		if scheme == "" {
			return out, p.errorf("expected an authentication scheme")
		}
		ch := authChallenge{scheme: scheme}
		p.skipSpace()
		switch {
		case p.done() || p.peek() == ',':
			// A scheme with no parameters.
		case p.atToken68():
			ch.token68 = p.token68()
		default:
			if err := p.params(&ch); err != nil {
				return append(out, ch), err
			}
		}
		out = append(out, ch)
	}
}

type authParser struct {
	s string
	i int
}

func (p *authParser) done() bool { return p.i >= len(p.s) }
func (p *authParser) peek() byte { return p.s[p.i] }

func (p *authParser) errorf(format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

// span returns the index of the first byte at or after i that is not in
// the class, or len(p.s).
func (p *authParser) span(i int, in func(byte) bool) int {
	for i < len(p.s) && in(p.s[i]) {
		i++
	}
	return i
}

func (p *authParser) skipSpace()          { p.i = p.span(p.i, isSpace) }
func (p *authParser) skipListSeparators() { p.i = p.span(p.i, isListSeparator) }

func (p *authParser) token() string {
	start := p.i
	p.i = p.span(p.i, isTokenChar)
	return p.s[start:p.i]
}

// atToken68 reports whether a token68 starts here: token68 characters, then
// optional "=" padding, then the end of the challenge. Anything else after
// the "=" makes it an auth-param instead.
func (p *authParser) atToken68() bool {
	j := p.span(p.i, isToken68Char)
	if j == p.i {
		return false
	}
	j = p.span(p.span(j, isPadding), isSpace)
	return j == len(p.s) || p.s[j] == ','
}

func (p *authParser) token68() string {
	start := p.i
	p.i = p.span(p.span(p.i, isToken68Char), isPadding)
	return p.s[start:p.i]
}

// atParam reports whether an auth-param ("name =") starts here, as opposed to
// the scheme of the next challenge.
func (p *authParser) atParam() bool {
	j := p.span(p.i, isTokenChar)
	if j == p.i {
		return false
	}
	j = p.span(j, isSpace)
	return j < len(p.s) && p.s[j] == '='
}

func (p *authParser) params(ch *authChallenge) error {
	for {
		name := p.token()
		if name == "" {
			return p.errorf("expected a parameter name")
		}
		p.skipSpace()
		if p.done() || p.peek() != '=' {
			return p.errorf("expected '=' after parameter %q", name)
		}
		p.i++
		p.skipSpace()
		value, err := p.value()
		if err != nil {
			return err
		}
		ch.params = append(ch.params, authParam{name: strings.ToLower(name), value: value})

		p.skipSpace()
		if p.done() {
			return nil
		}
		if p.peek() == ',' {
			p.skipListSeparators()
		}
		if p.done() || !p.atParam() {
			return nil // the end, or the next challenge's scheme
		}
	}
}

func (p *authParser) value() (string, error) {
	if p.done() {
		return "", nil
	}
	if p.peek() != '"' {
		start := p.i
		for !p.done() && p.s[p.i] != ',' && p.s[p.i] != ' ' && p.s[p.i] != '\t' {
			p.i++
		}
		return p.s[start:p.i], nil
	}
	p.i++ // opening quote
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return b.String(), nil
		case '\\':
			p.i++
			if p.done() {
				return "", p.errorf("quoted string ends in a backslash")
			}
			b.WriteByte(p.s[p.i])
		default:
			b.WriteByte(c)
		}
		p.i++
	}
	return "", p.errorf("unterminated quoted string")
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isSpace(c byte) bool         { return c == ' ' || c == '\t' }
func isListSeparator(c byte) bool { return isSpace(c) || c == ',' }
func isPadding(c byte) bool       { return c == '=' }

func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}
