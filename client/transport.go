package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
)

// Payer is what the Transport needs from a wallet: decode an invoice
// offline (refusing one for another network with an error wrapping
// lightning.ErrWrongNetwork), pay it, and learn the outcome of an earlier
// payment by hash. *lnd.Node satisfies it; the allowance daemon's client
// will too.
type Payer interface {
	DecodeInvoice(payreq string) (lightning.Invoice, error)
	Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error)
	TrackPayment(ctx context.Context, hash l402.PaymentHash) (lightning.Payment, error)
}

// Transport is an http.RoundTripper that pays L402 challenges and reuses
// the tokens it buys, in the manner of golang.org/x/oauth2's Transport.
//
// A request goes out with the token held for its origin and path scope
// (see ScopeOf), if any and not expired. On a 402 with an L402 challenge
// the invoice is decoded and checked against Policy and the token before
// anything is paid; then a pending payment is recorded, the invoice paid,
// the token stored, and the request sent again, body included, with one
// Authorization: L402 line. One purchase is made per scope at a time
// across goroutines and processes sharing the Store, and a payment left
// pending by a crash is resolved by hash before its scope is paid again.
//
// What a refusal (401 or 402 to a request carrying a token) costs depends
// on whether the seller has ever served that token:
//   - A token it served before (since expired or revoked on its side) is
//     dropped, and at most one new one is bought for the request.
//   - A token it never served was paid for and got nothing: it is marked
//     refused in the Store (Token.RefusedAt) and kept, and nothing more is
//     bought for its scope while it is held. The request that just paid
//     for it gets a *PaidButRefusedError; later ones get a
//     *SellerRefusedError (ErrSellerRefusedPaid) and pay nothing, in this
//     process or any other sharing the Store. A marked token is still
//     presented while valid, and the first request it is served for
//     (status below 400) clears the mark; once it has expired, a 402 to
//     its scope is answered with the same error. Deleting the token
//     (Store.DeleteToken, 'satloop tokens rm') lets the scope be bought
//     again. So a seller that takes the money and refuses is paid once,
//     not once per run.
//
// A request that already carries an Authorization header is the caller's
// own business: it is passed to Base untouched, and a 402 to it is
// returned as is.
//
// Use a *Transport (it holds a token cache and locks); do not copy one
// after first use.
type Transport struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Payer pays invoices. Required to buy; without it a 402 is an error.
	Payer Payer
	// Store keeps tokens and the spend log. Required.
	Store Store
	// Policy limits what is paid; its zero value is safe.
	Policy Policy
	// Logger receives payment events; nil means silent. Secrets never
	// reach it: payment hashes and amounts do.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu    sync.RWMutex
	cache map[scopeKey]*heldToken

	locksMu sync.Mutex
	locks   map[scopeKey]chan struct{}
}

// scopeKey names the scope a token is kept under: the parts of its origin
// (see ScopeOf) and its path scope. The parts are kept apart so that the
// cached-token path looks a token up without building the origin string.
type scopeKey struct {
	// scheme and host are lowercase; host has no brackets, even for IPv6;
	// port is always present.
	scheme, host, port, scope string
}

// origin is "scheme://host:port", as tokens and payments are stored.
func (k scopeKey) origin() string {
	if strings.IndexByte(k.host, ':') >= 0 {
		return k.scheme + "://[" + k.host + "]:" + k.port // IPv6, as net.JoinHostPort writes it
	}
	return k.scheme + "://" + k.host + ":" + k.port
}

// keyFor is the key of a stored origin and scope, as ScopeOf made them.
func keyFor(origin, scope string) scopeKey {
	scheme, hostport, _ := strings.Cut(origin, "://")
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return scopeKey{scheme: scheme, host: host, port: port, scope: scope}
}

// heldToken is a token ready to send.
type heldToken struct {
	tok Token
	// auth is the Authorization header's values: one line holding the
	// preimage (secret). Shared by every request sending the token, and
	// never modified.
	auth []string
	// served is true when the seller has served the token and not
	// refused it since: a refusal then means it expired or was revoked,
	// not that the seller took the money for nothing.
	served bool
}

// usable reports whether the token may still be sent at now. A token is
// never sent in the last seconds of its validity: clocks differ, and the
// server's says when it ends.
func (h *heldToken) usable(now time.Time) bool {
	return h.tok.ValidUntil.IsZero() || now.Add(expirySlack).Before(h.tok.ValidUntil)
}

// expirySlack is how long before a token's stated end it stops being sent.
const expirySlack = 5 * time.Second

// maxAttempts bounds the requests sent for one RoundTrip: token rejected
// (1), fresh challenge (2), token from another process rejected (3), paid
// retry (4).
const maxAttempts = 4

// ErrTooManyAttempts means the server kept rejecting tokens that this
// request did not buy (bought by another process, say); nothing more was
// paid for it.
var ErrTooManyAttempts = errors.New("client: the server kept rejecting tokens")

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func (t *Transport) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Transport) log() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return discard
}

var discard = slog.New(slog.DiscardHandler)

// RoundTrip sends req, paying for it if the server asks and Policy allows.
// It closes req's body exactly once, as http.RoundTripper requires.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	key, err := keyOf(req.URL)
	if err != nil || req.Header.Get(l402.HeaderAuthorization) != "" {
		return t.base().RoundTrip(req)
	}
	if t.Store == nil {
		closeBody(req)
		return nil, errors.New("client: Transport has no Store")
	}
	if h := t.cached(key); h != nil && h.served && (req.Body == nil || req.Body == http.NoBody || req.GetBody != nil) {
		return t.sendCached(req, key, h)
	}
	x := t.newExchange(req, key)
	if err := x.body.prepare(req, t.Policy.maxBodyBuffer()); err != nil {
		return nil, err
	}
	return x.run(nil, nil)
}

// sendCached sends req with h, a token held in memory that the seller has
// served before: the path of nearly every call to a paid API, kept to one
// request copy and its header map. The body, if any, goes as is: GetBody
// replays it should the token be refused. A refusal hands over to the
// full exchange, which starts from the seller's answer.
func (t *Transport) sendCached(req *http.Request, key scopeKey, h *heldToken) (*http.Response, error) {
	resp, err := t.base().RoundTrip(withToken(req, h, req.Body, req.GetBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusPaymentRequired {
		if rec, ok := req.Context().Value(receiptKey{}).(*Receipt); ok {
			rec.URL, rec.Host = logURL(req.URL), req.URL.Host
			rec.TokenID, rec.TokenReused = h.tok.ID, true
		}
		return resp, nil
	}
	x := t.newExchange(req, key)
	if req.Body == nil || req.Body == http.NoBody {
		x.body = replayBody{empty: true, first: req.Body}
	} else {
		// Sent once already: Base owns and closes the caller's body.
		x.body = replayBody{first: req.Body, orig: req.Body, get: req.GetBody, sent: true, closed: true}
	}
	return x.run(h, resp)
}

// newExchange starts the full handling of req, receipt included.
func (t *Transport) newExchange(req *http.Request, key scopeKey) *exchange {
	x := &exchange{t: t, req: req, ctx: req.Context(), key: key}
	if rec, ok := x.ctx.Value(receiptKey{}).(*Receipt); ok {
		x.rec = rec
		rec.URL = x.url()
	} else {
		x.rec = &x.ownReceipt
	}
	x.rec.Host = req.URL.Host
	return x
}

// exchange is one RoundTrip in progress.
type exchange struct {
	t    *Transport
	req  *http.Request
	ctx  context.Context
	key  scopeKey
	rec  *Receipt
	body replayBody
	// ownReceipt is filled when the caller asked for no Receipt.
	ownReceipt Receipt
	urlText    string
}

// url is the request's URL as logs and receipts show it.
func (x *exchange) url() string {
	if x.urlText == "" {
		x.urlText = logURL(x.req.URL)
	}
	return x.urlText
}

// run handles the exchange to its end. It starts from held and the
// seller's answer to it when the cached path already sent the request,
// and otherwise from the token held for the scope, if any.
func (x *exchange) run(held *heldToken, first *http.Response) (*http.Response, error) {
	t := x.t
	if first == nil {
		var err error
		if held, err = t.held(x.ctx, x.key); err != nil {
			x.body.close()
			return nil, err
		}
	}
	var (
		bought   bool
		rejected l402.TokenID
	)
	for range maxAttempts {
		resp := first
		first = nil
		if resp == nil {
			var err error
			if resp, err = x.send(held); err != nil {
				return nil, err
			}
		}
		refused := resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusPaymentRequired
		if held != nil && !refused {
			if !held.served && resp.StatusCode < http.StatusBadRequest {
				t.served(x.ctx, x.key, held)
			}
			x.rec.TokenID = held.tok.ID
			x.rec.TokenReused = x.rec.TokenReused || !bought
			x.body.close()
			return resp, nil
		}
		if held == nil && resp.StatusCode != http.StatusPaymentRequired {
			x.body.close()
			return resp, nil
		}
		if held != nil {
			if bought || t.neverServed(x.ctx, held) {
				// Paid for and never served: keep it, marked, so that no
				// run pays this seller again for nothing.
				drain(resp)
				x.body.close()
				x.rec.TokenID = held.tok.ID
				tok := t.markRefused(x.ctx, x.key, held)
				if bought {
					t.log().Warn("client: server refused the request it was paid for; not buying for this scope again until the token is deleted",
						"host", x.rec.Host, "status", resp.StatusCode, "payment_hash", x.rec.PaymentHash, "amount", x.rec.Amount, "token_id", tok.ID)
					return nil, &PaidButRefusedError{StatusCode: resp.StatusCode, Receipt: *x.rec}
				}
				t.log().Warn("client: server refused a token it was paid for and never served; not buying another",
					"host", x.rec.Host, "status", resp.StatusCode, "payment_hash", tok.PaymentHash, "token_id", tok.ID)
				return nil, newSellerRefusedError(tok, x.rec.Host, resp.StatusCode)
			}
			rejected = held.tok.ID
			t.forget(x.ctx, x.key, held)
			held = nil
			if resp.StatusCode == http.StatusUnauthorized {
				// A 401 carries no challenge: ask again without a token.
				drain(resp)
				if !x.body.replayable() {
					return nil, &RefusedError{Reason: ErrBodyNotReplayable, Quote: Quote{URL: x.url(), Host: x.rec.Host, Origin: x.key.origin(), Scope: x.key.scope}}
				}
				continue
			}
		}
		ch, err := x.challenge(resp)
		if ch == nil && err == nil {
			// A 402 without an L402 challenge: not ours to answer.
			x.body.close()
			return resp, nil
		}
		drain(resp)
		if err != nil {
			x.body.close()
			return nil, err
		}
		held, bought, err = x.acquire(ch, rejected)
		if err != nil {
			x.body.close()
			return nil, err
		}
	}
	x.body.close()
	return nil, fmt.Errorf("%w after %d requests to %s", ErrTooManyAttempts, maxAttempts, x.url())
}

// send sends one attempt, with the token when there is one.
func (x *exchange) send(held *heldToken) (*http.Response, error) {
	body, err := x.body.next()
	if err != nil {
		return nil, err
	}
	if held == nil {
		r := new(http.Request)
		*r = *x.req
		r.Body, r.GetBody = body, x.body.getBody()
		return x.t.base().RoundTrip(r)
	}
	return x.t.base().RoundTrip(withToken(x.req, held, body, x.body.getBody()))
}

// withToken is req carrying h, with body: a shallow copy with its own
// header map, as oauth2.Transport makes: the caller's request is never
// modified.
func withToken(req *http.Request, h *heldToken, body io.ReadCloser, getBody func() (io.ReadCloser, error)) *http.Request {
	r := new(http.Request)
	*r = *req
	r.Body, r.GetBody = body, getBody
	hdr := make(http.Header, len(req.Header)+1)
	for k, v := range req.Header {
		hdr[k] = v
	}
	hdr[l402.HeaderAuthorization] = h.auth
	r.Header = hdr
	return r
}

// challenge reads the L402 challenge of a 402: nil and no error when it
// has none.
func (x *exchange) challenge(resp *http.Response) (*l402.Challenge, error) {
	values := resp.Header.Values("WWW-Authenticate")
	size := 0
	for _, v := range values {
		size += len(v)
	}
	if size > MaxChallengeBytes {
		return nil, fmt.Errorf("%w: %s sent %d bytes of WWW-Authenticate, more than the %d read", ErrChallenge, x.rec.Host, size, MaxChallengeBytes)
	}
	chs, err := l402.ParseChallenges(values...)
	switch {
	case errors.Is(err, l402.ErrNoChallenge):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%w from %s: %w", ErrChallenge, x.rec.Host, err)
	}
	return &chs[0], nil
}

// drain reads a little of a response body, so that its connection can be
// reused, and closes it.
func drain(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

// held returns the token to send for key, from memory or else the Store;
// nil when there is none or it has expired.
func (t *Transport) held(ctx context.Context, key scopeKey) (*heldToken, error) {
	now := t.now()
	t.mu.RLock()
	h := t.cache[key]
	t.mu.RUnlock()
	switch {
	case h == noToken:
		return nil, nil
	case h != nil && h.usable(now):
		return h, nil
	}
	origin := key.origin()
	tok, err := t.Store.Token(ctx, origin, key.scope)
	if errors.Is(err, ErrNotFound) {
		t.remember(key, noToken)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: read the token for %s%s: %w", origin, key.scope, err)
	}
	h, err = newHeld(tok)
	if err != nil {
		return nil, err
	}
	if !h.usable(now) {
		t.remember(key, noToken)
		return nil, nil
	}
	t.remember(key, h)
	return h, nil
}

// cached returns the token held in memory for key, if usable now.
func (t *Transport) cached(key scopeKey) *heldToken {
	t.mu.RLock()
	h := t.cache[key]
	t.mu.RUnlock()
	if h == nil || h == noToken || !h.usable(t.now()) {
		return nil
	}
	return h
}

// noToken caches "no token for this scope", so that requests to free
// resources make no Store round trip either. A token bought meanwhile by
// another process is not missed for long: the next 402 re-reads the Store
// under the purchase lock and uses it instead of paying.
var noToken = &heldToken{}

// maxCached bounds the token cache; a crawler visiting many directories
// would otherwise grow it without end. Past it the cache starts afresh.
const maxCached = 4096

// newHeld prepares tok for sending.
func newHeld(tok Token) (*heldToken, error) {
	mac, _, err := readToken(tok.Macaroon)
	if err != nil {
		return nil, fmt.Errorf("client: token %s: %w", tok.ID, err)
	}
	auth, err := l402.FormatAuthorization(l402.Credential{Macaroons: []*macaroon.Macaroon{mac}, Preimage: tok.Preimage})
	if err != nil {
		return nil, fmt.Errorf("client: token %s: %w", tok.ID, err)
	}
	return &heldToken{tok: tok, auth: []string{auth}, served: isServed(tok)}, nil
}

// isServed reports whether the seller has served tok and not refused it
// since.
func isServed(tok Token) bool { return !tok.AcceptedAt.IsZero() && tok.RefusedAt.IsZero() }

// replaceHeld swaps h in the cache for a copy holding tok, a newer state
// of the same token, unless the cache already moved on to another.
func (t *Transport) replaceHeld(key scopeKey, h *heldToken, tok Token) {
	nh := &heldToken{tok: tok, auth: h.auth, served: isServed(tok)}
	t.mu.Lock()
	if cur := t.cache[key]; cur != nil && cur.tok.ID == tok.ID {
		t.cache[key] = nh
	}
	t.mu.Unlock()
}

// served records that the seller served h, clearing any refused mark.
// Once per token: the cached copy then says so.
func (t *Transport) served(ctx context.Context, key scopeKey, h *heldToken) {
	tok := h.tok
	if tok.AcceptedAt.IsZero() {
		tok.AcceptedAt = t.now()
	}
	if tok.Refused() {
		t.log().Info("client: the seller served a token it had refused after payment; its scope may be bought again",
			"origin", key.origin(), "scope", key.scope, "token_id", tok.ID)
	}
	tok.RefusedAt = time.Time{}
	// The mark must be written even if the caller gives up now.
	if err := t.Store.MarkAccepted(context.WithoutCancel(ctx), tok.ID, tok.AcceptedAt); err != nil && !errors.Is(err, ErrNotFound) {
		t.log().Warn("client: could not record that a token was served", "token_id", tok.ID, "err", err)
	}
	t.replaceHeld(key, h, tok)
}

// neverServed reports whether h, refused by the seller, was paid for and
// never served. The Store has the last word: a token deleted there (the
// user allowing the scope to be bought again) or served through another
// process is an ordinary rejected token.
func (t *Transport) neverServed(ctx context.Context, h *heldToken) bool {
	if h.served {
		return false
	}
	cur, err := t.Store.TokenByID(ctx, h.tok.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return false
	case err != nil:
		t.log().Warn("client: could not re-read a refused token; not buying another", "token_id", h.tok.ID, "err", err)
		return true
	}
	return !isServed(cur)
}

// markRefused records that the seller refused h, a token paid for and
// never served, and returns the token as marked.
func (t *Transport) markRefused(ctx context.Context, key scopeKey, h *heldToken) Token {
	tok := h.tok
	if tok.Refused() {
		return tok
	}
	tok.RefusedAt = t.now()
	// Unrecorded, the mark would still hold for a token never served;
	// recorded, it also holds once the token has expired.
	if err := t.Store.MarkRefused(context.WithoutCancel(ctx), tok.ID, tok.RefusedAt); err != nil {
		t.log().Warn("client: could not mark a token refused", "token_id", tok.ID, "err", err)
	}
	t.replaceHeld(key, h, tok)
	return tok
}

func (t *Transport) remember(key scopeKey, h *heldToken) {
	t.mu.Lock()
	if t.cache == nil || len(t.cache) >= maxCached {
		t.cache = make(map[scopeKey]*heldToken)
	}
	t.cache[key] = h
	t.mu.Unlock()
}

// forget drops a token the server rejected, from memory and the Store.
func (t *Transport) forget(ctx context.Context, key scopeKey, h *heldToken) {
	t.mu.Lock()
	if cur := t.cache[key]; cur != nil && cur.tok.ID == h.tok.ID {
		delete(t.cache, key)
	}
	t.mu.Unlock()
	t.log().Info("client: server rejected a token; dropping it", "origin", key.origin(), "scope", key.scope, "token_id", h.tok.ID)
	if err := t.Store.DeleteToken(ctx, h.tok.ID); err != nil && !errors.Is(err, ErrNotFound) {
		t.log().Warn("client: could not delete a rejected token", "token_id", h.tok.ID, "err", err)
	}
}

// replayBody lets a request body be sent more than once.
type replayBody struct {
	// empty is true when the request has no body.
	empty bool
	first io.ReadCloser
	// get returns a fresh copy; nil when the body cannot be replayed.
	get  func() (io.ReadCloser, error)
	sent bool
	// orig is the caller's body, closed exactly once by close unless it
	// was handed to Base, which then owns it.
	orig   io.ReadCloser
	closed bool
}

// prepare makes req's body replayable: through GetBody when set,
// otherwise by buffering up to limit bytes. A larger body is still sent
// once, and a 402 to it is refused with ErrBodyNotReplayable before paying.
func (b *replayBody) prepare(req *http.Request, limit int64) error {
	b.first = req.Body
	if req.Body == nil || req.Body == http.NoBody {
		b.empty = true
		return nil
	}
	b.orig = req.Body
	if req.GetBody != nil {
		b.get = req.GetBody
		return nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		b.close()
		return fmt.Errorf("client: read the request body: %w", err)
	}
	if int64(len(buf)) <= limit {
		b.close()
		b.get = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
		b.first, _ = b.get()
		return nil
	}
	b.first = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
	return nil
}

func (b *replayBody) replayable() bool { return b.empty || b.get != nil }

// next returns the body for the next attempt.
func (b *replayBody) next() (io.ReadCloser, error) {
	switch {
	case b.empty:
		return b.first, nil
	case !b.sent:
		b.sent = true
		// Base now owns the caller's body and closes it.
		b.closed = true
		return b.first, nil
	case b.get == nil:
		return nil, ErrBodyNotReplayable
	}
	body, err := b.get()
	if err != nil {
		return nil, fmt.Errorf("client: replay the request body: %w", err)
	}
	return body, nil
}

// getBody is what the request sent to Base offers for its own retries.
func (b *replayBody) getBody() func() (io.ReadCloser, error) {
	if b.empty {
		return nil
	}
	return b.get
}

// close closes the caller's body if Base never took it.
func (b *replayBody) close() {
	if !b.closed && b.orig != nil {
		b.closed = true
		b.orig.Close()
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
