//go:build lab

package gate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/internal/cli"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lab/labtest"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/lightning/lnd"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/store/sqlite"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// invoiceOnlyMacaroon bakes the seller's invoice-only macaroon: all the
// gateway needs from its node.
func invoiceOnlyMacaroon(t *testing.T) lightning.NodeMacaroon {
	t.Helper()
	perms, err := lightning.PresetInvoiceOnly.Permissions()
	if err != nil {
		t.Fatal(err)
	}
	mac, err := labtest.Conn(t, lab.Seller).BakeMacaroon(labtest.Context(t), perms)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// labGate is a gateway served on free loopback ports with the seller's
// node (invoice-only macaroon) and a SQLite store.
type labGate struct {
	url, adminURL string
	admin         gate.AdminClient
	store         gate.Store
	node          *lnd.Node
}

func startLabGate(t *testing.T, routes []gate.RouteConfig) *labGate {
	t.Helper()
	ctx := labtest.Context(t)
	seller := labtest.Network(t).Node(lab.Seller)
	node, err := lnd.Dial(ctx, lnd.Config{Host: seller.RPCAddr, TLSCertPath: seller.TLSCertPath, Macaroon: invoiceOnlyMacaroon(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	dir := t.TempDir()
	store, err := sqlite.OpenGateStore(ctx, filepath.Join(dir, "gate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	master, err := gate.LoadOrCreateSecret(filepath.Join(dir, "gate-root-key"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := l402.NewDerivedRootKeys(master)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gate.Config{DataDir: dir, Listen: "127.0.0.1:0", TLS: gate.TLSConfig{Mode: gate.TLSOff}, Routes: routes}
	gw, err := gate.New(gate.Options{Config: cfg, Invoices: node, Store: store, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	public, admin := listen(t), listen(t)
	serveCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- gw.Serve(serveCtx, gate.Listeners{Public: public, Admin: admin, AdminToken: adminToken})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		gw.Close()
	})
	g := &labGate{url: "http://" + public.Addr().String(), adminURL: "http://" + admin.Addr().String(), store: store, node: node}
	g.admin = gate.AdminClient{BaseURL: g.adminURL, Token: adminToken}
	return g
}

// labToken is a token bought with the agent's node.
type labToken struct {
	auth  string
	id    l402.TokenID
	hash  l402.PaymentHash
	price money.MilliSat
}

// buyFromAgent requests url unpaid, expects 402, checks the invoice
// against the token BEFORE paying, pays from the agent node through the
// router, and returns the credential.
func buyFromAgent(t *testing.T, url string, price money.MilliSat) labToken {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("unpaid %s: %d, want 402", url, resp.StatusCode)
	}
	cs, err := l402.ParseChallenges(resp.Header.Values("WWW-Authenticate")...)
	if err != nil {
		t.Fatal(err)
	}
	agent := labtest.Conn(t, lab.Agent)
	inv, err := agent.DecodeInvoice(cs[0].Invoice)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Hash != cs[0].ID.PaymentHash || !inv.HasAmount || inv.Amount != price {
		t.Fatalf("invoice hash/amount %s/%v do not match the token and the price %v", inv.Hash, inv.Amount, price)
	}
	if d := inv.ExpiresAt.Sub(inv.CreatedAt); d != gate.DefaultInvoiceExpiry {
		t.Fatalf("the seller's invoice expires after %s, want %s", d, gate.DefaultInvoiceExpiry)
	}
	pay, err := agent.Pay(labtest.Context(t), lightning.PayRequest{Invoice: cs[0].Invoice, MaxFee: money.Sats(10), Timeout: time.Minute})
	if err != nil {
		t.Fatalf("agent pays: %v", err)
	}
	auth, err := l402.FormatAuthorization(l402.Credential{Macaroons: []*macaroon.Macaroon{cs[0].Macaroon}, Preimage: pay.Preimage})
	if err != nil {
		t.Fatal(err)
	}
	return labToken{auth: auth, id: cs[0].ID.TokenID, hash: inv.Hash, price: price}
}

func getWith(t *testing.T, url, auth string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	return resp.StatusCode, body, resp.Header
}

func TestLabPaidRequest(t *testing.T) {
	up := newUpstream(t)
	g := startLabGate(t, []gate.RouteConfig{
		{Name: "paid", Path: "/paid", Upstream: up.srv.URL, PriceSats: 10, Quota: 2},
		{Name: "exp", Path: "/exp", Upstream: up.srv.URL, PriceSats: 3, TokenLifetime: 2 * time.Second},
		{Name: "plain", Path: "/plain", Upstream: up.srv.URL, PriceSats: 4},
	})

	t.Run("pay then proxy, quota ends the token", func(t *testing.T) {
		tk := buyFromAgent(t, g.url+"/paid/data", money.Sats(10))
		for i := range 2 {
			status, body, _ := getWith(t, g.url+"/paid/data", tk.auth)
			if status != 200 || body != "upstream /paid/data" {
				t.Fatalf("paid request %d: %d %q", i+1, status, body)
			}
			if got := up.last(t).header.Get("X-L402-Token-Id"); got != tk.id.String() {
				t.Fatalf("upstream token id %q", got)
			}
		}
		status, _, h := getWith(t, g.url+"/paid/data", tk.auth)
		if status != 402 || h.Get("WWW-Authenticate") == "" {
			t.Fatalf("over quota: %d, want 402 with a fresh challenge", status)
		}
		// The seller's node has the invoice settled, and the sale is on
		// record once, at its price.
		st, err := g.node.LookupInvoice(labtest.Context(t), tk.hash)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != lightning.InvoiceSettled || st.AmountPaid != money.Sats(10) {
			t.Fatalf("seller's invoice %s, paid %v", st.State, st.AmountPaid)
		}
		rep, err := g.admin.Sales(labtest.Context(t), time.Time{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Count != 1 || rep.Sales[0].TokenID != tk.id || rep.Sales[0].Amount != money.Sats(10) {
			t.Fatalf("sales %+v", rep)
		}
	})

	t.Run("expiry ends the token", func(t *testing.T) {
		tk := buyFromAgent(t, g.url+"/exp", money.Sats(3))
		if status, _, _ := getWith(t, g.url+"/exp", tk.auth); status != 200 {
			t.Fatalf("fresh token: %d", status)
		}
		time.Sleep(3 * time.Second)
		if status, _, h := getWith(t, g.url+"/exp", tk.auth); status != 402 || h.Get("WWW-Authenticate") == "" {
			t.Fatalf("expired token: %d, want 402 with a fresh challenge", status)
		}
	})

	t.Run("revoked token is refused", func(t *testing.T) {
		tk := buyFromAgent(t, g.url+"/plain", money.Sats(4))
		if status, _, _ := getWith(t, g.url+"/plain", tk.auth); status != 200 {
			t.Fatalf("before revocation: %d", status)
		}
		if _, err := g.admin.Revoke(labtest.Context(t), tk.id, "lab test"); err != nil {
			t.Fatal(err)
		}
		if status, _, _ := getWith(t, g.url+"/plain", tk.auth); status != 402 {
			t.Fatalf("revoked: %d, want 402", status)
		}
	})
}

// TestLabCommandLine runs `satloop gate --upstream ... --price 10` as a
// user would, against the lab's seller, then buys from the agent and reads
// the sale back with `satloop gate sales`.
func TestLabCommandLine(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	macFile := filepath.Join(dir, "invoice-only.macaroon")
	if err := os.WriteFile(macFile, invoiceOnlyMacaroon(t), 0o600); err != nil {
		t.Fatal(err)
	}
	seller := labtest.Network(t).Node(lab.Seller)
	data := filepath.Join(dir, "data")
	outR, outW := io.Pipe()
	var errOut bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan cli.ExitCode, 1)
	go func() {
		done <- cli.Main(ctx, []string{"gate", "--upstream", up.srv.URL, "--price", "10", "--json",
			"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--tls", "off", "--data-dir", data,
			"--lnd-host", seller.RPCAddr, "--lnd-tlscert", seller.TLSCertPath, "--lnd-macaroon", macFile},
			&cli.IO{In: strings.NewReader(""), Out: outW, ErrOut: &errOut})
		outW.Close()
	}()
	var ready struct {
		URL      string `json:"url"`
		AdminURL string `json:"admin_url"`
	}
	if err := json.NewDecoder(outR).Decode(&ready); err != nil {
		cancel()
		t.Fatalf("no ready line: %v (exit %d)\n%s", err, <-done, errOut.String())
	}
	go io.Copy(io.Discard, outR)
	var tk labToken
	defer func() {
		cancel()
		if code := <-done; code != cli.ExitOK {
			t.Errorf("satloop gate exited %d:\n%s", code, errOut.String())
		}
		if tk.auth != "" && strings.Contains(errOut.String(), tk.auth[5:40]) || strings.Contains(errOut.String(), tk.auth[len(tk.auth)-64:]) {
			t.Error("the gateway logged a credential")
		}
	}()

	tk = buyFromAgent(t, ready.URL+"/anything", money.Sats(10))
	if status, body, _ := getWith(t, ready.URL+"/anything", tk.auth); status != 200 || body != "upstream /anything" {
		t.Fatalf("paid through the command: %d %q", status, body)
	}
	// The admin commands get their own stderr: the gateway is still
	// writing its logs to errOut.
	var out, cmdErr bytes.Buffer
	code := cli.Main(context.Background(), []string{"gate", "sales", "--json", "--data-dir", data},
		&cli.IO{In: strings.NewReader(""), Out: &out, ErrOut: &cmdErr})
	if code != cli.ExitOK {
		t.Fatalf("gate sales exited %d: %s", code, cmdErr.String())
	}
	var rep gate.SalesReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Count != 1 || rep.Sales[0].TokenID != tk.id || rep.Total != money.Sats(10) {
		t.Fatalf("gate sales: %+v", rep)
	}
	out.Reset()
	code = cli.Main(context.Background(), []string{"gate", "revoke", tk.id.String(), "--data-dir", data},
		&cli.IO{In: strings.NewReader(""), Out: &out, ErrOut: &cmdErr})
	if code != cli.ExitOK {
		t.Fatalf("gate revoke exited %d: %s", code, cmdErr.String())
	}
	if status, _, _ := getWith(t, ready.URL+"/anything", tk.auth); status != 402 {
		t.Fatalf("after 'satloop gate revoke': %d, want 402", status)
	}
}
