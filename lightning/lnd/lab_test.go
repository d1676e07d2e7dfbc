//go:build lab

package lnd_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lab/labtest"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/lightning/lnd"
	"github.com/satloop/satloop/money"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// invoice makes the lab node `to` create an invoice.
func invoice(t testing.TB, to string, amount money.MilliSat, expiry time.Duration) lightning.CreatedInvoice {
	t.Helper()
	inv, err := labtest.Conn(t, to).CreateInvoice(labtest.Context(t), lightning.InvoiceRequest{Amount: amount, Memo: t.Name(), Expiry: expiry})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func pay(ctx context.Context, from *lnd.Node, payreq string) (lightning.Payment, error) {
	return from.Pay(ctx, lightning.PayRequest{Invoice: payreq, MaxFee: money.Sats(50), Timeout: 30 * time.Second})
}

// requireNeverAttempted checks that the agent node has no payment for
// hash: the adapter refused before lnd saw the invoice.
func requireNeverAttempted(t *testing.T, agent *lnd.Node, hash l402.PaymentHash) {
	t.Helper()
	if _, err := agent.TrackPayment(labtest.Context(t), hash); !errors.Is(err, lightning.ErrPaymentNotFound) {
		t.Fatalf("TrackPayment of a refused invoice: %v, want ErrPaymentNotFound (lnd saw the payment)", err)
	}
}

func TestPayThroughRouter(t *testing.T) {
	ctx := labtest.Context(t)
	agent := labtest.Conn(t, lab.Agent)
	inv := invoice(t, lab.Seller, money.Sats(2_000), time.Hour)

	p, err := pay(ctx, agent, inv.PaymentRequest)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != lightning.PaymentSucceeded || p.AlreadyPaid || p.Hash != inv.Hash || p.Amount != money.Sats(2_000) {
		t.Fatalf("payment = %+v", p)
	}
	if p.Preimage.Hash() != inv.Hash {
		t.Fatal("the preimage does not settle the invoice's hash")
	}
	if p.Hops != 2 || p.Fee <= 0 || p.Fee > money.Sats(50) {
		t.Fatalf("%d hops, fee %s: want 2 hops with a routing fee within the limit", p.Hops, p.Fee)
	}

	tracked, err := agent.TrackPayment(ctx, inv.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if tracked.Status != lightning.PaymentSucceeded || tracked.Preimage != p.Preimage || tracked.Fee != p.Fee {
		t.Fatalf("TrackPayment = %+v, want the payment just made", tracked)
	}
}

// Paying an invoice again returns the first payment and its preimage:
// never a second payment, never a failure.
func TestPayAlreadyPaid(t *testing.T) {
	ctx := labtest.Context(t)
	agent := labtest.Conn(t, lab.Agent)
	inv := invoice(t, lab.Seller, money.Sats(300), time.Hour)
	first, err := pay(ctx, agent, inv.PaymentRequest)
	if err != nil {
		t.Fatal(err)
	}
	again, err := pay(ctx, agent, inv.PaymentRequest)
	if err != nil {
		t.Fatalf("second Pay: %v", err)
	}
	if !again.AlreadyPaid || again.Status != lightning.PaymentSucceeded || again.Preimage != first.Preimage {
		t.Fatalf("second Pay = %+v, want the first payment with AlreadyPaid", again)
	}
	requireSellerPaidOnce(t, inv)
}

// requireSellerPaidOnce checks that the seller received the invoice's
// amount exactly once. (agent's channel balance is no measure: it moves
// with HTLCs still being removed from the commitment after Pay returns.)
func requireSellerPaidOnce(t *testing.T, inv lightning.CreatedInvoice) {
	t.Helper()
	st, err := labtest.Conn(t, lab.Seller).LookupInvoice(labtest.Context(t), inv.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != lightning.InvoiceSettled || st.AmountPaid != inv.Amount {
		t.Fatalf("seller's invoice is %s with %s received, want settled with %s once", st.State, st.AmountPaid, inv.Amount)
	}
}

// Many goroutines paying one invoice at once: lnd pays the hash once and
// every caller gets the same preimage.
func TestPayConcurrentlyPaysOnce(t *testing.T) {
	ctx := labtest.Context(t)
	agent := labtest.Conn(t, lab.Agent)
	inv := invoice(t, lab.Seller, money.Sats(400), time.Hour)
	const callers = 8
	var wg sync.WaitGroup
	results := make([]lightning.Payment, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { results[i], errs[i] = pay(ctx, agent, inv.PaymentRequest) })
	}
	wg.Wait()
	fresh := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if results[i].Preimage != results[0].Preimage || results[i].Status != lightning.PaymentSucceeded {
			t.Fatalf("caller %d got %+v", i, results[i])
		}
		if !results[i].AlreadyPaid {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d callers report a fresh payment, want exactly 1", fresh)
	}
	requireSellerPaidOnce(t, inv)
}

// Invoices satloop must not pay are refused before lnd sees them.
func TestPayRefusedBeforeTheNode(t *testing.T) {
	ctx := labtest.Context(t)
	agent := labtest.Conn(t, lab.Agent)
	seller := labtest.Conn(t, lab.Seller)

	t.Run("another network", func(t *testing.T) {
		payreq := lnd.SignTestInvoice(t, &chaincfg.MainNetParams, money.Sats(10), time.Now(), time.Hour)
		_, err := pay(ctx, agent, payreq)
		var wrong *lightning.WrongNetworkError
		if !errors.As(err, &wrong) || wrong.Invoice != lightning.Mainnet || wrong.Node != lightning.Regtest {
			t.Fatalf("err = %v, want a WrongNetworkError naming mainnet and regtest", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		inv, err := seller.CreateInvoice(ctx, lightning.InvoiceRequest{Amount: money.Sats(10), Memo: "expires", Expiry: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(inv.ExpiresAt) + 100*time.Millisecond)
		_, err = pay(ctx, agent, inv.PaymentRequest)
		var expired *lightning.ExpiredError
		if !errors.As(err, &expired) || !expired.ExpiredAt.Equal(inv.ExpiresAt) {
			t.Fatalf("err = %v, want an ExpiredError at %s", err, inv.ExpiresAt)
		}
		requireNeverAttempted(t, agent, inv.Hash)
	})
	t.Run("no amount", func(t *testing.T) {
		payreq := lnd.SignTestInvoice(t, &chaincfg.RegressionNetParams, 0, time.Now(), time.Hour)
		_, err := pay(ctx, agent, payreq)
		if !errors.Is(err, lightning.ErrNoAmount) {
			t.Fatalf("err = %v, want ErrNoAmount", err)
		}
		inv, _ := lightning.DecodeInvoice(payreq, lightning.Regtest)
		requireNeverAttempted(t, agent, inv.Hash)
	})
}

func TestPayFailures(t *testing.T) {
	ctx := labtest.Context(t)
	agent := labtest.Conn(t, lab.Agent)

	t.Run("no route", func(t *testing.T) {
		// Signed by a key no lab node has a channel to.
		payreq := lnd.SignTestInvoice(t, &chaincfg.RegressionNetParams, money.Sats(10), time.Now(), time.Hour)
		p, err := pay(ctx, agent, payreq)
		var pe *lightning.PaymentError
		if !errors.Is(err, lightning.ErrNoRoute) || !errors.As(err, &pe) || p.Status != lightning.PaymentFailed {
			t.Fatalf("Pay = %+v, %v; want a failed payment with ErrNoRoute", p, err)
		}
	})
	t.Run("insufficient balance", func(t *testing.T) {
		bal, err := agent.Balances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// More than agent's whole outbound liquidity, within the
		// channel's capacity so that the reason is the balance.
		amount := bal.ChannelLocal + money.Sats(100_000)
		inv := invoice(t, lab.Router, amount, time.Hour)
		p, err := pay(ctx, agent, inv.PaymentRequest)
		if !errors.Is(err, lightning.ErrInsufficientBalance) || p.Status != lightning.PaymentFailed {
			t.Fatalf("Pay of %s with %s local = %+v, %v; want ErrInsufficientBalance", amount, bal.ChannelLocal, p, err)
		}
	})
	t.Run("fee limit too low", func(t *testing.T) {
		// Two hops cost router's base fee; no fee allowed means no route.
		inv := invoice(t, lab.Seller, money.Sats(100), time.Hour)
		_, err := agent.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFee: 0, Timeout: 10 * time.Second})
		if !errors.Is(err, lightning.ErrNoRoute) {
			t.Fatalf("Pay with a zero fee limit over two hops: %v, want ErrNoRoute", err)
		}
	})
}

func TestTrackUnknownPayment(t *testing.T) {
	var hash l402.PaymentHash
	hash[0] = 1
	_, err := labtest.Conn(t, lab.Agent).TrackPayment(labtest.Context(t), hash)
	if !errors.Is(err, lightning.ErrPaymentNotFound) {
		t.Fatalf("err = %v, want ErrPaymentNotFound", err)
	}
}

func TestInvoiceLifecycle(t *testing.T) {
	ctx := labtest.Context(t)
	seller := labtest.Conn(t, lab.Seller)
	agent := labtest.Conn(t, lab.Agent)

	before := time.Now()
	inv, err := seller.CreateInvoice(ctx, lightning.InvoiceRequest{Amount: money.Sats(21), Memo: "lifecycle", Expiry: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if d := inv.ExpiresAt.Sub(before); d < 4*time.Minute || d > 6*time.Minute {
		t.Fatalf("invoice expires in %s, want the 5 minutes asked for", d)
	}
	decoded, err := agent.DecodeInvoice(inv.PaymentRequest)
	if err != nil {
		t.Fatal(err)
	}
	if decoded.Hash != inv.Hash || decoded.Amount != money.Sats(21) || decoded.Description != "lifecycle" || decoded.Destination != labtest.Network(t).Node(lab.Seller).Pubkey {
		t.Fatalf("decoded %+v", decoded)
	}

	updates := make(chan lightning.InvoiceStatus, 10)
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(updates)
		for st, err := range seller.SubscribeInvoice(subCtx, inv.Hash) {
			if err != nil {
				t.Errorf("subscription: %v", err)
				return
			}
			updates <- st
		}
	}()
	first := <-updates
	if first.State != lightning.InvoiceOpen {
		t.Fatalf("first update %+v, want open", first)
	}
	if _, err := pay(ctx, agent, inv.PaymentRequest); err != nil {
		t.Fatal(err)
	}
	var last lightning.InvoiceStatus
	for st := range updates {
		last = st
	}
	if last.State != lightning.InvoiceSettled || last.AmountPaid != money.Sats(21) {
		t.Fatalf("last update %+v, want settled for 21 sat", last)
	}
	looked, err := seller.LookupInvoice(ctx, inv.Hash)
	if err != nil || looked.State != lightning.InvoiceSettled || looked.SettledAt.IsZero() {
		t.Fatalf("LookupInvoice = %+v, %v", looked, err)
	}

	var unknown l402.PaymentHash
	unknown[31] = 7
	if _, err := seller.LookupInvoice(ctx, unknown); !errors.Is(err, lightning.ErrInvoiceNotFound) {
		t.Fatalf("LookupInvoice(unknown) = %v, want ErrInvoiceNotFound", err)
	}
	for _, bad := range []lightning.InvoiceRequest{
		{Amount: 0, Expiry: time.Minute},
		{Amount: money.Sats(1), Expiry: 0},
	} {
		if _, err := seller.CreateInvoice(ctx, bad); !errors.Is(err, lightning.ErrInvalidRequest) {
			t.Errorf("CreateInvoice(%+v) = %v, want ErrInvalidRequest", bad, err)
		}
	}
}

func TestWalletAndChannels(t *testing.T) {
	ctx := labtest.Context(t)
	net := labtest.Network(t)
	seller := labtest.Conn(t, lab.Seller)
	agentNode := net.Node(lab.Agent)

	info, err := seller.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Alias != lab.Seller || info.Network != lightning.Regtest || !info.SyncedToChain || info.Version == "" {
		t.Fatalf("Info = %+v", info)
	}
	addr, err := seller.NewAddress(ctx)
	if err != nil || len(addr) < 10 || addr[:4] != "bcrt" {
		t.Fatalf("NewAddress = %q, %v; want a regtest address", addr, err)
	}

	// seller opens a channel to agent, which it has none with.
	point, err := seller.OpenChannel(ctx, lightning.OpenChannelRequest{
		PeerPubkey: agentNode.Pubkey,
		PeerHost:   agentNode.P2PAddr,
		Capacity:   money.Sats(500_000),
		Push:       money.Sats(100_000),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(point.TxID) != 64 {
		t.Fatalf("channel point %s", point)
	}
	if _, err := net.Mine(ctx, 6); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		chans, err := seller.Channels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(chans, func(c lightning.Channel) bool { return c.Point == point })
		if i >= 0 && chans[i].Active {
			c := chans[i]
			if c.RemotePubkey != agentNode.Pubkey || c.Capacity != money.Sats(500_000) || c.Remote != money.Sats(100_000) || !c.Initiator {
				t.Fatalf("channel %+v", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %s never became active", point)
		}
		time.Sleep(200 * time.Millisecond)
	}
	bal, err := seller.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bal.ChannelLocal <= 0 || bal.ChannelRemote <= 0 || bal.OnChainConfirmed <= 0 {
		t.Fatalf("balances %+v", bal)
	}
	if _, err := seller.OpenChannel(ctx, lightning.OpenChannelRequest{PeerPubkey: agentNode.Pubkey, Capacity: money.MilliSat(1_500)}); !errors.Is(err, lightning.ErrInvalidRequest) {
		t.Fatalf("OpenChannel with a fraction of a sat: %v, want ErrInvalidRequest", err)
	}
}

// bakeMacaroon asks the agent node for a macaroon holding the presets'
// permissions.
func bakeMacaroon(t *testing.T, presets ...lightning.Preset) lightning.NodeMacaroon {
	t.Helper()
	perms, err := lightning.PermissionsOf(presets...)
	if err != nil {
		t.Fatal(err)
	}
	mac, err := labtest.Conn(t, lab.Agent).BakeMacaroon(labtest.Context(t), perms)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// bake asks the agent node for a macaroon holding the presets' permissions
// and connects with it.
func bake(t *testing.T, presets ...lightning.Preset) *lnd.Node {
	t.Helper()
	return dialAgent(t, bakeMacaroon(t, presets...))
}

// requirePermissionError checks that err is the permission error for call,
// naming the permission it needs.
func requirePermissionError(t *testing.T, err error, call string, need lightning.Permission) {
	t.Helper()
	var pe *lightning.PermissionError
	if !errors.As(err, &pe) || pe.Call != call || !slices.Contains(pe.Need, need) {
		t.Fatalf("err = %v, want a PermissionError for %s naming %s", err, call, need)
	}
}

func TestBakedMacaroons(t *testing.T) {
	ctx := labtest.Context(t)
	seller := labtest.Network(t).Node(lab.Seller)
	// A channel request that passes the adapter's own checks, so that
	// only lnd's permission check can refuse it.
	openToSeller := lightning.OpenChannelRequest{PeerPubkey: seller.Pubkey, Capacity: money.Sats(200_000)}
	createInvoice := func(n *lnd.Node) error {
		_, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{Amount: money.Sats(1), Expiry: time.Minute})
		return err
	}

	readOnly := bake(t, lightning.PresetReadOnly)
	if _, err := readOnly.Info(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := readOnly.Balances(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := readOnly.Channels(ctx); err != nil {
		t.Fatal(err)
	}
	inv := invoice(t, lab.Seller, money.Sats(5), time.Hour)
	_, err := pay(ctx, readOnly, inv.PaymentRequest)
	requirePermissionError(t, err, "SendPaymentV2", lightning.Permission{Entity: "offchain", Action: "write"})
	requirePermissionError(t, createInvoice(readOnly), "AddInvoice", lightning.Permission{Entity: "invoices", Action: "write"})
	_, err = readOnly.NewAddress(ctx)
	requirePermissionError(t, err, "NewAddress", lightning.Permission{Entity: "address", Action: "write"})

	payOnly := bake(t, lightning.PresetPayOnly)
	if _, err := pay(ctx, payOnly, inv.PaymentRequest); err != nil {
		t.Fatalf("pay-only macaroon cannot pay: %v", err)
	}
	requirePermissionError(t, createInvoice(payOnly), "AddInvoice", lightning.Permission{Entity: "invoices", Action: "write"})
	_, err = payOnly.Balances(ctx)
	requirePermissionError(t, err, "WalletBalance", lightning.Permission{Entity: "onchain", Action: "read"})
	_, err = payOnly.OpenChannel(ctx, openToSeller)
	requirePermissionError(t, err, "OpenChannelSync", lightning.Permission{Entity: "onchain", Action: "write"})

	invoiceOnly := bake(t, lightning.PresetInvoiceOnly)
	created, err := invoiceOnly.CreateInvoice(ctx, lightning.InvoiceRequest{Amount: money.Sats(1), Memo: "invoice-only", Expiry: time.Minute})
	if err != nil {
		t.Fatalf("invoice-only macaroon cannot create invoices: %v", err)
	}
	if _, err := invoiceOnly.LookupInvoice(ctx, created.Hash); err != nil {
		t.Fatal(err)
	}
	other := invoice(t, lab.Seller, money.Sats(5), time.Hour)
	_, err = pay(ctx, invoiceOnly, other.PaymentRequest)
	requirePermissionError(t, err, "SendPaymentV2", lightning.Permission{Entity: "offchain", Action: "write"})
	_, err = invoiceOnly.OpenChannel(ctx, openToSeller)
	requirePermissionError(t, err, "OpenChannelSync", lightning.Permission{Entity: "onchain", Action: "write"})

	// One macaroon for a daemon that both pays and sells.
	both := bake(t, lightning.PresetPayOnly, lightning.PresetInvoiceOnly)
	if err := createInvoice(both); err != nil {
		t.Fatalf("pay-only+invoice-only macaroon cannot create invoices: %v", err)
	}
	if _, err := pay(ctx, both, invoice(t, lab.Seller, money.Sats(5), time.Hour).PaymentRequest); err != nil {
		t.Fatalf("pay-only+invoice-only macaroon cannot pay: %v", err)
	}

	channelAdminMac := bakeMacaroon(t, lightning.PresetChannelAdmin)
	channelAdmin := dialAgent(t, channelAdminMac)
	third := invoice(t, lab.Seller, money.Sats(5), time.Hour)
	_, err = pay(ctx, channelAdmin, third.PaymentRequest)
	requirePermissionError(t, err, "SendPaymentV2", lightning.Permission{Entity: "offchain", Action: "write"})
	requirePermissionError(t, createInvoice(channelAdmin), "AddInvoice", lightning.Permission{Entity: "invoices", Action: "write"})
	if _, err := channelAdmin.NewAddress(ctx); err != nil {
		t.Fatalf("channel-admin macaroon cannot take a new address: %v", err)
	}
	if _, err := channelAdmin.Balances(ctx); err != nil {
		t.Fatalf("channel-admin macaroon cannot read balances: %v", err)
	}
	// Last, as it adds a channel to the lab: agent opens one to seller
	// (connecting first, which needs peers:write) and sees it active.
	openToSeller.PeerHost = seller.P2PAddr
	point, err := channelAdmin.OpenChannel(ctx, openToSeller)
	if err != nil {
		t.Fatalf("channel-admin macaroon cannot open a channel: %v", err)
	}
	if _, err := labtest.Network(t).Mine(ctx, 6); err != nil {
		t.Fatal(err)
	}
	requireActiveChannel(t, channelAdmin, point)

	// The adapter has no CloseChannel or UpdateChannelPolicy: lncli,
	// with the channel-admin macaroon, sets the channel's fees and
	// closes it, which also leaves the lab as it was.
	lncli := lncliWith(t, lab.Agent, channelAdminMac)
	if out, err := exec.CommandContext(ctx, lncli[0], append(lncli[1:], "updatechanpolicy",
		"--base_fee_msat", "1000", "--fee_rate_ppm", "10", "--time_lock_delta", "80", "--chan_point", point.String())...).CombinedOutput(); err != nil {
		t.Fatalf("lncli updatechanpolicy with the channel-admin macaroon: %v\n%s", err, out)
	}
	if out, err := exec.CommandContext(ctx, lncli[0], append(lncli[1:], "closechannel",
		"--funding_txid", point.TxID, "--output_index", strconv.FormatUint(uint64(point.OutputIndex), 10))...).CombinedOutput(); err != nil {
		t.Fatalf("lncli closechannel with the channel-admin macaroon: %v\n%s", err, out)
	}
	if _, err := labtest.Network(t).Mine(ctx, 6); err != nil {
		t.Fatal(err)
	}
	requireChannelGone(t, channelAdmin, point)
}

// dialAgent connects to the agent node with mac.
func dialAgent(t *testing.T, mac lightning.NodeMacaroon) *lnd.Node {
	t.Helper()
	cfg := labtest.Network(t).Node(lab.Agent).LNDConfig()
	cfg.MacaroonPath, cfg.Macaroon = "", mac
	conn, err := lnd.Dial(labtest.Context(t), cfg)
	if err != nil {
		t.Fatalf("dial with a baked macaroon: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// lncliWith is the lncli command line for the named lab node, with mac
// (written to a 0600 file) in place of the admin macaroon.
func lncliWith(t *testing.T, name string, mac lightning.NodeMacaroon) []string {
	t.Helper()
	env, err := labtest.Network(t).Env()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(env.Nodes, func(n lab.NodeEnv) bool { return n.Name == name })
	if i < 0 {
		t.Fatalf("no lab node %s", name)
	}
	path := filepath.Join(t.TempDir(), "baked.macaroon")
	if err := os.WriteFile(path, mac, 0o600); err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range env.Nodes[i].LNCLI {
		if !strings.HasPrefix(a, "--macaroonpath=") {
			args = append(args, a)
		}
	}
	return append(args, "--macaroonpath="+path)
}

// requireChannelGone waits for the channel to leave the open channels.
func requireChannelGone(t *testing.T, n *lnd.Node, point lightning.ChannelPoint) {
	t.Helper()
	ctx := labtest.Context(t)
	deadline := time.Now().Add(time.Minute)
	for {
		chans, err := n.Channels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(chans, func(c lightning.Channel) bool { return c.Point == point }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %s still open a minute after closing", point)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// requireActiveChannel waits for the channel to be listed as active.
func requireActiveChannel(t *testing.T, n *lnd.Node, point lightning.ChannelPoint) {
	t.Helper()
	ctx := labtest.Context(t)
	deadline := time.Now().Add(time.Minute)
	for {
		chans, err := n.Channels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(chans, func(c lightning.Channel) bool { return c.Point == point && c.Active }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %s never became active", point)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The adapter's permission table must agree with what lnd itself says
// each call needs, or its errors would send users to bake the wrong
// macaroon.
func TestPermissionTableMatchesLND(t *testing.T) {
	net := labtest.Network(t)
	env, err := net.Env()
	if err != nil {
		t.Fatal(err)
	}
	lncli := env.Nodes[0].LNCLI
	out, err := exec.CommandContext(labtest.Context(t), lncli[0], append(lncli[1:], "listpermissions")...).Output()
	if err != nil {
		t.Fatalf("lncli listpermissions: %v", err)
	}
	var listed struct {
		MethodPermissions map[string]struct {
			Permissions []lightning.Permission `json:"permissions"`
		} `json:"method_permissions"`
	}
	if err := json.Unmarshal(out, &listed); err != nil {
		t.Fatal(err)
	}
	byCall := map[string][]lightning.Permission{}
	for method, p := range listed.MethodPermissions {
		call := method[lastSlash(method)+1:]
		if _, ok := lnd.Permissions[call]; ok {
			if prev, seen := byCall[call]; seen && !samePermissions(prev, p.Permissions) {
				t.Fatalf("two lnd methods named %s with different permissions", call)
			}
			byCall[call] = p.Permissions
		}
	}
	for call, want := range lnd.Permissions {
		got, ok := byCall[call]
		if !ok {
			t.Errorf("lnd lists no method %s", call)
			continue
		}
		if !samePermissions(got, want) {
			t.Errorf("%s: lnd requires %v, the adapter's table says %v", call, got, want)
		}
	}
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

func samePermissions(a, b []lightning.Permission) bool {
	key := func(ps []lightning.Permission) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.String()
		}
		sort.Strings(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

func TestNodeErrors(t *testing.T) {
	net := labtest.Network(t)

	t.Run("unreachable", func(t *testing.T) {
		ctx := labtest.Context(t)
		cfg := net.Node(lab.Agent).LNDConfig()
		cfg.Host = "127.0.0.1:1" // nothing listens on port 1
		_, err := lnd.Dial(ctx, cfg)
		var ue *lightning.UnreachableError
		if !errors.As(err, &ue) || ue.Addr != cfg.Host {
			t.Fatalf("err = %v, want an UnreachableError for %s", err, cfg.Host)
		}
	})
	t.Run("wallet locked", func(t *testing.T) {
		ctx := labtest.Context(t)
		locked, err := net.StartLockedNode(ctx, "locked")
		if err != nil {
			t.Fatal(err)
		}
		_, err = lnd.Dial(ctx, locked.LNDConfig())
		if !errors.Is(err, lightning.ErrWalletLocked) {
			t.Fatalf("Dial to a locked node: %v, want ErrWalletLocked", err)
		}
	})
	t.Run("another node's macaroon", func(t *testing.T) {
		ctx := labtest.Context(t)
		cfg := net.Node(lab.Agent).LNDConfig()
		cfg.MacaroonPath = net.Node(lab.Seller).MacaroonPath("admin")
		_, err := lnd.Dial(ctx, cfg)
		if !errors.Is(err, lightning.ErrPermission) {
			t.Fatalf("Dial with seller's macaroon to agent: %v, want ErrPermission", err)
		}
	})
}

// TestLNDInvoiceMacaroon: lnd's own invoice.macaroon lacks info:read, yet
// it is what sellers have at hand; it must be enough to sell.
func TestLNDInvoiceMacaroon(t *testing.T) {
	ctx := labtest.Context(t)
	seller := labtest.Network(t).Node(lab.Seller)
	cfg := seller.LNDConfig()
	cfg.MacaroonPath = seller.MacaroonPath("invoice")
	n, err := lnd.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial with lnd's invoice.macaroon: %v", err)
	}
	defer n.Close()
	created, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{Amount: money.Sats(3), Memo: "stock invoice macaroon", Expiry: time.Minute})
	if err != nil {
		t.Fatalf("CreateInvoice: %v", err)
	}
	if _, err := pay(ctx, labtest.Conn(t, lab.Agent), created.PaymentRequest); err != nil {
		t.Fatalf("the agent cannot pay the invoice: %v", err)
	}
	status, err := n.LookupInvoice(ctx, created.Hash)
	if err != nil || status.State != lightning.InvoiceSettled {
		t.Fatalf("LookupInvoice = %+v, %v; want settled", status, err)
	}
	_, err = n.DecodeInvoice(created.PaymentRequest)
	requirePermissionError(t, err, "GetInfo", lightning.Permission{Entity: "info", Action: "read"})
}
