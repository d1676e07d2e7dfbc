// Package bakery mints, narrows and verifies agent credentials: the
// macaroons the allowance daemon (package wallet) gives agents instead of
// the node's keys.
//
// A credential is a macaroon whose identifier names an agent and whose
// first-party caveats limit what it may spend: an expiry, a per-call cap,
// budgets over windows, hosts allowed and denied, and the operations it may
// ask for. Every caveat narrows; none grants. Any holder can add caveats
// offline (Attenuate) to hand a narrower credential on, and nobody can
// remove one without breaking the signature, so a credential can be
// narrowed and never widened. A caveat this package does not know makes
// the credential invalid: an unknown condition is refused, not ignored.
//
// The package imports no Lightning code and no storage: the wallet looks
// up root keys and counts spending; this package says what a credential
// allows.
package bakery

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// Location is the location field of agent credentials.
const Location = "satloop-wallet"

// identifierPrefix starts every agent credential's identifier; the 32 hex
// digits of the agent id follow.
const identifierPrefix = "satloop-agent-v1:"

// MaxEncodedLen caps an encoded credential: a real one is under 1 KiB,
// and a few dozen attenuations stay well within this.
const MaxEncodedLen = 8 << 10

// Caveat conditions of agent credentials.
const (
	// CondExpires: Unix seconds after which the credential is refused.
	CondExpires = "expires"
	// CondMaxPerCall: the largest invoice amount one call may pay, msat.
	CondMaxPerCall = "max_per_call_msat"
	// CondBudget: "<msat>/<window>", at most that much (amounts plus
	// fees) over the window.
	CondBudget = "budget"
	// CondHosts: comma-separated host patterns; a fetch must go to a
	// host matching one of them. "*.example.org" matches subdomains only.
	CondHosts = "hosts"
	// CondDenyHosts: comma-separated host patterns a fetch may never go to.
	CondDenyHosts = "deny_hosts"
	// CondOps: comma-separated operations the credential may ask for.
	CondOps = "ops"
)

// Op is an operation a credential may ask the wallet for.
type Op string

// Operations. Reading one's own allowance and history needs none.
const (
	// OpFetch: L402 fetches made by the wallet, which sees the host.
	OpFetch Op = "fetch"
	// OpPay: paying an invoice the agent brings. The wallet cannot see
	// what it buys, so a credential limited to hosts (allowed or denied,
	// see Grant.HostLimited) may not do it.
	OpPay Op = "pay"
	// OpReceive: creating invoices, to sell.
	OpReceive Op = "receive"
)

// Ops lists every operation in a stable order.
var Ops = []Op{OpFetch, OpPay, OpReceive}

// Errors of parsing and verifying credentials. A caller branches with
// errors.Is; each error also says what was wrong.
var (
	ErrMalformed = errors.New("bakery: malformed credential")
	// ErrUnknownAgent: the identifier names no agent of this wallet.
	ErrUnknownAgent = errors.New("bakery: credential not minted by this wallet")
	// ErrBadSignature: the signature does not verify: the credential was
	// altered (a caveat removed or changed) or minted by another wallet.
	ErrBadSignature = errors.New("bakery: credential signature does not verify (tampered, or minted by another wallet)")
	// ErrUnknownCaveat: a caveat this version does not understand; refused
	// rather than ignored, since ignoring a limit would widen.
	ErrUnknownCaveat = errors.New("bakery: credential carries a caveat this wallet does not understand")
	// ErrExpired: past the credential's expiry.
	ErrExpired = errors.New("bakery: credential expired")
	// ErrWiden: an attenuation asked for more than the credential allows;
	// it would have no effect, so it is refused rather than written.
	ErrWiden = errors.New("bakery: a caveat can only narrow a credential")
)

// Limits are the caveats to mint a credential with or to add to one. Zero
// fields add nothing.
type Limits struct {
	ExpiresAt  time.Time
	MaxPerCall money.MilliSat
	Budgets    []Budget
	Hosts      []string
	DenyHosts  []string
	// Ops, when not nil, limits the operations; an empty non-nil slice
	// allows none.
	Ops []Op
}

// Caveats returns the caveats for l, in a stable order.
func (l Limits) Caveats() ([]l402.Caveat, error) {
	var cs []l402.Caveat
	if !l.ExpiresAt.IsZero() {
		// Verify reads expires <= 0 as malformed: refuse to write a
		// credential that could never be used.
		if l.ExpiresAt.Unix() <= 0 {
			return nil, fmt.Errorf("bakery: expiry %s is before 1970; give a real date", l.ExpiresAt.UTC().Format(time.RFC3339))
		}
		cs = append(cs, l402.Caveat{Condition: CondExpires, Value: strconv.FormatInt(l.ExpiresAt.Unix(), 10)})
	}
	if l.MaxPerCall < 0 || !l.MaxPerCall.Valid() {
		return nil, fmt.Errorf("bakery: a per-call cap must be between 0 and %s", money.MaxMilliSat)
	}
	if l.MaxPerCall > 0 {
		cs = append(cs, l402.Caveat{Condition: CondMaxPerCall, Value: strconv.FormatInt(int64(l.MaxPerCall), 10)})
	}
	for _, b := range l.Budgets {
		if b.Limit <= 0 || !b.Limit.Valid() {
			return nil, fmt.Errorf("bakery: budget over %s must be positive and at most %s", b.Window, money.MaxMilliSat)
		}
		if _, err := ParseWindow(b.Window.String()); err != nil {
			return nil, err
		}
		cs = append(cs, l402.Caveat{Condition: CondBudget, Value: strconv.FormatInt(int64(b.Limit), 10) + "/" + b.Window.String()})
	}
	for _, list := range []struct {
		cond  string
		hosts []string
	}{{CondHosts, l.Hosts}, {CondDenyHosts, l.DenyHosts}} {
		if len(list.hosts) == 0 {
			continue
		}
		patterns, err := parseHostPatterns(strings.Join(list.hosts, ","))
		if err != nil {
			return nil, err
		}
		cs = append(cs, l402.Caveat{Condition: list.cond, Value: strings.Join(patterns, ",")})
	}
	if l.Ops != nil {
		names := make([]string, len(l.Ops))
		for i, op := range l.Ops {
			if !slices.Contains(Ops, op) {
				return nil, fmt.Errorf("bakery: unknown operation %q; choose from %s", op, opNames(Ops))
			}
			names[i] = string(op)
		}
		cs = append(cs, l402.Caveat{Condition: CondOps, Value: strings.Join(names, ",")})
	}
	return cs, nil
}

// Mint makes the root credential of agent id, signed with rootKey and
// limited by l.
func Mint(id [16]byte, rootKey []byte, l Limits) (*macaroon.Macaroon, error) {
	if len(rootKey) < 32 {
		return nil, errors.New("bakery: root key must be at least 32 bytes")
	}
	caveats, err := l.Caveats()
	if err != nil {
		return nil, err
	}
	mac, err := macaroon.New(rootKey, []byte(identifierPrefix+hex.EncodeToString(id[:])), Location, macaroon.V2)
	if err != nil {
		return nil, fmt.Errorf("bakery: mint: %w", err)
	}
	if err := l402.AddCaveats(mac, caveats...); err != nil {
		return nil, fmt.Errorf("bakery: mint: %w", err)
	}
	return mac, nil
}

// Attenuate returns a copy of mac narrowed by l, which needs no root key:
// any holder can do it offline. A limit in l that is no narrower than one
// the credential already has (a later expiry, a larger per-call cap, a
// larger budget over the same window, an operation it does not allow)
// returns an error wrapping ErrWiden, since
// writing it would suggest a power the credential does not have.
func Attenuate(mac *macaroon.Macaroon, l Limits) (*macaroon.Macaroon, error) {
	current, err := Inspect(mac)
	if err != nil {
		return nil, err
	}
	if !l.ExpiresAt.IsZero() && !current.ExpiresAt.IsZero() && !l.ExpiresAt.Before(current.ExpiresAt) {
		return nil, fmt.Errorf("%w: the credential already expires at %s, before %s", ErrWiden, current.ExpiresAt.UTC().Format(time.RFC3339), l.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if l.MaxPerCall > 0 && current.MaxPerCall > 0 && l.MaxPerCall >= current.MaxPerCall {
		return nil, fmt.Errorf("%w: the credential already caps a call at %s, not above %s", ErrWiden, current.MaxPerCall, l.MaxPerCall)
	}
	for _, b := range l.Budgets {
		for _, have := range current.Budgets {
			if have.Window == b.Window && b.Limit >= have.Limit {
				return nil, fmt.Errorf("%w: the credential already has a budget of %s over %s, not above %s", ErrWiden, have.Limit, have.Window, b.Limit)
			}
		}
	}
	for _, op := range l.Ops {
		if !current.Allows(op) {
			return nil, fmt.Errorf("%w: the credential does not allow %q, so it cannot be granted", ErrWiden, op)
		}
	}
	caveats, err := l.Caveats()
	if err != nil {
		return nil, err
	}
	if len(caveats) == 0 {
		return nil, errors.New("bakery: attenuate: no limit given; add at least one")
	}
	narrowed := mac.Clone()
	if err := l402.AddCaveats(narrowed, caveats...); err != nil {
		return nil, fmt.Errorf("bakery: attenuate: %w", err)
	}
	return narrowed, nil
}

// Grant is what a credential allows: the intersection of all its caveats.
type Grant struct {
	AgentID [16]byte
	// ExpiresAt is the earliest expiry; zero when none.
	ExpiresAt time.Time
	// MaxPerCall is the smallest per-call cap; zero when none.
	MaxPerCall money.MilliSat
	// Budgets holds every budget caveat: each applies on its own.
	Budgets []GrantBudget
	// Hosts holds each hosts caveat's patterns: a host must match one
	// pattern of every list.
	Hosts [][]string
	// DenyHosts holds every denied pattern.
	DenyHosts []string
	// ops is the set of operations allowed; nil means every one.
	ops []Op
}

// GrantBudget is one budget caveat of a credential. Key identifies its
// spending: the caveat and every caveat before it, so that every credential
// attenuated from one that carries it shares its count, while two holders
// who each added their own budget to the same parent keep separate ones
// that both count against the parent's. Two attenuations that add exactly
// the same caveats are the same credential and share one count, which only
// ever errs on the side of less spending.
type GrantBudget struct {
	Budget
	Key string
}

// Allows reports whether the credential may ask for op.
func (g Grant) Allows(op Op) bool { return g.ops == nil || slices.Contains(g.ops, op) }

// Ops lists the operations the credential may ask for.
func (g Grant) Ops() []Op {
	if g.ops == nil {
		return slices.Clone(Ops)
	}
	return slices.Clone(g.ops)
}

// HostLimited reports whether the credential limits the hosts it may
// reach, by a hosts or a deny_hosts caveat. Such a credential may not pay
// a bare invoice (OpPay): the wallet cannot see where it goes, so neither
// list could be honoured.
func (g Grant) HostLimited() bool { return len(g.Hosts) > 0 || len(g.DenyHosts) > 0 }

// CheckHost returns nil when host may be fetched, or an error saying which
// caveat refuses it.
//
// The host is compared without case and without a trailing dot; with any
// hosts or deny_hosts caveat, a host that is not a plain host name (a port,
// an IPv6 literal, non-ASCII letters) is refused: a pattern could not
// have named it, so it could slip past a denial.
func (g Grant) CheckHost(host string) error {
	if len(g.Hosts) == 0 && len(g.DenyHosts) == 0 {
		return nil
	}
	host = asciiLower(strings.TrimSuffix(host, "."))
	if !validHostName(host) {
		return fmt.Errorf("host %q is not a plain host name; the credential limits hosts, so pass the name without scheme or port", printable(host))
	}
	for _, p := range g.DenyHosts {
		if hostMatches(p, host) {
			return fmt.Errorf("host %s is denied by the credential (%s)", host, p)
		}
	}
	for _, list := range g.Hosts {
		if !slices.ContainsFunc(list, func(p string) bool { return hostMatches(p, host) }) {
			return fmt.Errorf("host %s is not among the credential's hosts (%s)", host, strings.Join(list, ","))
		}
	}
	return nil
}

// hostMatches reports whether host matches pattern: equal, or for
// "*.example.org" any subdomain of example.org (not example.org itself).
func hostMatches(pattern, host string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+suffix)
	}
	return pattern == host
}

// Verify checks mac's signature with the root key rootKeyOf returns for
// its agent, then reads its caveats into a Grant, refusing an expired
// credential at now. rootKeyOf returns an error wrapping ErrUnknownAgent
// (or any other error, passed through) when it knows no key.
func Verify(mac *macaroon.Macaroon, rootKeyOf func(id [16]byte) ([]byte, error), now time.Time) (Grant, error) {
	id, err := agentIDOf(mac)
	if err != nil {
		return Grant{}, err
	}
	rootKey, err := rootKeyOf(id)
	if err != nil {
		return Grant{}, err
	}
	// A third-party caveat would fail the signature check for want of a
	// discharge; say what is actually wrong.
	if err := refuseThirdParty(mac); err != nil {
		return Grant{}, err
	}
	if _, err := mac.VerifySignature(rootKey, nil); err != nil {
		return Grant{}, ErrBadSignature
	}
	g, err := Inspect(mac)
	if err != nil {
		return Grant{}, err
	}
	if !g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt) {
		return Grant{}, fmt.Errorf("%w at %s; ask the operator for a new one", ErrExpired, g.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return g, nil
}

// Inspect reads mac's caveats into a Grant without verifying its
// signature: for showing a holder what its credential allows, never for
// deciding whether to pay.
func Inspect(mac *macaroon.Macaroon) (Grant, error) {
	id, err := agentIDOf(mac)
	if err != nil {
		return Grant{}, err
	}
	g := Grant{AgentID: id}
	chain := newBudgetChain(id)
	if err := refuseThirdParty(mac); err != nil {
		return Grant{}, err
	}
	for _, c := range mac.Caveats() {
		raw := string(c.Id)
		key := chain.next(raw)
		caveat, ok := l402.ParseCaveat(raw)
		if !ok {
			return Grant{}, fmt.Errorf("%w: %q", ErrUnknownCaveat, printable(raw))
		}
		if err := g.add(caveat, key); err != nil {
			return Grant{}, err
		}
	}
	return g, nil
}

// budgetChain derives budget keys: a hash of the agent id and every caveat
// so far, so that a key names one position in one chain of caveats.
type budgetChain struct{ h hash.Hash }

func newBudgetChain(id [16]byte) budgetChain {
	h := sha256.New()
	h.Write(id[:])
	return budgetChain{h}
}

// next adds caveat raw to the chain and returns the key up to it. The
// length prefix keeps "ab"+"c" and "a"+"bc" apart.
func (c budgetChain) next(raw string) string {
	fmt.Fprintf(c.h, "%d:%s", len(raw), raw)
	return hex.EncodeToString(c.h.Sum(nil)[:16])
}

// refuseThirdParty returns ErrUnknownCaveat when mac has a third-party
// caveat: agent credentials have none, and no discharge is ever asked for.
func refuseThirdParty(mac *macaroon.Macaroon) error {
	for _, c := range mac.Caveats() {
		if len(c.VerificationId) != 0 || c.Location != "" {
			return fmt.Errorf("%w: a third-party caveat", ErrUnknownCaveat)
		}
	}
	return nil
}

// add narrows g by one caveat; key identifies the chain up to it.
func (g *Grant) add(c l402.Caveat, key string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: %s=%q: %s", ErrMalformed, c.Condition, printable(c.Value), why)
	}
	switch c.Condition {
	case CondExpires:
		secs, err := strconv.ParseInt(c.Value, 10, 64)
		if err != nil || secs <= 0 {
			return bad("not Unix seconds")
		}
		if t := time.Unix(secs, 0); g.ExpiresAt.IsZero() || t.Before(g.ExpiresAt) {
			g.ExpiresAt = t
		}
	case CondMaxPerCall:
		n, err := strconv.ParseInt(c.Value, 10, 64)
		if err != nil || n <= 0 || !money.MilliSat(n).Valid() {
			return bad("not a positive amount of msat")
		}
		if m := money.MilliSat(n); g.MaxPerCall == 0 || m < g.MaxPerCall {
			g.MaxPerCall = m
		}
	case CondBudget:
		amount, window, ok := strings.Cut(c.Value, "/")
		n, err := strconv.ParseInt(amount, 10, 64)
		if !ok || err != nil || n <= 0 || !money.MilliSat(n).Valid() {
			return bad("not MSAT/WINDOW")
		}
		w, err := ParseWindow(window)
		if err != nil {
			return bad(err.Error())
		}
		g.Budgets = append(g.Budgets, GrantBudget{Budget: Budget{Limit: money.MilliSat(n), Window: w}, Key: key})
	case CondHosts, CondDenyHosts:
		patterns, err := parseHostPatterns(c.Value)
		if err != nil {
			return bad(err.Error())
		}
		if c.Condition == CondHosts {
			g.Hosts = append(g.Hosts, patterns)
		} else {
			g.DenyHosts = append(g.DenyHosts, patterns...)
		}
	case CondOps:
		var allowed []Op
		if c.Value != "" {
			for _, name := range strings.Split(c.Value, ",") {
				op := Op(name)
				if !slices.Contains(Ops, op) {
					return fmt.Errorf("%w: operation %q", ErrUnknownCaveat, printable(name))
				}
				if g.Allows(op) && !slices.Contains(allowed, op) {
					allowed = append(allowed, op)
				}
			}
		}
		if allowed == nil {
			allowed = []Op{}
		}
		g.ops = allowed
	default:
		return fmt.Errorf("%w: %q", ErrUnknownCaveat, printable(c.Condition))
	}
	return nil
}

// parseHostPatterns reads "a.example,*.example.org": lowercase host names,
// each optionally starting with "*.".
func parseHostPatterns(s string) ([]string, error) {
	var out []string
	for _, raw := range strings.Split(s, ",") {
		p := asciiLower(strings.TrimSpace(raw))
		if !validHostName(strings.TrimPrefix(p, "*.")) {
			return nil, fmt.Errorf("bakery: host pattern %q: write a host name or IPv4 address (api.example.com, 127.0.0.1), or *.example.org for its subdomains, without scheme or port", printable(raw))
		}
		out = append(out, p)
	}
	return out, nil
}

// validHostName reports whether name is lowercase ASCII letters, digits,
// '-' and '_' in dot-separated non-empty labels.
func validHostName(name string) bool {
	if name == "" || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return !numericNotDottedQuad(name)
}

// numericNotDottedQuad reports whether name is an IPv4 address in another
// spelling than the dotted quad ("127.1", "2130706433", "0x7f.0.0.1",
// "010.0.0.1"): resolvers may read those as the address, which would let a
// host slip past a deny list that names the dotted quad. No top-level
// domain is numeric, so a name whose last label starts with a digit is an
// address, and only its one canonical spelling is accepted.
func numericNotDottedQuad(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" || last[0] < '0' || last[0] > '9' {
		return false
	}
	addr, err := netip.ParseAddr(name)
	return err != nil || !addr.Is4() || addr.String() != name
}

// asciiLower lowercases ASCII letters only. strings.ToLower would map
// non-ASCII letters such as the Kelvin sign onto ASCII ones, letting a
// name that no resolver would use pass as a listed one.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// AgentIDOf returns the agent a credential names, without verifying it.
func AgentIDOf(mac *macaroon.Macaroon) ([16]byte, error) { return agentIDOf(mac) }

func agentIDOf(mac *macaroon.Macaroon) ([16]byte, error) {
	var id [16]byte
	hexID, ok := strings.CutPrefix(string(mac.Id()), identifierPrefix)
	if !ok {
		return id, fmt.Errorf("%w: not a satloop agent credential (an L402 token or an lnd macaroon, perhaps)", ErrMalformed)
	}
	b, err := hex.DecodeString(hexID)
	// Only the lowercase form Mint writes: two spellings of one agent
	// would be two identifiers sharing budget keys.
	if err != nil || len(b) != len(id) || hex.EncodeToString(b) != hexID {
		return id, fmt.Errorf("%w: bad agent id in the identifier", ErrMalformed)
	}
	copy(id[:], b)
	return id, nil
}

// Encode writes a credential as unpadded URL-safe base64 of its binary V2
// form: one token that fits an environment variable or a header.
func Encode(mac *macaroon.Macaroon) (string, error) {
	b, err := mac.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("bakery: encode: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Decode reads a credential written by Encode; standard base64 and padding
// are accepted too.
func Decode(s string) (*macaroon.Macaroon, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxEncodedLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxEncodedLen)
	}
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrMalformed)
	}
	var mac macaroon.Macaroon
	if err := mac.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: not a macaroon", ErrMalformed)
	}
	// UnmarshalBinary ignores trailing bytes and accepts the V1 format
	// and overlong lengths; accept only the one form Encode writes, so
	// that a credential has a single spelling.
	canonical, err := mac.MarshalBinary()
	if err != nil || mac.Version() != macaroon.V2 || !bytes.Equal(canonical, b) {
		return nil, fmt.Errorf("%w: not a macaroon in the binary V2 form Encode writes (trailing or extra bytes)", ErrMalformed)
	}
	return &mac, nil
}

// printable shortens and quotes untrusted text for an error message.
func printable(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

func opNames(ops []Op) string {
	names := make([]string, len(ops))
	for i, op := range ops {
		names[i] = string(op)
	}
	return strings.Join(names, ", ")
}
