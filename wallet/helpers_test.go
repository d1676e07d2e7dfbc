package wallet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"
	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/bakery"
	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/lightning/lightningtest"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/store/sqlite"
	"github.com/satloop/satloop/wallet"
)

// payMode is what the fake node does when asked to pay.
type payMode int

const (
	// paySucceed pays at once, when the node knows the invoice's preimage.
	paySucceed payMode = iota
	// payFail fails finally (no route): nothing spent.
	payFail
	// payInFlight leaves the payment in flight and says so; complete ends it.
	payInFlight
	// payBlock holds Pay until unblock is closed, then pays.
	payBlock
	// payDenied refuses as lnd does a macaroon without the permission.
	payDenied
)

// fakePayment is a payment as the fake node keeps it.
type fakePayment struct {
	p    lightning.Payment
	done chan struct{} // closed once p is final
}

// fakeNode is a wallet.Node on regtest whose "network" settles the
// invoices it made itself (newInvoice), with a Pay the test controls.
type fakeNode struct {
	fee money.MilliSat
	// delay, when set, is how long a successful payment takes (a random
	// part of it, so that payments end out of order).
	delay time.Duration

	mu        sync.Mutex
	mode      payMode
	unblock   chan struct{}
	preimages map[l402.PaymentHash]l402.Preimage
	payments  map[l402.PaymentHash]*fakePayment
	created   map[l402.PaymentHash]lightning.CreatedInvoice

	// secret, when set, learns every preimage the node's network makes,
	// to be looked for in logs and errors.
	secret func(string)

	pays     atomic.Int32 // Pay calls
	paidOut  atomic.Int32 // Pay calls that sent money (succeeded now or later)
	inFlight atomic.Int32 // Pay calls running now
	maxPar   atomic.Int32 // most Pay calls running at once
	cutShort atomic.Int32 // Pay calls whose context ended before the outcome
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		fee:       1000,
		unblock:   make(chan struct{}),
		preimages: make(map[l402.PaymentHash]l402.Preimage),
		payments:  make(map[l402.PaymentHash]*fakePayment),
		created:   make(map[l402.PaymentHash]lightning.CreatedInvoice),
	}
}

var _ wallet.Node = (*fakeNode)(nil)

func (n *fakeNode) setMode(m payMode) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mode = m
}

// newInvoice signs a regtest invoice for amount whose preimage the node's
// network knows, so that paying it succeeds. amount 0 makes one without an
// amount.
func (n *fakeNode) newInvoice(t testing.TB, amount money.MilliSat) (string, l402.Preimage) {
	t.Helper()
	return n.newInvoiceAt(t, amount, time.Now(), time.Hour, &chaincfg.RegressionNetParams)
}

func (n *fakeNode) newInvoiceAt(t testing.TB, amount money.MilliSat, created time.Time, expiry time.Duration, net *chaincfg.Params) (string, l402.Preimage) {
	t.Helper()
	var preimage l402.Preimage
	rand.Read(preimage[:])
	payreq := signInvoice(t, net, preimage.Hash(), amount, created, expiry)
	n.mu.Lock()
	n.preimages[preimage.Hash()] = preimage
	n.mu.Unlock()
	if n.secret != nil {
		n.secret(preimage.Hex())
	}
	return payreq, preimage
}

func signInvoice(t testing.TB, net *chaincfg.Params, hash l402.PaymentHash, amount money.MilliSat, created time.Time, expiry time.Duration) string {
	t.Helper()
	payreq, err := sign(net, hash, amount, created, expiry)
	if err != nil {
		t.Fatal(err)
	}
	return payreq
}

// sign signs a BOLT 11 invoice for hash with a random node key, with a
// payment address as lnd's invoices have; amount 0 means none.
func sign(net *chaincfg.Params, hash l402.PaymentHash, amount money.MilliSat, created time.Time, expiry time.Duration) (string, error) {
	var addr [32]byte
	rand.Read(addr[:])
	opts := []func(*zpay32.Invoice){zpay32.Description("test resource"), zpay32.Expiry(expiry), zpay32.PaymentAddr(addr)}
	if amount > 0 {
		opts = append(opts, zpay32.Amount(lnwire.MilliSatoshi(amount)))
	}
	return lightningtest.SignInvoice(nil, net, hash, created, opts...)
}

func (n *fakeNode) Info(context.Context) (lightning.NodeInfo, error) {
	return lightning.NodeInfo{Alias: "fake", Network: lightning.Regtest}, nil
}

func (n *fakeNode) DecodeInvoice(payreq string) (lightning.Invoice, error) {
	return lightning.DecodeInvoice(payreq, lightning.Regtest)
}

func (n *fakeNode) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	n.pays.Add(1)
	now := n.inFlight.Add(1)
	defer n.inFlight.Add(-1)
	for {
		m := n.maxPar.Load()
		if now <= m || n.maxPar.CompareAndSwap(m, now) {
			break
		}
	}
	inv, err := n.DecodeInvoice(req.Invoice)
	if err != nil {
		return lightning.Payment{}, err
	}
	if err := lightning.CheckPayable(inv, time.Now()); err != nil {
		return lightning.Payment{}, err
	}
	if req.Timeout <= 0 || req.MaxFee < n.fee {
		return lightning.Payment{}, fmt.Errorf("fake node: %w: timeout %s, fee limit %s", lightning.ErrInvalidRequest, req.Timeout, req.MaxFee)
	}

	n.mu.Lock()
	if n.mode == payDenied {
		n.mu.Unlock()
		return lightning.Payment{}, fmt.Errorf("fake node: %w", &lightning.PermissionError{Call: "SendPaymentV2", Need: []lightning.Permission{{Entity: "offchain", Action: "write"}}})
	}
	if old, ok := n.payments[inv.Hash]; ok && old.p.Status != lightning.PaymentFailed {
		// lnd pays a hash once: the earlier payment is the answer.
		p := old.p
		n.mu.Unlock()
		p.AlreadyPaid = true
		if p.Status == lightning.PaymentInFlight {
			return p, fmt.Errorf("fake node: %w", lightning.ErrPaymentInFlight)
		}
		return p, nil
	}
	mode, unblock := n.mode, n.unblock
	_, known := n.preimages[inv.Hash]
	fp := &fakePayment{p: lightning.Payment{Hash: inv.Hash, Status: lightning.PaymentInFlight, Amount: inv.Amount, CreatedAt: time.Now()}, done: make(chan struct{})}
	n.payments[inv.Hash] = fp
	n.mu.Unlock()

	switch {
	case !known:
		return n.finish(inv.Hash, false)
	case mode == payFail:
		return n.finish(inv.Hash, false)
	case mode == payInFlight:
		n.paidOut.Add(1)
		return fp.p, fmt.Errorf("fake node: payment %s: %w", inv.Hash, lightning.ErrPaymentInFlight)
	case mode == payBlock:
		select {
		case <-unblock:
		case <-ctx.Done():
			// lnd keeps paying after the caller gives up.
			n.cutShort.Add(1)
			n.paidOut.Add(1)
			go func() {
				<-unblock
				n.finish(inv.Hash, true)
			}()
			return fp.p, fmt.Errorf("fake node: %w (%w)", lightning.ErrPaymentInFlight, ctx.Err())
		}
	}
	if n.delay > 0 {
		time.Sleep(n.delay/2 + time.Duration(mrand.Int64N(int64(n.delay/2)+1)))
	}
	n.paidOut.Add(1)
	return n.finish(inv.Hash, true)
}

// finish ends the payment for hash: succeeded with the invoice's preimage
// and the node's fee, or failed.
func (n *fakeNode) finish(hash l402.PaymentHash, ok bool) (lightning.Payment, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fp := n.payments[hash]
	if fp.p.Status != lightning.PaymentInFlight {
		return fp.p, nil
	}
	if ok {
		fp.p.Status, fp.p.Preimage, fp.p.Fee = lightning.PaymentSucceeded, n.preimages[hash], n.fee
	} else {
		fp.p.Status, fp.p.Failure = lightning.PaymentFailed, lightning.FailureNoRoute
	}
	close(fp.done)
	if !ok {
		return fp.p, fmt.Errorf("fake node: %w", &lightning.PaymentError{Payment: fp.p})
	}
	return fp.p, nil
}

// complete ends an in-flight payment, as the network would.
func (n *fakeNode) complete(hash l402.PaymentHash, ok bool) {
	n.finish(hash, ok)
}

// setPayment records a payment the node made before (a crash of the
// wallet left its ledger behind).
func (n *fakeNode) setPayment(hash l402.PaymentHash, status lightning.PaymentStatus, amount money.MilliSat) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fp := &fakePayment{p: lightning.Payment{Hash: hash, Status: status, Amount: amount, CreatedAt: time.Now()}, done: make(chan struct{})}
	switch status {
	case lightning.PaymentSucceeded:
		fp.p.Preimage, fp.p.Fee = n.preimages[hash], n.fee
		close(fp.done)
	case lightning.PaymentFailed:
		fp.p.Failure = lightning.FailureNoRoute
		close(fp.done)
	}
	n.payments[hash] = fp
}

// TrackPayment waits, as lnd does, while the payment is in flight.
func (n *fakeNode) TrackPayment(ctx context.Context, hash l402.PaymentHash) (lightning.Payment, error) {
	n.mu.Lock()
	fp, ok := n.payments[hash]
	n.mu.Unlock()
	if !ok {
		return lightning.Payment{}, fmt.Errorf("fake node: %w", lightning.ErrPaymentNotFound)
	}
	select {
	case <-fp.done:
	case <-ctx.Done():
		return lightning.Payment{Hash: hash, Status: lightning.PaymentInFlight}, fmt.Errorf("fake node: %w (%w)", lightning.ErrPaymentInFlight, ctx.Err())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return fp.p, nil
}

// payment returns the node's own record of the payment for hash.
func (n *fakeNode) payment(hash l402.PaymentHash) (lightning.Payment, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fp, ok := n.payments[hash]
	if !ok {
		return lightning.Payment{}, false
	}
	return fp.p, true
}

func (n *fakeNode) CreateInvoice(_ context.Context, req lightning.InvoiceRequest) (lightning.CreatedInvoice, error) {
	if req.Amount <= 0 || req.Expiry <= 0 {
		return lightning.CreatedInvoice{}, lightning.ErrInvalidRequest
	}
	var preimage l402.Preimage
	rand.Read(preimage[:])
	hash := preimage.Hash()
	payreq, err := sign(&chaincfg.RegressionNetParams, hash, req.Amount, time.Now(), req.Expiry)
	if err != nil {
		return lightning.CreatedInvoice{}, err
	}
	created := lightning.CreatedInvoice{PaymentRequest: payreq, Hash: hash, Amount: req.Amount, ExpiresAt: time.Now().Add(req.Expiry)}
	n.mu.Lock()
	n.created[hash] = created
	n.mu.Unlock()
	return created, nil
}

func (n *fakeNode) LookupInvoice(_ context.Context, hash l402.PaymentHash) (lightning.InvoiceStatus, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.created[hash]
	if !ok {
		return lightning.InvoiceStatus{}, lightning.ErrInvoiceNotFound
	}
	return lightning.InvoiceStatus{Hash: hash, State: lightning.InvoiceOpen, Amount: c.Amount, ExpiresAt: c.ExpiresAt}, nil
}

// syncBuffer is a log sink safe for the daemon's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is a wallet daemon on a unix socket in a temp dir, with a fake
// node and the real SQLite ledger.
type harness struct {
	node   *fakeNode
	ledger *sqlite.Ledger
	wallet *wallet.Wallet
	socket string
	dir    string
	logs   *syncBuffer
	// secrets collects every secret the test handled, to look for in
	// logs and errors.
	secretsMu sync.Mutex
	secrets   []string
}

// shortDir is a temp dir with a short path: a unix socket path must fit
// in about 100 bytes, and t.TempDir() embeds the test's name.
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wlt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func newHarness(t testing.TB, configure ...func(*wallet.Options)) *harness {
	t.Helper()
	h := &harness{node: newFakeNode(), dir: shortDir(t), logs: &syncBuffer{}}
	h.node.secret = h.secret
	ledger, err := sqlite.OpenLedger(context.Background(), filepath.Join(h.dir, "wallet.db"))
	if err != nil {
		t.Fatal(err)
	}
	h.ledger = ledger
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var storesMu sync.Mutex
	var stores []*sqlite.BuyerStore
	opts := wallet.Options{
		Node: h.node, Ledger: ledger, Logger: logger,
		Tokens: func(ctx context.Context, id wallet.AgentID) (client.Store, error) {
			s, err := sqlite.OpenBuyerStore(ctx, filepath.Join(h.dir, "tokens-"+id.String()+".db"))
			if err != nil {
				return nil, err
			}
			storesMu.Lock()
			stores = append(stores, s)
			storesMu.Unlock()
			return s, nil
		},
	}
	for _, c := range configure {
		c(&opts)
	}
	w, err := wallet.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	h.wallet = w
	h.socket = filepath.Join(h.dir, "w.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- wallet.Serve(ctx, wallet.ServeConfig{Socket: h.socket, Logger: logger}, w.Handler())
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		w.Close()
		storesMu.Lock()
		for _, s := range stores {
			s.Close()
		}
		storesMu.Unlock()
		ledger.Close()
		h.checkLogs(t)
	})
	waitForSocket(t, h.socket)
	return h
}

func waitForSocket(t testing.TB, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon never listened on %s: %v", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// secret remembers s as a secret that must appear in no log or error.
func (h *harness) secret(s string) {
	h.secretsMu.Lock()
	defer h.secretsMu.Unlock()
	h.secrets = append(h.secrets, s)
}

func (h *harness) secretPreimage(p l402.Preimage) { h.secret(p.Hex()) }

// checkLogs fails the test if a secret reached the daemon's log.
func (h *harness) checkLogs(t testing.TB) {
	t.Helper()
	logs := h.logs.String()
	h.secretsMu.Lock()
	defer h.secretsMu.Unlock()
	for _, s := range h.secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a secret (%.12s...) is in the daemon's log", s)
		}
	}
}

// checkError fails the test if a secret is in err's text.
func (h *harness) checkError(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	text := err.Error()
	var we *wallet.Error
	if errors.As(err, &we) {
		b, _ := json.Marshal(we)
		text += string(b)
	}
	h.secretsMu.Lock()
	defer h.secretsMu.Unlock()
	for _, s := range h.secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("a secret (%.12s...) is in the error %q", s, err)
		}
	}
}

// mint creates an agent named name with limits and returns its encoded
// root credential.
func (h *harness) mint(t testing.TB, name string, limits bakery.Limits) (wallet.Agent, *macaroon.Macaroon, string) {
	t.Helper()
	agent, mac, err := wallet.MintAgent(context.Background(), h.ledger, name, limits, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	enc := encode(t, mac)
	h.secret(enc)
	h.secret(hex.EncodeToString(agent.RootKey))
	sig := mac.Signature()
	h.secret(hex.EncodeToString(sig))
	return agent, mac, enc
}

func encode(t testing.TB, mac *macaroon.Macaroon) string {
	t.Helper()
	enc, err := bakery.Encode(mac)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// client dials the daemon with an encoded credential.
func (h *harness) client(t testing.TB, credential string) *wallet.Client {
	t.Helper()
	c, err := wallet.Dial(bakery.File{Name: "test", Wallet: "unix://" + h.socket, Credential: credential}, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// raw calls the daemon with a credential header that may be anything.
func (h *harness) raw(t testing.TB, credential, method, path string, body io.Reader) (*http.Response, *wallet.Error) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", h.socket)
	}}}
	req, err := http.NewRequest(method, "http://wallet"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if credential != "" {
		req.Header.Set(wallet.HeaderCredential, credential)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get(wallet.HeaderError) == "" {
		return resp, nil
	}
	var e wallet.Error
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("error body: %v", err)
	}
	return resp, &e
}

// entries returns the ledger's entries by status.
func (h *harness) entries(t testing.TB) map[wallet.EntryStatus][]wallet.Entry {
	t.Helper()
	all, err := h.ledger.Entries(context.Background(), wallet.EntryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[wallet.EntryStatus][]wallet.Entry)
	for _, e := range all {
		out[e.Status] = append(out[e.Status], e)
	}
	return out
}

// entry returns the ledger's entry for hash.
func (h *harness) entry(t testing.TB, hash l402.PaymentHash) wallet.Entry {
	t.Helper()
	e, err := h.ledger.Entry(context.Background(), hash)
	if err != nil {
		t.Fatalf("ledger entry %s: %v", hash, err)
	}
	return e
}

// waitStatus waits until the ledger has an entry for hash with status.
func (h *harness) waitStatus(t testing.TB, hash l402.PaymentHash, status wallet.EntryStatus) wallet.Entry {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		e, err := h.ledger.Entry(context.Background(), hash)
		if err != nil && !errors.Is(err, wallet.ErrNotFound) {
			t.Fatal(err)
		}
		if err == nil && e.Status == status {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry %s is %q (%v), want %s", hash, e.Status, err, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hashOf reads an invoice's payment hash.
func hashOf(t testing.TB, payreq string) l402.PaymentHash {
	t.Helper()
	inv, err := lightning.DecodeInvoice(payreq, lightning.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	return inv.Hash
}

// wantCode checks that err is the wallet's error with code, found by
// errors.Is as sentinel.
func wantCode(t *testing.T, err error, sentinel error, code wallet.Code) *wallet.Error {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want one wrapping %v", err, sentinel)
	}
	var we *wallet.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %T %v is not a *wallet.Error", err, err)
	}
	if we.Code != code {
		t.Fatalf("code %q, want %q (%v)", we.Code, code, err)
	}
	return we
}
