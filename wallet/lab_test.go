//go:build lab

package wallet_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satloop/satloop/bakery"
	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lab/labtest"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/lightning/lnd"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/store/sqlite"
	"github.com/satloop/satloop/wallet"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// bakedConn connects to a lab node with a macaroon of preset baked by
// the node itself: the daemon runs with the least power it needs.
func bakedConn(t *testing.T, name string, preset lightning.Preset) *lnd.Node {
	t.Helper()
	ctx := labtest.Context(t)
	perms, err := preset.Permissions()
	if err != nil {
		t.Fatal(err)
	}
	mac, err := labtest.Conn(t, name).BakeMacaroon(ctx, perms)
	if err != nil {
		t.Fatal(err)
	}
	n := labtest.Network(t).Node(name)
	node, err := lnd.Dial(ctx, lnd.Config{Host: n.RPCAddr, TLSCertPath: n.TLSCertPath, Macaroon: mac})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	return node
}

// labDaemon is the wallet daemon in this process: the lab's agent node on
// a pay-only macaroon, a SQLite ledger, the HTTP API on a unix socket.
type labDaemon struct {
	ledger *sqlite.Ledger
	socket string
	logs   *syncBuffer
}

func startLabDaemon(t *testing.T) *labDaemon {
	t.Helper()
	dir := shortDir(t)
	d := &labDaemon{socket: filepath.Join(dir, "w.sock"), logs: &syncBuffer{}}
	ledger, err := sqlite.OpenLedger(context.Background(), filepath.Join(dir, "wallet.db"))
	if err != nil {
		t.Fatal(err)
	}
	d.ledger = ledger
	var stores []*sqlite.BuyerStore
	var storesMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(d.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := wallet.New(labtest.Context(t), wallet.Options{
		Node: bakedConn(t, lab.Agent, lightning.PresetPayOnly), Ledger: ledger, Logger: logger,
		Tokens: func(ctx context.Context, id wallet.AgentID) (client.Store, error) {
			s, err := sqlite.OpenBuyerStore(ctx, filepath.Join(dir, "tokens-"+id.String()+".db"))
			if err == nil {
				storesMu.Lock()
				stores = append(stores, s)
				storesMu.Unlock()
			}
			return s, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Reconcile(labtest.Context(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wallet.Serve(ctx, wallet.ServeConfig{Socket: d.socket, Logger: logger}, w.Handler()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		w.Close()
		for _, s := range stores {
			s.Close()
		}
		ledger.Close()
	})
	waitForSocket(t, d.socket)
	return d
}

// mint creates an agent and returns a client holding its credential.
func (d *labDaemon) mint(t *testing.T, name string, limits bakery.Limits) (*wallet.Client, string) {
	t.Helper()
	_, mac, err := wallet.MintAgent(context.Background(), d.ledger, name, limits, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	enc := encode(t, mac)
	c, err := wallet.Dial(bakery.File{Name: name, Wallet: "unix://" + d.socket, Credential: enc}, "")
	if err != nil {
		t.Fatal(err)
	}
	return c, enc
}

// TestLabConcurrentPaymentsWithinBudget: 200 concurrent PayInvoice calls,
// each for a distinct 100-sat invoice of the lab's seller, against a
// credential with 5,000 sat a day: the budget holds, and the ledger's
// settled entries are exactly the agent node's own payments for those
// hashes, amount and fee.
func TestLabConcurrentPaymentsWithinBudget(t *testing.T) {
	d := startLabDaemon(t)
	c, cred := d.mint(t, "lab-bot", bakery.Limits{Budgets: budget(5000), Ops: []bakery.Op{bakery.OpPay}})
	limit := money.Sats(5000)
	ctx := labtest.Context(t)

	seller := labtest.Conn(t, lab.Seller)
	const n = 200
	invoices := make([]lightning.CreatedInvoice, n)
	for i := range invoices {
		inv, err := seller.CreateInvoice(ctx, lightning.InvoiceRequest{Amount: money.Sats(100), Memo: "wallet lab " + strconv.Itoa(i), Expiry: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		invoices[i] = inv
	}

	var (
		start           = make(chan struct{})
		wg              sync.WaitGroup
		paid, refused   atomic.Int32
		preimagesMu     sync.Mutex
		preimages       []l402.Preimage
		maxUsedObserved atomic.Int64
	)
	for _, inv := range invoices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := c.PayInvoice(ctx, wallet.PayRequest{Invoice: inv.PaymentRequest})
			switch {
			case err == nil:
				if res.Preimage.Hash() != inv.Hash || res.Amount != money.Sats(100) {
					t.Errorf("paid %+v for invoice %s", res, inv.Hash)
				}
				paid.Add(1)
				preimagesMu.Lock()
				preimages = append(preimages, res.Preimage)
				preimagesMu.Unlock()
			case errors.Is(err, wallet.ErrOverBudget):
				refused.Add(1)
			default:
				t.Errorf("pay %s: %v", inv.Hash, err)
			}
		}()
	}
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			a, err := c.Allowance(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if used := int64(a.Budgets[0].Used); used > maxUsedObserved.Load() {
				maxUsedObserved.Store(used)
			}
		}
	}()
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	close(stop)
	<-watched
	t.Logf("200 concurrent payments: %d paid, %d refused over budget, in %s; most used seen while paying %s of %s",
		paid.Load(), refused.Load(), took.Round(time.Millisecond), money.MilliSat(maxUsedObserved.Load()), limit)
	if paid.Load()+refused.Load() != n {
		t.Fatalf("%d paid + %d refused != %d", paid.Load(), refused.Load(), n)
	}
	if money.MilliSat(maxUsedObserved.Load()) > limit {
		t.Errorf("the budget was seen at %s of %s", money.MilliSat(maxUsedObserved.Load()), limit)
	}

	entries, err := d.ledger.Entries(ctx, wallet.EntryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	byHash := make(map[l402.PaymentHash]wallet.Entry, len(entries))
	var spent money.MilliSat
	settled := 0
	for _, e := range entries {
		byHash[e.Hash] = e
		switch e.Status {
		case wallet.EntrySettled:
			settled++
			spent += e.Amount + e.Fee
		case wallet.EntryReserved:
			t.Errorf("entry %s still reserved", e.Hash)
		}
	}
	if spent > limit {
		t.Errorf("spent %s of a %s budget", spent, limit)
	}
	if settled != int(paid.Load()) || settled == 0 {
		t.Errorf("%d settled entries, %d paid answers", settled, paid.Load())
	}

	// The ledger is the node's own list for these hashes: every settled
	// entry is a SUCCEEDED payment of the same amount and fee; every other
	// invoice was never sent.
	node := labtest.Payments(t, lab.Agent)
	for _, inv := range invoices {
		p, sent := node[inv.Hash]
		e, inLedger := byHash[inv.Hash]
		switch {
		case inLedger && e.Status == wallet.EntrySettled:
			if !sent || p.Status != "SUCCEEDED" || p.Amount != e.Amount || p.Fee != e.Fee {
				t.Errorf("%s: ledger %s+%s, node %+v (sent %v)", inv.Hash, e.Amount, e.Fee, p, sent)
			}
		case sent:
			t.Errorf("%s: the node paid it (%s), the ledger has %+v", inv.Hash, p.Status, e)
		}
	}
	a, err := c.Allowance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Budgets[0].Used != spent {
		t.Errorf("allowance says %s used, the entries %s", a.Budgets[0].Used, spent)
	}

	// Nothing secret reached the daemon's log.
	logs := d.logs.String()
	secrets := []string{cred}
	for _, p := range preimages {
		secrets = append(secrets, p.Hex())
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a secret (%.12s...) is in the daemon's log", s)
		}
	}
}

// TestLabFetchThroughGateway: a fetch through the daemon buys a token from
// a satloop gateway on the lab's seller, paid once from the agent node,
// and reuses it.
func TestLabFetchThroughGateway(t *testing.T) {
	d := startLabDaemon(t)
	ctx := labtest.Context(t)

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		io.WriteString(w, "upstream "+r.Method+" "+r.URL.Path+" "+string(body))
	}))
	t.Cleanup(upstream.Close)
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := l402.NewDerivedRootKeys(master)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gate.New(gate.Options{
		Config: gate.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", TLS: gate.TLSConfig{Mode: gate.TLSOff},
			Routes: []gate.RouteConfig{{Name: "paid", Path: "/paid", Upstream: upstream.URL, PriceSats: 7}}},
		Invoices: bakedConn(t, lab.Seller, lightning.PresetInvoiceOnly), Store: gate.NewMemoryStore(), Keys: keys,
	})
	if err != nil {
		t.Fatal(err)
	}
	public, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(serveCtx, gate.Listeners{Public: public}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Serve: %v", err)
		}
		gw.Close()
	})
	base := "http://" + public.Addr().String()

	c, _ := d.mint(t, "lab-fetcher", bakery.Limits{Hosts: []string{"127.0.0.1"}, MaxPerCall: money.Sats(10), Budgets: budget(100)})
	before := labtest.Payments(t, lab.Agent)
	r, err := fetch(t, c, 0, http.MethodPost, base+"/paid/search", "q=lightning", true)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK || r.body != "upstream POST /paid/search q=lightning" {
		t.Fatalf("paid fetch: %d %q", r.status, r.body)
	}
	if !r.rec.Paid || r.rec.Amount != money.Sats(7) || r.rec.Fee <= 0 || r.rec.Fee > wallet.DefaultMaxFee {
		t.Errorf("receipt %+v", r.rec)
	}
	r2, err := fetch(t, c, 0, http.MethodGet, base+"/paid/other", "", true)
	if err != nil || r2.status != http.StatusOK || r2.rec.Paid || !r2.rec.TokenReused {
		t.Errorf("second fetch: %d %+v %v", r2.status, r2.rec, err)
	}
	after := labtest.Payments(t, lab.Agent)
	if len(after) != len(before)+1 {
		t.Errorf("the agent node made %d payments, want 1", len(after)-len(before))
	}
	p, ok := after[r.rec.PaymentHash]
	e, err := d.ledger.Entry(ctx, r.rec.PaymentHash)
	if err != nil {
		t.Fatal(err)
	}
	if !ok || p.Status != "SUCCEEDED" || e.Status != wallet.EntrySettled || e.Kind != wallet.KindFetch || p.Amount != e.Amount || p.Fee != e.Fee || e.Fee != r.rec.Fee {
		t.Errorf("ledger %+v, node %+v", e, p)
	}
}
