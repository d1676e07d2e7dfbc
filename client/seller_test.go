package client_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/lightning/lightningtest"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/store/sqlite"
)

// testSeller is an L402 seller on httptest: it mints real tokens, issues
// real signed regtest invoices, and verifies credentials with l402.Verifier.
// Its knobs make it hostile in one way at a time.
type testSeller struct {
	t   testing.TB
	srv *httptest.Server

	keys     *l402.MemoryRootKeys
	minter   l402.Minter
	verifier l402.Verifier

	// Knobs, set before the first request.
	price    money.MilliSat   // 0 = an invoice without amount
	net      *chaincfg.Params // invoice network
	expired  bool             // invoices created 2 h ago, valid 1 h
	mismatch bool             // the invoice pays another hash than the token's
	validFor time.Duration    // api_valid_until caveat; 0 = none
	// refusePaid answers 402 even to valid credentials.
	refusePaid atomic.Bool
	// hugeChallenge pads the WWW-Authenticate header past any sane size.
	hugeChallenge bool
	// stall never answers until the client gives up; stallPaid does
	// that to requests with a credential only.
	stall     bool
	stallPaid atomic.Bool
	// payDelay slows down payments through /pay, widening the window in
	// which a second buyer could pay too.
	payDelay time.Duration
	// redirect answers a valid credential with 302 to this URL.
	redirect string

	mu        sync.Mutex
	preimages map[l402.PaymentHash]l402.Preimage
	paid      map[l402.PaymentHash]bool
	// reject401 answers 401 to that many requests with a valid credential.
	reject401 atomic.Int32

	challenges atomic.Int32 // 402s sent
	withCred   atomic.Int32 // requests carrying an L402 credential
	served     atomic.Int32 // requests served with a valid credential
	paidHashes atomic.Int32 // invoices "paid" through /pay
	lastBody   atomic.Value // string: body of the last served request
}

func newTestSeller(t testing.TB) *testSeller {
	t.Helper()
	s := &testSeller{
		t:         t,
		keys:      l402.NewMemoryRootKeys(),
		price:     money.Sats(10),
		net:       &chaincfg.RegressionNetParams,
		validFor:  time.Hour,
		preimages: make(map[l402.PaymentHash]l402.Preimage),
		paid:      make(map[l402.PaymentHash]bool),
	}
	s.minter = l402.Minter{Keys: s.keys}
	s.verifier = l402.Verifier{Keys: s.keys}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pay", s.handlePay)
	mux.HandleFunc("/", s.handleResource)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// url is a resource on the seller.
func (s *testSeller) url(path string) string { return s.srv.URL + path }

// preimage returns the preimage of an invoice the seller issued, as the
// network would reveal it to a payer.
func (s *testSeller) preimage(hash l402.PaymentHash) (l402.Preimage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.preimages[hash]
	return p, ok
}

// markPaid records that hash was paid and returns its preimage, as the
// network reveals it to the payer.
func (s *testSeller) markPaid(hash l402.PaymentHash) (l402.Preimage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.preimages[hash]
	if ok {
		s.paid[hash] = true
		s.paidHashes.Add(1)
	}
	return p, ok
}

// track answers as a node would about a payment of hash: succeeded with
// the preimage when it was paid, not found otherwise.
func (s *testSeller) track(_ context.Context, hash l402.PaymentHash) (lightning.Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.paid[hash] {
		return lightning.Payment{}, lightning.ErrPaymentNotFound
	}
	return lightning.Payment{Hash: hash, Status: lightning.PaymentSucceeded, Preimage: s.preimages[hash], Fee: 500}, nil
}

// handlePay settles an invoice for a payer in another process: the body
// is the payment hash in hex, the answer the preimage in hex.
func (s *testSeller) handlePay(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	hash, err := l402.ParsePaymentHash(strings.TrimSpace(string(b)))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	time.Sleep(s.payDelay)
	p, ok := s.markPaid(hash)
	if !ok {
		http.Error(w, "unknown invoice", http.StatusNotFound)
		return
	}
	io.WriteString(w, p.Hex())
}

func (s *testSeller) handleResource(w http.ResponseWriter, r *http.Request) {
	if s.stall {
		<-r.Context().Done()
		return
	}
	if strings.HasPrefix(r.URL.Path, "/free/") {
		io.WriteString(w, "free")
		return
	}
	cred, err := l402.ParseCredential(r.Header)
	if err == nil {
		s.withCred.Add(1)
		if s.stallPaid.Load() {
			<-r.Context().Done()
			return
		}
		_, err = s.verifier.Verify(r.Context(), cred, l402.RequestSatisfiers("api", "", time.Now())...)
		switch {
		case err == nil && s.reject401.Add(-1) >= 0:
			http.Error(w, "rejected", http.StatusUnauthorized)
			return
		case err == nil && s.redirect != "":
			http.Redirect(w, r, s.redirect, http.StatusFound)
			return
		case err == nil && !s.refusePaid.Load():
			body, _ := io.ReadAll(r.Body)
			s.lastBody.Store(string(body))
			s.served.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(body))
			return
		case errors.Is(err, l402.ErrMalformed), errors.Is(err, l402.ErrInvalid):
			http.Error(w, "bad credential", http.StatusUnauthorized)
			return
		}
	}
	s.challenge(w)
}

// challenge answers 402 with a fresh token and invoice.
func (s *testSeller) challenge(w http.ResponseWriter) {
	var preimage l402.Preimage
	rand.Read(preimage[:])
	invoicePreimage := preimage
	if s.mismatch {
		rand.Read(invoicePreimage[:])
	}
	created, expiry := time.Now(), time.Hour
	if s.expired {
		created = created.Add(-2 * time.Hour)
	}
	invoice := signInvoice(s.t, s.net, invoicePreimage.Hash(), s.price, created, expiry)
	caveats := []l402.Caveat{l402.ServicesCaveat(l402.Service{Name: "api"})}
	if s.validFor > 0 {
		caveats = append(caveats, l402.ValidUntilCaveat("api", time.Now().Add(s.validFor).Unix()))
	}
	mac, _, err := s.minter.Mint(s.t.Context(), preimage.Hash(), caveats...)
	if err != nil {
		s.t.Error(err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	s.preimages[invoicePreimage.Hash()] = invoicePreimage
	s.mu.Unlock()
	value, err := l402.FormatChallenge(mac, invoice)
	if err != nil {
		s.t.Error(err)
		return
	}
	if s.hugeChallenge {
		value += `, padding="` + strings.Repeat("x", 200<<10) + `"`
	}
	s.challenges.Add(1)
	w.Header().Set("WWW-Authenticate", value)
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "payment required", http.StatusPaymentRequired)
}

// signInvoice signs a BOLT 11 invoice for hash with a random node key,
// with a payment address as lnd's invoices have; amount 0 means none.
func signInvoice(t testing.TB, net *chaincfg.Params, hash l402.PaymentHash, amount money.MilliSat, created time.Time, expiry time.Duration) string {
	t.Helper()
	var addr [32]byte
	rand.Read(addr[:])
	opts := []func(*zpay32.Invoice){zpay32.Description("test resource"), zpay32.Expiry(expiry), zpay32.PaymentAddr(addr)}
	if amount > 0 {
		opts = append(opts, zpay32.Amount(lnwire.MilliSatoshi(amount)))
	}
	payreq, err := lightningtest.SignInvoice(nil, net, hash, created, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return payreq
}

// testPayer is a wallet on regtest that "pays" by learning the preimage
// from the seller (in this process, or over HTTP from a child process),
// and counts its payments.
type testPayer struct {
	// settle returns the preimage for hash, as a successful payment does.
	settle func(hash l402.PaymentHash) (l402.Preimage, error)
	// track, when set, answers TrackPayment.
	track func(ctx context.Context, hash l402.PaymentHash) (lightning.Payment, error)
	// payErr, when set, makes Pay fail with it after counting the call.
	payErr error
	// lostAfterPay pays, then returns an in-flight error as if the
	// answer had been lost (the caller's context ended, say).
	lostAfterPay bool

	pays   atomic.Int32
	tracks atomic.Int32
	// last is the last PayRequest received.
	last atomic.Value
}

func newTestPayer(s *testSeller) *testPayer {
	return &testPayer{settle: func(hash l402.PaymentHash) (l402.Preimage, error) {
		time.Sleep(s.payDelay)
		p, ok := s.markPaid(hash)
		if !ok {
			return l402.Preimage{}, &lightning.PaymentError{Payment: lightning.Payment{Hash: hash, Status: lightning.PaymentFailed, Failure: lightning.FailureIncorrectDetails}}
		}
		return p, nil
	}}
}

// remotePayer settles through the seller's /pay endpoint.
func remotePayer(sellerURL string) *testPayer {
	return &testPayer{settle: func(hash l402.PaymentHash) (l402.Preimage, error) {
		resp, err := http.Post(sellerURL+"/pay", "text/plain", strings.NewReader(hash.String()))
		if err != nil {
			return l402.Preimage{}, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return l402.Preimage{}, errors.New(resp.Status)
		}
		return l402.ParsePreimage(string(b))
	}}
}

func (p *testPayer) DecodeInvoice(payreq string) (lightning.Invoice, error) {
	return lightning.DecodeInvoice(payreq, lightning.Regtest)
}

func (p *testPayer) Pay(_ context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	p.pays.Add(1)
	p.last.Store(req)
	inv, err := p.DecodeInvoice(req.Invoice)
	if err != nil {
		return lightning.Payment{}, err
	}
	if err := lightning.CheckPayable(inv, time.Now()); err != nil {
		return lightning.Payment{}, err
	}
	if req.Timeout <= 0 {
		return lightning.Payment{}, lightning.ErrInvalidRequest
	}
	if p.payErr != nil {
		return lightning.Payment{Hash: inv.Hash, Status: lightning.PaymentInFlight}, p.payErr
	}
	preimage, err := p.settle(inv.Hash)
	if err != nil {
		return lightning.Payment{}, err
	}
	if p.lostAfterPay {
		return lightning.Payment{Hash: inv.Hash, Status: lightning.PaymentInFlight},
			fmt.Errorf("test: answer lost: %w", lightning.ErrPaymentInFlight)
	}
	return lightning.Payment{Hash: inv.Hash, Status: lightning.PaymentSucceeded, Preimage: preimage,
		Amount: inv.Amount, Fee: 1000, CreatedAt: time.Now()}, nil
}

func (p *testPayer) TrackPayment(ctx context.Context, hash l402.PaymentHash) (lightning.Payment, error) {
	p.tracks.Add(1)
	if p.track != nil {
		return p.track(ctx, hash)
	}
	return lightning.Payment{}, lightning.ErrPaymentNotFound
}

// openStore opens a buyer store in a fresh directory.
func openStore(t testing.TB, path string) *sqlite.BuyerStore {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "buyer.db")
	}
	s, err := sqlite.OpenBuyerStore(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// buyer is a Transport with its seller, payer and store.
type buyer struct {
	seller *testSeller
	payer  *testPayer
	store  *sqlite.BuyerStore
	tr     *client.Transport
	client *http.Client
}

func newBuyer(t *testing.T, s *testSeller) *buyer {
	t.Helper()
	b := &buyer{seller: s, payer: newTestPayer(s), store: openStore(t, "")}
	b.tr = &client.Transport{Payer: b.payer, Store: b.store}
	b.client = &http.Client{Transport: b.tr, Timeout: 30 * time.Second}
	return b
}

// get fetches url and returns status, body, receipt and error.
func (b *buyer) do(t *testing.T, req *http.Request) (int, string, *client.Receipt, error) {
	t.Helper()
	ctx, rec := client.WithReceipt(req.Context())
	resp, err := b.client.Do(req.WithContext(ctx))
	if err != nil {
		return 0, "", rec, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), rec, err
}

func (b *buyer) get(t *testing.T, url string) (int, string, *client.Receipt, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.do(t, req)
}

// succeededPayments counts the spend log's succeeded payments.
func succeededPayments(t *testing.T, s client.Store) int {
	t.Helper()
	all, err := s.Payments(t.Context(), client.PaymentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range all {
		if p.Status == client.PaymentSucceeded {
			n++
		}
	}
	return n
}

// assertPaid checks that exactly n payments were made, by the payer, the
// seller and the spend log alike.
func (b *buyer) assertPaid(t *testing.T, n int) {
	t.Helper()
	if got := b.payer.pays.Load(); got != int32(n) {
		t.Errorf("payer paid %d times, want %d", got, n)
	}
	if got := succeededPayments(t, b.store); got != n {
		t.Errorf("spend log has %d succeeded payments, want %d", got, n)
	}
}
