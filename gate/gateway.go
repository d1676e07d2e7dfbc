package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

// InvoiceSource creates the invoices that challenges carry; *lnd.Node
// satisfies it. An invoice-only macaroon is all it needs.
type InvoiceSource interface {
	CreateInvoice(ctx context.Context, req lightning.InvoiceRequest) (lightning.CreatedInvoice, error)
}

// Options are what a Gateway is built from.
type Options struct {
	// Config is the gateway's configuration; New applies WithDefaults and
	// Validate to it.
	Config Config
	// Invoices creates challenge invoices. Required.
	Invoices InvoiceSource
	// Store holds quotas, revocations and sales. Required.
	Store Store
	// Keys gives tokens their root keys. Required; use
	// l402.NewDerivedRootKeys so that verifying needs no store round trip.
	Keys l402.RootKeyStore
	// Logger receives the gateway's logs; nil means silent. Logs never
	// hold credentials, preimages or macaroons.
	Logger *slog.Logger
	// Registry receives the gateway's metrics; nil means a new registry of
	// its own, served by the admin handler either way.
	Registry *prometheus.Registry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Gateway is the L402 reverse proxy: it answers unpaid requests to paid
// routes with 402 and a challenge, verifies credentials locally, counts
// quotas in the store and proxies what is paid for. It is an http.Handler
// for the public listener; AdminHandler serves the operator's API.
type Gateway struct {
	cfg      Config
	routes   []*route
	invoices InvoiceSource
	store    Store
	minter   l402.Minter
	verifier l402.Verifier
	log      *slog.Logger
	now      func() time.Time
	limiter  *ipLimiter
	revoked  *tokenSet
	sold     *tokenSet
	// verified is nil unless root keys are derived (see verifiedCache).
	verified      *verifiedCache
	metrics       *metrics
	registry      *prometheus.Registry
	manifest      manifestDoc
	transport     *http.Transport
	tokenIDHeader string
	// revocationCursor is RevokedSince's cursor; only SyncRevocations
	// touches it, under syncMu.
	syncMu           sync.Mutex
	revocationCursor int64
}

// New builds a gateway from opts.
func New(opts Options) (*Gateway, error) {
	cfg := opts.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Invoices == nil || opts.Store == nil || opts.Keys == nil {
		return nil, errors.New("gate: Options needs Invoices, Store and Keys")
	}
	g := &Gateway{
		cfg:           cfg,
		invoices:      opts.Invoices,
		store:         opts.Store,
		minter:        l402.Minter{Keys: opts.Keys},
		verifier:      l402.Verifier{Keys: opts.Keys},
		log:           opts.Logger,
		now:           opts.Now,
		limiter:       newIPLimiter(cfg.RateLimit.ChallengesPerSecond, cfg.RateLimit.Burst),
		revoked:       newTokenSet(),
		sold:          newTokenSet(),
		registry:      opts.Registry,
		transport:     newUpstreamTransport(),
		tokenIDHeader: http.CanonicalHeaderKey(cfg.TokenIDHeader),
	}
	if _, derived := opts.Keys.(*l402.DerivedRootKeys); derived {
		g.verified = newVerifiedCache()
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.registry == nil {
		g.registry = prometheus.NewRegistry()
	}
	var err error
	if g.metrics, err = newMetrics(g.registry); err != nil {
		return nil, err
	}
	for _, rc := range cfg.Routes {
		rt, err := compileRoute(rc)
		if err != nil {
			return nil, err
		}
		rt.proxy = g.newProxy(rt)
		rt.verifiedCounter = g.metrics.verifiedTotal.WithLabelValues(rt.cfg.Name)
		g.routes = append(g.routes, rt)
	}
	if g.manifest, err = buildManifest(cfg); err != nil {
		return nil, err
	}
	return g, nil
}

// Config returns the configuration in force, defaults applied.
func (g *Gateway) Config() Config { return g.cfg }

// Close releases idle upstream connections. The store is the caller's to
// close.
func (g *Gateway) Close() { g.transport.CloseIdleConnections() }

// newUpstreamTransport is shared by every route: connections to an
// upstream are kept alive and reused, many per host, instead of one new
// connection per request.
func newUpstreamTransport() *http.Transport {
	return &http.Transport{
		// Upstreams are the seller's own services: an environment proxy
		// setting meant for outgoing traffic must not reroute them.
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// chargedKey marks, in a proxied request's context, the token whose quota
// was charged for it, so that an upstream failure refunds it.
type chargedKey struct{}

func (g *Gateway) newProxy(rt *route) *httputil.ReverseProxy {
	upstream := rt.upstream
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
		},
		Transport: g.transport,
		// FlushInterval stays 0: ReverseProxy then flushes at once for
		// server-sent events and for bodies of unknown length (chunked,
		// streaming), and lets fixed-length bodies go out in full
		// buffers instead of flushing after every write.
		BufferPool: proxyBuffers,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.upstreamFailed(w, r, rt, err)
		},
	}
}

// proxyBuffers recycles the 32 KiB buffers ReverseProxy copies bodies
// through, which it would otherwise allocate per request.
var proxyBuffers = &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte  { return *p.pool.Get().(*[]byte) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }

// WellKnownPath is where the discovery manifest is served.
const WellKnownPath = "/.well-known/l402.json"

// ServeHTTP serves the public listener.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == WellKnownPath {
		g.serveManifest(w, r)
		return
	}
	// A client must not be able to name the token its request pays with.
	dropHeaderLoose(r.Header, g.tokenIDHeader)
	if !cleanPath(r.URL.Path) {
		err := fmt.Errorf("%w: the path must be absolute, without . or .. segments or doubled slashes", errBadRequest)
		g.metrics.request(nil, http.StatusBadRequest)
		g.writeError(w, responseFor(err), err)
		return
	}
	rt := g.match(r)
	if rt == nil {
		g.metrics.request(nil, http.StatusNotFound)
		g.writeError(w, responseFor(errNoRoute), errNoRoute)
		return
	}
	sw := newStatusWriter(w)
	defer func() {
		g.metrics.request(rt, sw.finalStatus(r))
		releaseStatusWriter(sw)
	}()
	if rt.cfg.Free {
		rt.proxy.ServeHTTP(sw, r)
		return
	}
	id, charged, err := g.authorize(r.Context(), r, rt)
	if err != nil {
		g.refuse(sw, r, rt, err)
		return
	}
	// The upstream sees who paid, never the credential itself.
	stripCredentials(r.Header)
	r.Header[g.tokenIDHeader] = []string{id.String()}
	if charged {
		r = r.WithContext(context.WithValue(r.Context(), chargedKey{}, id))
	}
	rt.proxy.ServeHTTP(sw, r)
}

// dropHeaderLoose deletes every header whose name equals name ignoring
// case and treating '_' as '-': upstreams behind CGI, WSGI or nginx read
// X_L402_Token_Id as X-L402-Token-Id.
func dropHeaderLoose(h http.Header, name string) {
	for k := range h {
		if len(k) != len(name) {
			continue
		}
		same := true
		for i := 0; i < len(k) && same; i++ {
			a, b := k[i], name[i]
			if a == '_' {
				a = '-'
			}
			same = a == b || a|0x20 == b|0x20 && a|0x20 >= 'a' && a|0x20 <= 'z'
		}
		if same {
			delete(h, k)
		}
	}
}

func (g *Gateway) match(r *http.Request) *route {
	for _, rt := range g.routes {
		if rt.matches(r.Host, r.URL.Path, r.Method) {
			return rt
		}
	}
	return nil
}

// credentialHeaders are every header an L402 credential travels in.
var credentialHeaders = []string{l402.HeaderAuthorization, l402.HeaderGrpcToken, l402.HeaderToken, l402.HeaderGrpcMacaroon, l402.HeaderMacaroon}

func stripCredentials(h http.Header) {
	for _, name := range credentialHeaders {
		delete(h, name)
	}
}

// maxCredentialBytes bounds the credential headers read before parsing: a
// token with its discharges is a few KiB at most, and anything larger is
// refused before base64 or macaroon decoding spends work on it.
const maxCredentialBytes = 8 << 10

func checkCredentialSize(h http.Header) error {
	n := 0
	for _, name := range credentialHeaders {
		for _, v := range h[name] {
			n += len(v)
		}
	}
	if n > maxCredentialBytes {
		return fmt.Errorf("gate: %w: credential headers hold %d bytes, at most %d", l402.ErrMalformed, n, maxCredentialBytes)
	}
	return nil
}

// authorize verifies the request's credential for rt, all locally but for
// the quota count, and returns the token id and whether a quota was
// charged.
func (g *Gateway) authorize(ctx context.Context, r *http.Request, rt *route) (l402.TokenID, bool, error) {
	if err := checkCredentialSize(r.Header); err != nil {
		return l402.TokenID{}, false, err
	}
	now := g.now()
	satisfiers, err := rt.satisfiers(r, now)
	if err != nil {
		return l402.TokenID{}, false, err
	}
	start := time.Now()
	tok, err := g.verify(ctx, r.Header, satisfiers)
	g.metrics.verifySeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return l402.TokenID{}, false, err
	}
	id := tok.ID.TokenID
	if g.revoked.has(id) {
		return id, false, fmt.Errorf("gate: token %s: %w", id, ErrRevoked)
	}
	limit, err := rt.quotaLimit(tok)
	if err != nil {
		return id, false, err
	}
	if limit > 0 {
		if _, err := g.store.UseQuota(ctx, id, limit); err != nil {
			if errors.Is(err, ErrQuotaExhausted) || errors.Is(err, ErrRevoked) {
				return id, false, err
			}
			return id, false, fmt.Errorf("gate: %w: %w", errStoreUnavailable, err)
		}
	}
	g.recordSale(ctx, tok, rt, now)
	g.metrics.verified(rt)
	return id, limit > 0, nil
}

// verify checks the request's credential against satisfiers. A single
// Authorization value verified before skips decoding and the signature
// check; its caveats are checked against this request all the same.
func (g *Gateway) verify(ctx context.Context, h http.Header, satisfiers []l402.Satisfier) (l402.Token, error) {
	var key string
	if auth := h[l402.HeaderAuthorization]; g.verified != nil && len(auth) == 1 && l402Scheme(auth[0]) {
		key = auth[0]
		if tok, ok := g.verified.get(key); ok {
			if err := l402.CheckCaveats(tok.Caveats, satisfiers...); err != nil {
				return l402.Token{}, err
			}
			return tok, nil
		}
	}
	cred, err := l402.ParseCredential(h)
	if err != nil {
		return l402.Token{}, err
	}
	tok, err := g.verifier.Verify(ctx, cred, satisfiers...)
	if err != nil {
		return l402.Token{}, err
	}
	if key != "" {
		g.verified.put(key, tok)
	}
	return tok, nil
}

// l402Scheme reports whether an Authorization value is an L402 or LSAT
// credential. Only then is the value itself the credential ParseCredential
// uses (another scheme, "Bearer ...", makes it fall back on the Macaroon
// headers), and so a sound cache key.
func l402Scheme(v string) bool {
	return len(v) > 5 && v[4] == ' ' && (strings.EqualFold(v[:4], l402.SchemeL402) || strings.EqualFold(v[:4], l402.SchemeLSAT))
}

// recordSale records a token's sale at its first verified use on this
// instance; later uses find it in memory and make no store call. Failing
// to record does not refuse the request (the buyer has paid): the next use
// tries again.
func (g *Gateway) recordSale(ctx context.Context, tok l402.Token, rt *route, now time.Time) {
	id := tok.ID.TokenID
	if g.sold.has(id) {
		return
	}
	sale := Sale{TokenID: id, PaymentHash: tok.ID.PaymentHash, Route: rt.cfg.Name, Amount: rt.price, At: now}
	if v, ok := firstValue(tok, conditionRoute); ok {
		sale.Route = v
	}
	if v, ok := firstValue(tok, conditionPrice); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && money.MilliSat(n).Valid() {
			sale.Amount = money.MilliSat(n)
		}
	}
	recorded, err := g.store.RecordSale(ctx, sale)
	if err != nil {
		g.log.WarnContext(ctx, "gate: record sale", "token_id", id, "route", sale.Route, "err", err)
		return
	}
	var until int64
	if v, ok := tok.Value(rt.cfg.Service + l402.SuffixValidUntil); ok {
		until, _ = strconv.ParseInt(v, 10, 64)
	}
	g.sold.add(id, until)
	if recorded {
		g.metrics.sale(sale.Route, sale.Amount)
		g.log.InfoContext(ctx, "gate: sale", "token_id", id, "route", sale.Route, "amount_msat", int64(sale.Amount))
	}
}

// refuse answers a request that is not proxied, with a fresh challenge
// when its answer calls for one.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, rt *route, err error) {
	resp := responseFor(err)
	g.metrics.refused(resp.reason)
	if g.log.Enabled(r.Context(), slog.LevelDebug) {
		g.log.DebugContext(r.Context(), "gate: refused", "route", rt.cfg.Name, "reason", resp.reason, "err", err)
	}
	if !resp.challenge {
		g.writeError(w, resp, err)
		return
	}
	if wait, ok := g.limiter.allow(g.clientAddr(r), g.now()); !ok {
		g.metrics.rateLimited.Inc()
		err = &rateLimitedError{wait: wait}
		g.writeError(w, responseFor(err), err)
		return
	}
	lines, cerr := g.challenge(r.Context(), rt)
	if cerr != nil {
		g.writeError(w, responseFor(cerr), cerr)
		return
	}
	h := w.Header()
	for _, l := range lines {
		h.Add("WWW-Authenticate", l)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Link", `<`+WellKnownPath+`>; rel="l402-manifest"`)
	g.metrics.challenges(rt)
	writeText(w, resp.status, resp.body)
}

// challenge creates an invoice for rt's price and mints the token bound to
// it, returning the WWW-Authenticate values.
func (g *Gateway) challenge(ctx context.Context, rt *route) ([]string, error) {
	nodeCtx, cancel := context.WithTimeout(ctx, g.cfg.Node.Timeout)
	defer cancel()
	memo := rt.cfg.Description
	if memo == "" {
		memo = g.cfg.Provider.Name + ": " + rt.cfg.Name
	}
	inv, err := g.invoices.CreateInvoice(nodeCtx, lightning.InvoiceRequest{
		Amount: rt.price,
		Memo:   memo,
		Expiry: g.cfg.InvoiceExpiry,
	})
	if err != nil {
		g.metrics.nodeErrors.Inc()
		g.log.WarnContext(ctx, "gate: node cannot create an invoice", "route", rt.cfg.Name, "err", err)
		return nil, fmt.Errorf("gate: create invoice: %w: %w", errNodeUnavailable, err)
	}
	mac, _, err := g.minter.Mint(ctx, inv.Hash, rt.caveatsAt(g.now())...)
	if err != nil {
		return nil, fmt.Errorf("gate: mint: %w", err)
	}
	value, err := l402.FormatChallenge(mac, inv.PaymentRequest)
	if err != nil {
		return nil, fmt.Errorf("gate: challenge: %w", err)
	}
	if g.cfg.LSATChallenge {
		return []string{l402.SchemeLSAT + strings.TrimPrefix(value, l402.SchemeL402), value}, nil
	}
	return []string{value}, nil
}

// upstreamFailed answers 502 when the upstream could not be reached or
// failed before answering, and gives back the quota the request was
// charged: the buyer got nothing for it.
func (g *Gateway) upstreamFailed(w http.ResponseWriter, r *http.Request, rt *route, err error) {
	g.metrics.upstreamErrors(rt)
	if id, ok := r.Context().Value(chargedKey{}).(l402.TokenID); ok {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		if rerr := g.store.RefundQuota(ctx, id); rerr != nil {
			g.log.WarnContext(ctx, "gate: refund quota", "token_id", id, "err", rerr)
		}
		cancel()
	}
	g.log.WarnContext(r.Context(), "gate: upstream failed", "route", rt.cfg.Name, "err", err)
	uerr := fmt.Errorf("gate: %w: %w", errUpstream, err)
	g.writeError(w, responseFor(uerr), uerr)
}

// writeError writes a refusal that carries no challenge.
func (g *Gateway) writeError(w http.ResponseWriter, resp response, err error) {
	var limited *rateLimitedError
	switch {
	case errors.As(err, &limited):
		w.Header().Set("Retry-After", strconv.FormatInt(int64((limited.wait+time.Second-1)/time.Second), 10))
	case resp.status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterUnavailable))
	}
	writeText(w, resp.status, resp.body)
}

// retryAfterUnavailable is the Retry-After, in seconds, of a 503: long
// enough not to hammer a node or store that is down, short enough that
// buyers come back soon after it recovers.
const retryAfterUnavailable = 5

// writeText writes a short plain-text answer, as http.Error does (and as
// Aperture does for its 402).
func writeText(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
