//go:build lab

package lab_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lab/labtest"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/lightning/lnd"
	"github.com/satloop/satloop/money"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// The lab's promise: agent pays seller through router, which takes a fee,
// and the liquidity pushed at opening lets seller pay agent back.
func TestPayThroughRouter(t *testing.T) {
	ctx := labtest.Context(t)
	net := labtest.Network(t)

	p, err := net.Pay(ctx, lab.Agent, lab.Seller, money.Sats(1000), "test")
	if err != nil {
		t.Fatalf("agent -> seller: %v", err)
	}
	if p.Status != lightning.PaymentSucceeded || p.Amount != money.Sats(1000) {
		t.Fatalf("payment = %+v, want 1000 sats succeeded", p)
	}
	if p.Hops != 2 || p.Fee <= 0 {
		t.Fatalf("payment took %d hops for a fee of %s; want 2 hops through router and a routing fee", p.Hops, p.Fee)
	}
	if p.Preimage.Hash() != p.Hash {
		t.Fatal("preimage does not hash to the payment hash")
	}
	inv, err := labtest.Conn(t, lab.Seller).LookupInvoice(ctx, p.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != lightning.InvoiceSettled || inv.AmountPaid != money.Sats(1000) {
		t.Fatalf("seller's invoice = %+v, want settled for 1000 sats", inv)
	}

	back, err := net.Pay(ctx, lab.Seller, lab.Agent, money.Sats(500), "test refund")
	if err != nil {
		t.Fatalf("seller -> agent: %v", err)
	}
	if back.Hops != 2 {
		t.Fatalf("seller -> agent took %d hops, want 2", back.Hops)
	}
}

// With its binaries built, a lab must be ready to pay within 90 seconds
// on the project's 2-core machines.
func TestStartupTime(t *testing.T) {
	took := labtest.StartupTime()
	if took == 0 {
		t.Skip("the lab was started elsewhere (SATLOOP_LAB_DIR)")
	}
	t.Logf("lab up took %s", took)
	if took > 90*time.Second {
		t.Fatalf("lab up took %s, more than 90 s", took)
	}
}

func TestMine(t *testing.T) {
	ctx := labtest.Context(t)
	net := labtest.Network(t)
	agent := labtest.Conn(t, lab.Agent)
	before, err := net.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	after, err := net.Mine(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if after != before+3 {
		t.Fatalf("height %d after mining 3 on %d", after, before)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := agent.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if int64(info.BlockHeight) == after {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent at height %d, chain at %d", info.BlockHeight, after)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, n := range []int{0, -1, 10_001} {
		if _, err := net.Mine(ctx, n); err == nil {
			t.Errorf("Mine(%d) accepted", n)
		}
	}
}

// Every detail `lab env` prints must work: the lndconnect URI dials, the
// macaroon files exist, the lncli command line reaches the node.
func TestEnv(t *testing.T) {
	ctx := labtest.Context(t)
	net := labtest.Network(t)
	env, err := net.Env()
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Nodes) != len(lab.NodeNames) {
		t.Fatalf("env has %d nodes, want %d", len(env.Nodes), len(lab.NodeNames))
	}
	for _, n := range env.Nodes {
		for _, path := range []string{n.TLSCertPath, n.MacaroonPath, n.ReadOnlyMacaroonPath, n.InvoiceMacaroonPath} {
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: %v", n.Name, err)
			}
		}
		cfg, err := lnd.ParseLNDConnect(n.LNDConnect)
		if err != nil {
			t.Fatalf("%s: lndconnect URI: %v", n.Name, err)
		}
		conn, err := lnd.Dial(ctx, cfg)
		if err != nil {
			t.Fatalf("%s: dial with the lndconnect URI: %v", n.Name, err)
		}
		info, err := conn.Info(ctx)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if info.Pubkey != n.Pubkey || info.Alias != n.Name || info.Network != lightning.Regtest {
			t.Fatalf("%s answers as %+v", n.Name, info)
		}
		out, err := exec.CommandContext(ctx, n.LNCLI[0], append(n.LNCLI[1:], "getinfo")...).Output()
		if err != nil {
			t.Fatalf("%s: lncli getinfo: %v", n.Name, err)
		}
		var got struct {
			IdentityPubkey string `json:"identity_pubkey"`
		}
		if err := json.Unmarshal(out, &got); err != nil || got.IdentityPubkey != n.Pubkey {
			t.Fatalf("%s: lncli getinfo gave %q (%v)", n.Name, out, err)
		}
	}
}

func TestStatus(t *testing.T) {
	ctx := labtest.Context(t)
	net := labtest.Network(t)
	st, err := lab.StatusOf(ctx, net.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Ready || !st.Btcd.Running || st.BlockHeight < 500 || len(st.Problems) > 0 {
		t.Fatalf("status = %+v", st)
	}
	chans := map[string]int{}
	for _, n := range st.Nodes {
		if !n.Process.Running || n.Info == nil || !n.Info.SyncedToChain {
			t.Fatalf("%s: %+v", n.Name, n)
		}
		chans[n.Name] = len(n.Channels)
	}
	want := map[string]int{lab.Agent: 1, lab.Router: 2, lab.Seller: 1}
	for name, n := range want {
		if chans[name] < n {
			t.Errorf("%s has %d channels, want at least %d", name, chans[name], n)
		}
	}
}

func TestUpRefusesARunningLab(t *testing.T) {
	net := labtest.Network(t)
	_, err := lab.Up(labtest.Context(t), lab.Config{Dir: net.Dir()})
	if !errors.Is(err, lab.ErrAlreadyUp) {
		t.Fatalf("Up over a running lab: %v, want ErrAlreadyUp", err)
	}
	// and the running lab is untouched
	if _, err := net.Pay(labtest.Context(t), lab.Agent, lab.Seller, money.Sats(1), "still up"); err != nil {
		t.Fatal(err)
	}
}

// An Up interrupted halfway (Ctrl-C, a test timeout) stops every process
// it had started.
func TestInterruptedUpLeavesNothingRunning(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := &cancelOn{substr: "mining", cancel: cancel}
	_, err := lab.Up(ctx, lab.Config{Dir: dir, Progress: progress})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Up canceled while mining returned %v, want context.Canceled", err)
	}
	if !progress.fired {
		t.Fatal("Up never reached the mining step; the test checks nothing")
	}
	if pids := labtest.ProcessesMentioning(dir); len(pids) > 0 {
		t.Fatalf("processes %v of the interrupted lab still run", pids)
	}
}

// cancelOn cancels a context when a progress line contains substr, after
// the lab has started its processes.
type cancelOn struct {
	substr string
	cancel context.CancelFunc
	fired  bool
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.substr) {
		c.fired = true
		c.cancel()
	}
	return len(p), nil
}
