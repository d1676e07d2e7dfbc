package lab

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"golang.org/x/sync/errgroup"

	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/lightning/lnd"
	"github.com/satloop/satloop/money"
)

// The lab's channels. Each pushes part of its capacity to the other side
// at opening, so that payments can flow both ways (seller -> agent too)
// from the start.
const (
	channelCapacity = 10_000_000 // sats, under the 16.7M non-wumbo limit
	channelPush     = 4_000_000
	// utxosPerNode and utxoSats fund each node's wallet with several coins,
	// so that it can open several channels without waiting for change to
	// confirm.
	utxosPerNode = 5
	utxoSats     = 10 * btcutil.SatoshiPerBitcoin
)

// Up starts a lab network in cfg.Dir and returns when agent can pay seller
// through router: it has made one such payment. If anything fails, or ctx
// ends, Up stops what it started before returning the error. A lab
// already running in the directory gives ErrAlreadyUp.
func Up(ctx context.Context, cfg Config) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if old, err := readState(cfg.Dir); err == nil {
		if old.anyAlive() {
			return nil, fmt.Errorf("%w in %s; run `satloop lab down` first", ErrAlreadyUp, cfg.Dir)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// A lab always starts from a fresh chain: stale data from a lab that
	// died would have nodes and chain disagree. Only a directory that held
	// a lab, or nothing, is cleared: --dir pointed at a home directory by
	// mistake must not be wiped.
	if err := checkClearable(cfg.Dir); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("lab: clear %s: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab: state directory: %w", err)
	}
	cacheDir := cfg.CacheDir
	if cacheDir == "" {
		var err error
		if cacheDir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	bins, err := EnsureBinaries(ctx, cacheDir, cfg.Progress)
	if err != nil {
		return nil, err
	}

	start := time.Now()
	net := &Network{dir: cfg.Dir, detach: cfg.Detach, conns: make(map[string]*lnd.Node), st: &state{Version: stateVersion, Binaries: bins, StartedAt: start.UTC(), NextCoinbase: 1}}
	ok := false
	defer func() {
		if !ok {
			// A fresh context: ctx may be what ended.
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			net.Close()
			_ = Down(stopCtx, cfg.Dir)
		}
	}()
	if err := net.start(ctx, cfg); err != nil {
		return nil, err
	}
	progressf(cfg.Progress, "lab: ready in %s; agent paid seller through router\n", time.Since(start).Round(100*time.Millisecond))
	ok = true
	return net, nil
}

// checkClearable refuses a directory that exists, is not empty, and holds
// no lab state.
func checkClearable(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lab: state directory: %w", err)
	}
	if _, err := os.Stat(statePath(dir)); err != nil {
		return fmt.Errorf("%w: %s is not empty and holds no lab (no state.json); choose an empty or new --dir", ErrNotLabDir, dir)
	}
	return nil
}

func (net *Network) start(ctx context.Context, cfg Config) error {
	dir, st := cfg.Dir, net.st
	btcdDir := filepath.Join(dir, "btcd")
	if err := os.MkdirAll(btcdDir, 0o700); err != nil {
		return fmt.Errorf("lab: btcd directory: %w", err)
	}
	key, minerAddr, err := newMinerKey(filepath.Join(dir, "miner.key"))
	if err != nil {
		return err
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	st.Btcd = btcdState{
		RPCAddr:  "127.0.0.1:" + strconv.Itoa(ports[0]),
		RPCUser:  "lab",
		RPCPass:  rand.Text(),
		CertPath: filepath.Join(btcdDir, "rpc.cert"),
	}
	progressf(cfg.Progress, "lab: starting btcd (regtest) on %s\n", st.Btcd.RPCAddr)
	st.Btcd.Process, _, err = startProcess("btcd", st.Binaries.Btcd,
		btcdArgs(btcdDir, ports[0], st.Btcd.RPCUser, st.Btcd.RPCPass, minerAddr),
		filepath.Join(btcdDir, "btcd.out"), btcdDir, cfg.Detach)
	if err != nil {
		return err
	}
	// Recorded before anything can fail, so that Down finds it.
	if err := st.write(dir); err != nil {
		return err
	}
	rpc, err := waitBtcd(ctx, st.Btcd.Process, st.Btcd.RPCAddr, st.Btcd.RPCUser, st.Btcd.RPCPass, st.Btcd.CertPath)
	if err != nil {
		return err
	}
	net.chain = &chain{rpc: rpc, minerKey: key, minerAddr: minerAddr, nextCoinbase: st.NextCoinbase}

	for _, name := range NodeNames {
		n, err := newNode(dir, name)
		if err != nil {
			return err
		}
		if err := n.start(st.Binaries.LND, lndArgs(n, st.Btcd), cfg.Detach); err != nil {
			return err
		}
		st.Nodes = append(st.Nodes, n)
		if err := st.write(dir); err != nil {
			return err
		}
	}
	progressf(cfg.Progress, "lab: started lnd nodes %v; mining %d blocks to activate segwit\n", NodeNames, segwitHeight)
	height, err := net.chain.mine(segwitHeight)
	if err != nil {
		return err
	}

	conns := net.conns
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range st.Nodes {
		g.Go(func() error {
			c, err := n.waitReady(gctx, uint32(height))
			if err != nil {
				return err
			}
			net.mu.Lock()
			conns[n.Name] = c
			net.mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := st.write(dir); err != nil { // pubkeys are known now
		return err
	}

	progressf(cfg.Progress, "lab: funding the nodes' wallets\n")
	outputs := make(map[btcutil.Address]btcutil.Amount)
	for _, n := range st.Nodes {
		for range utxosPerNode {
			addr, err := conns[n.Name].NewAddress(ctx)
			if err != nil {
				return fmt.Errorf("lab: %s address: %w", n.Name, err)
			}
			a, err := btcutil.DecodeAddress(addr, regtest)
			if err != nil {
				return fmt.Errorf("lab: %s address %q: %w", n.Name, addr, err)
			}
			outputs[a] = utxoSats
		}
	}
	if _, err := net.chain.fund(outputs); err != nil {
		return err
	}
	st.NextCoinbase = net.chain.nextCoinbase
	if _, err := net.chain.mine(1); err != nil {
		return err
	}
	for _, n := range st.Nodes {
		if err := waitBalance(ctx, n.Name, conns[n.Name], utxosPerNode*utxoSats); err != nil {
			return err
		}
	}

	progressf(cfg.Progress, "lab: opening channels agent -> router -> seller\n")
	router, seller := net.nodeState(Router), net.nodeState(Seller)
	g, gctx = errgroup.WithContext(ctx)
	for _, ch := range []struct{ from, to *Node }{{net.nodeState(Agent), router}, {router, seller}} {
		g.Go(func() error {
			_, err := conns[ch.from.Name].OpenChannel(gctx, lightning.OpenChannelRequest{
				PeerPubkey: ch.to.Pubkey,
				PeerHost:   ch.to.P2PAddr,
				Capacity:   money.Sats(channelCapacity),
				Push:       money.Sats(channelPush),
			})
			if err != nil {
				return fmt.Errorf("lab: open channel %s -> %s: %w", ch.from.Name, ch.to.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// Six confirmations: lnd announces a channel to the network only then,
	// and agent must learn of router -> seller to route through it.
	if _, err := net.chain.mine(6); err != nil {
		return err
	}
	for name, want := range map[string]int{Agent: 1, Router: 2, Seller: 1} {
		if err := waitActiveChannels(ctx, name, conns[name], want); err != nil {
			return err
		}
	}

	progressf(cfg.Progress, "lab: waiting for agent to find a route to seller\n")
	if err := net.warmUp(ctx); err != nil {
		return err
	}
	st.Ready = true
	return st.write(dir)
}

// warmUp pays seller from agent until a payment goes through: agent knows
// a route only once the router -> seller announcement has reached it, and
// for a moment after a channel turns active lnd still reports it has no
// bandwidth (insufficient balance).
func (net *Network) warmUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return waitFor(ctx, "a first payment from agent to seller", 300*time.Millisecond, func() (bool, error) {
		_, err := net.Pay(ctx, Agent, Seller, money.Sats(1), "lab warm-up")
		if errors.Is(err, lightning.ErrNoRoute) || errors.Is(err, lightning.ErrInsufficientBalance) {
			return false, err
		}
		if err != nil {
			return false, fatal{err}
		}
		return true, nil
	})
}
