package gate_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"
	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/lightning/lightningtest"
)

// fakeNode stands in for lnd: it issues real signed regtest BOLT 11
// invoices and remembers their preimages, so that a test "pays" by looking
// one up. fail makes every CreateInvoice fail, as a node that is down.
type fakeNode struct {
	key *btcec.PrivateKey

	mu        sync.Mutex
	preimages map[l402.PaymentHash]l402.Preimage
	requests  []lightning.InvoiceRequest
	fail      error
}

func newFakeNode(t testing.TB) *fakeNode {
	t.Helper()
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &fakeNode{key: key, preimages: map[l402.PaymentHash]l402.Preimage{}}
}

func (f *fakeNode) CreateInvoice(_ context.Context, req lightning.InvoiceRequest) (lightning.CreatedInvoice, error) {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		return lightning.CreatedInvoice{}, fail
	}
	var preimage l402.Preimage
	if _, err := rand.Read(preimage[:]); err != nil {
		return lightning.CreatedInvoice{}, err
	}
	hash := preimage.Hash()
	now := time.Now()
	payreq, err := lightningtest.SignInvoice(f.key, &chaincfg.RegressionNetParams, hash, now,
		zpay32.Amount(lnwire.MilliSatoshi(req.Amount)), zpay32.Description(req.Memo), zpay32.Expiry(req.Expiry))
	if err != nil {
		return lightning.CreatedInvoice{}, err
	}
	f.mu.Lock()
	f.preimages[hash] = preimage
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	return lightning.CreatedInvoice{PaymentRequest: payreq, Hash: hash, Amount: req.Amount, ExpiresAt: now.Add(req.Expiry)}, nil
}

func (f *fakeNode) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *fakeNode) invoices() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// pay returns the preimage of an invoice the fake issued, after checking
// the invoice decodes on regtest: what a buyer's node would reveal.
func (f *fakeNode) pay(t testing.TB, payreq string) (l402.Preimage, lightning.Invoice) {
	t.Helper()
	inv, err := lightning.DecodeInvoice(payreq, lightning.Regtest)
	if err != nil {
		t.Fatalf("invoice does not decode: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.preimages[inv.Hash]
	if !ok {
		t.Fatal("invoice not issued by this node")
	}
	return p, inv
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// seen is what the upstream received.
type seen struct {
	path    string
	header  http.Header
	proto   string
	upgrade bool
}

// upstream is the service behind the gateway. /sse streams events, one
// per value sent on release; /ws switches protocols and echoes bytes;
// anything else answers "upstream <path>".
type upstream struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []seen
	release chan string
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{release: make(chan string)}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.got = append(u.got, seen{path: r.URL.Path, header: r.Header.Clone(), proto: r.Proto, upgrade: r.Header.Get("Upgrade") != ""})
		u.mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/sse"):
			w.Header().Set("Content-Type", "text/event-stream")
			rc := http.NewResponseController(w)
			w.WriteHeader(http.StatusOK)
			if err := rc.Flush(); err != nil {
				return
			}
			for ev := range u.release {
				fmt.Fprintf(w, "data: %s\n\n", ev)
				if err := rc.Flush(); err != nil {
					return
				}
			}
		case strings.HasSuffix(r.URL.Path, "/ws"):
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			buf := make([]byte, 4)
			for {
				if _, err := io.ReadFull(brw, buf); err != nil {
					return
				}
				if _, err := conn.Write(buf); err != nil {
					return
				}
			}
		default:
			fmt.Fprintf(w, "upstream %s", r.URL.Path)
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) last(t testing.TB) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.got) == 0 {
		t.Fatal("upstream received nothing")
	}
	return u.got[len(u.got)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.got)
}

// harness is a gateway served on loopback with PublicServer's settings,
// in front of an upstream, with a fake node and the memory store.
type harness struct {
	t        testing.TB
	gw       *gate.Gateway
	node     *fakeNode
	store    *gate.MemoryStore
	up       *upstream
	srv      *httptest.Server
	clock    *clock
	keys     *l402.DerivedRootKeys
	admin    http.Handler
	adminTok string
}

const adminToken = "test-admin-token"

// testConfig routes, every one to upstream:
//
//	/paid            10 sat
//	/quota           5 sat, 2 requests per token
//	/exp             1 sat, tokens valid 1 minute
//	/docs/read       service docs, needs and grants "read"
//	/docs/write      service docs, needs and grants "write"
//	/docs/any        service docs, needs nothing, grants everything
//	/search          constraint search_max_results=100 on ?limit (default 10)
//	/other           service other
//	/free            free
func testConfig(upstreamURL, dataDir string) gate.Config {
	return gate.Config{
		DataDir: dataDir,
		Listen:  "127.0.0.1:0",
		TLS:     gate.TLSConfig{Mode: gate.TLSOff},
		// Tests of the limit set their own.
		RateLimit: gate.RateLimitConfig{ChallengesPerSecond: 1000, Burst: 1000},
		Routes: []gate.RouteConfig{
			{Name: "paid", Path: "/paid", Upstream: upstreamURL, PriceSats: 10},
			{Name: "quota", Path: "/quota", Upstream: upstreamURL, PriceSats: 5, Quota: 2},
			{Name: "exp", Path: "/exp", Upstream: upstreamURL, PriceSats: 1, TokenLifetime: time.Minute},
			{Name: "docs-read", Service: "docs", Path: "/docs/read", Upstream: upstreamURL, PriceSats: 3, Capability: "read"},
			{Name: "docs-write", Service: "docs", Path: "/docs/write", Upstream: upstreamURL, PriceSats: 3, Capability: "write"},
			{Name: "docs-any", Service: "docs", Path: "/docs/any", Upstream: upstreamURL, PriceSats: 3},
			{Name: "search", Path: "/search", Upstream: upstreamURL, PriceSats: 2, Constraints: []gate.ConstraintConfig{
				{Condition: "search_max_results", Max: 100, Query: "limit", Default: 10}}},
			{Name: "other", Path: "/other", Upstream: upstreamURL, PriceSats: 1},
			{Name: "free", Path: "/free", Upstream: upstreamURL, Free: true},
		},
	}
}

func newHarness(t testing.TB, mutate func(*gate.Config)) *harness {
	t.Helper()
	h := &harness{t: t, node: newFakeNode(t), store: gate.NewMemoryStore(), up: newUpstream(t),
		clock: &clock{now: time.Now()}, adminTok: adminToken}
	cfg := testConfig(h.up.srv.URL, t.TempDir())
	if mutate != nil {
		mutate(&cfg)
	}
	// A random master secret: tokens of another harness (another fuzz
	// worker) are forgeries here.
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	var err error
	if h.keys, err = l402.NewDerivedRootKeys(master); err != nil {
		t.Fatal(err)
	}
	h.gw, err = gate.New(gate.Options{Config: cfg, Invoices: h.node, Store: h.store, Keys: h.keys, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.gw.Close)
	h.srv = httptest.NewUnstartedServer(h.gw)
	h.srv.Config = h.gw.PublicServer()
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	h.admin = h.gw.AdminHandler(h.adminTok)
	return h
}

// do sends a request with the given extra headers and returns the answer
// with its body read.
func (h *harness) do(method, path string, header http.Header) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, string(body)
}

func (h *harness) get(path string, header http.Header) (*http.Response, string) {
	h.t.Helper()
	return h.do(http.MethodGet, path, header)
}

// token is a bought token: the challenge's macaroon and the preimage that
// paying its invoice revealed.
type token struct {
	mac      *macaroon.Macaroon
	id       l402.Identifier
	preimage l402.Preimage
	invoice  lightning.Invoice
}

func (tk token) cred() l402.Credential {
	return l402.Credential{Macaroons: []*macaroon.Macaroon{tk.mac}, Preimage: tk.preimage}
}

// auth returns the Authorization header for the token.
func (tk token) auth(t testing.TB) http.Header {
	t.Helper()
	v, err := l402.FormatAuthorization(tk.cred())
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{"Authorization": {v}}
}

// attenuated returns a copy of the token with caveats appended.
func (tk token) attenuated(t testing.TB, caveats ...l402.Caveat) token {
	t.Helper()
	tk.mac = tk.mac.Clone()
	if err := l402.AddCaveats(tk.mac, caveats...); err != nil {
		t.Fatal(err)
	}
	return tk
}

// challenge requests path without a credential, expects a 402 and parses
// its challenge.
func (h *harness) challenge(path string) (l402.Challenge, *http.Response) {
	h.t.Helper()
	resp, body := h.get(path, nil)
	if resp.StatusCode != http.StatusPaymentRequired {
		h.t.Fatalf("GET %s without credential: %d %q, want 402", path, resp.StatusCode, body)
	}
	cs, err := l402.ParseChallenges(resp.Header.Values("WWW-Authenticate")...)
	if err != nil {
		h.t.Fatalf("402 challenge does not parse: %v", err)
	}
	return cs[0], resp
}

// buy gets a challenge for path and pays it.
func (h *harness) buy(path string) token {
	h.t.Helper()
	c, _ := h.challenge(path)
	preimage, inv := h.node.pay(h.t, c.Invoice)
	if inv.Hash != c.ID.PaymentHash {
		h.t.Fatal("challenge's token is bound to another hash than its invoice's")
	}
	return token{mac: c.Macaroon, id: c.ID, preimage: preimage, invoice: inv}
}

// revoke revokes a token through the admin API.
func (h *harness) revoke(id l402.TokenID) {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/admin/tokens/"+id.String()+"/revoke", strings.NewReader(`{"reason":"test"}`))
	req.Header.Set("Authorization", "Bearer "+h.adminTok)
	rec := httptest.NewRecorder()
	h.admin.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		h.t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
}

// rawRequest writes a raw HTTP/1.1 request to the gateway and returns the
// connection and a reader positioned at the answer.
func (h *harness) rawRequest(t testing.TB, req string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	return conn, bufio.NewReader(conn)
}

var errNodeDown = errors.New("test: node unreachable")

// httptestRecorder serves one GET through handler in process and returns
// the status.
func httptestRecorder(t testing.TB, handler http.Handler, path string, header http.Header) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec.Code
}

func httptestServer(t testing.TB, handler http.Handler) *httptest.Server {
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

// countingStore counts the calls a gateway makes to its store.
type countingStore struct {
	*gate.MemoryStore
	mu          sync.Mutex
	recordSales int
	useQuota    int
}

func (c *countingStore) RecordSale(ctx context.Context, s gate.Sale) (bool, error) {
	c.mu.Lock()
	c.recordSales++
	c.mu.Unlock()
	return c.MemoryStore.RecordSale(ctx, s)
}

func (c *countingStore) UseQuota(ctx context.Context, id l402.TokenID, limit int64) (int64, error) {
	c.mu.Lock()
	c.useQuota++
	c.mu.Unlock()
	return c.MemoryStore.UseQuota(ctx, id, limit)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testKeys(t testing.TB) *l402.DerivedRootKeys {
	t.Helper()
	keys, err := l402.NewDerivedRootKeys(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
