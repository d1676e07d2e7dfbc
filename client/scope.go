package client

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/l402"
)

// ScopeOf returns the origin and path scope a token bought for u is kept
// under and sent to.
//
// The origin is "scheme://host:port" (lowercase, default port made
// explicit), so a token never crosses to another scheme, host or port.
//
// The scope is the directory of u's path: everything up to and including
// its last "/" ("/v1/search?q=x" and "/v1/images" share "/v1/"; "/quote"
// is under "/"). Sellers price per service, and services are path prefixes:
// Aperture matches each service by a path regexp and mints a token for that
// service only, and gRPC methods of one service share "/pkg.Service/". The
// directory is the narrowest prefix that still lets a token bought for one
// resource be reused for its siblings; lnget's per-host cache, by contrast,
// sends one service's token to every other service on the host.
func ScopeOf(u *url.URL) (origin, scope string, err error) {
	key, err := keyOf(u)
	if err != nil {
		return "", "", err
	}
	return key.origin(), key.scope, nil
}

// keyOf is ScopeOf's origin and scope kept in parts. It allocates nothing
// for a URL already in canonical form (lowercase scheme and host, a path
// that needs no escaping): the cached-token path runs it per request.
func keyOf(u *url.URL) (scopeKey, error) {
	if u == nil {
		return scopeKey{}, errors.New("client: no URL")
	}
	scheme := strings.ToLower(u.Scheme)
	var defaultPort string
	switch scheme {
	case "https":
		defaultPort = "443"
	case "http":
		defaultPort = "80"
	default:
		return scopeKey{}, fmt.Errorf("client: URL scheme %q is not http or https", u.Scheme)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return scopeKey{}, errors.New("client: URL has no host")
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	p := u.EscapedPath()
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return scopeKey{scheme: scheme, host: host, port: port, scope: p[:strings.LastIndexByte(p, '/')+1]}, nil
}

// logURL is u without user info, query or fragment, which may carry
// secrets: the form that goes to logs, receipts and the spend log.
func logURL(u *url.URL) string {
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return c.String()
}

// tokenInfo is what a buyer reads from a token it holds.
type tokenInfo struct {
	id l402.Identifier
	// validUntil is the earliest <service>_valid_until caveat; zero when
	// there is none.
	validUntil time.Time
}

// readToken decodes a binary macaroon and its identifier and finds its
// expiry. A _valid_until caveat that is not a number of seconds makes the
// token expire at once (validUntil is the Unix epoch): the buyer cannot
// know when the seller stops accepting it, so it is used for the request
// that bought it and never reused.
func readToken(raw []byte) (*macaroon.Macaroon, tokenInfo, error) {
	var mac macaroon.Macaroon
	if err := mac.UnmarshalBinary(raw); err != nil {
		return nil, tokenInfo{}, fmt.Errorf("client: stored token is not a macaroon: %w", err)
	}
	info, err := inspect(&mac)
	if err != nil {
		return nil, tokenInfo{}, err
	}
	return &mac, info, nil
}

// inspect reads the identifier and expiry of mac.
func inspect(mac *macaroon.Macaroon) (tokenInfo, error) {
	id, err := l402.DecodeIdentifier(mac.Id())
	if err != nil {
		return tokenInfo{}, fmt.Errorf("client: token identifier: %w", err)
	}
	info := tokenInfo{id: id}
	for _, c := range mac.Caveats() {
		if c.Location != "" || len(c.VerificationId) > 0 {
			continue // third-party caveat
		}
		cav, ok := l402.ParseCaveat(string(c.Id))
		if !ok || !strings.HasSuffix(cav.Condition, l402.SuffixValidUntil) {
			continue
		}
		until := time.Unix(0, 0)
		if secs, err := strconv.ParseInt(cav.Value, 10, 64); err == nil && secs > 0 && secs < math.MaxInt64/int64(time.Second) {
			until = time.Unix(secs, 0)
		}
		if info.validUntil.IsZero() || until.Before(info.validUntil) {
			info.validUntil = until
		}
	}
	return info, nil
}
