package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/lightning/lnd"
	"github.com/satloop/satloop/money"
)

// Network is a running lab, started by Up or found by Open. Its methods
// are safe for concurrent use.
type Network struct {
	dir   string
	st    *state
	chain *chain

	// detach is Config.Detach for nodes started later (StartLockedNode).
	detach bool

	mu    sync.Mutex
	conns map[string]*lnd.Node
}

// Open finds the lab running in dir, or returns an error wrapping ErrNotUp.
func Open(dir string) (*Network, error) {
	st, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no lab in %s; start one with `satloop lab up`", ErrNotUp, dir)
	}
	if err != nil {
		return nil, err
	}
	if !st.Ready || !st.anyAlive() {
		return nil, fmt.Errorf("%w: the lab in %s is stopped or did not finish starting; run `satloop lab up`", ErrNotUp, dir)
	}
	rpc, err := dialBtcd(st.Btcd.RPCAddr, st.Btcd.RPCUser, st.Btcd.RPCPass, st.Btcd.CertPath)
	if err != nil {
		return nil, err
	}
	key, addr, err := loadMinerKey(filepath.Join(dir, "miner.key"))
	if err != nil {
		rpc.Shutdown()
		return nil, err
	}
	return &Network{
		dir:   dir,
		st:    st,
		chain: &chain{rpc: rpc, minerKey: key, minerAddr: addr, nextCoinbase: st.NextCoinbase},
		conns: make(map[string]*lnd.Node),
		// A lab found on disk was started by the CLI, detached.
		detach: true,
	}, nil
}

// Dir is the lab's state directory.
func (net *Network) Dir() string { return net.dir }

// Node returns the named node's handle; it panics on a name that is not
// one of NodeNames, a programming error.
func (net *Network) Node(name string) Node {
	n := net.nodeState(name)
	if n == nil {
		panic(fmt.Sprintf("lab: no node %q; the nodes are %v", name, NodeNames))
	}
	return *n
}

func (net *Network) nodeState(name string) *Node {
	for _, n := range net.st.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Conn returns a connection to the named node with its admin macaroon,
// shared by callers and closed by Close.
func (net *Network) Conn(ctx context.Context, name string) (*lnd.Node, error) {
	net.mu.Lock()
	defer net.mu.Unlock()
	if c, ok := net.conns[name]; ok {
		return c, nil
	}
	n := net.nodeState(name)
	if n == nil {
		return nil, fmt.Errorf("lab: no node %q; the nodes are %v", name, NodeNames)
	}
	c, err := n.Dial(ctx)
	if err != nil {
		return nil, err
	}
	net.conns[name] = c
	return c, nil
}

// Mine generates blocks and returns the new height. Nodes see them
// within a moment; callers that need a node to have caught up wait for it.
func (net *Network) Mine(ctx context.Context, blocks int) (int64, error) {
	if blocks <= 0 || blocks > 10_000 {
		return 0, fmt.Errorf("lab: mine between 1 and 10000 blocks, not %d", blocks)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	net.mu.Lock()
	defer net.mu.Unlock()
	return net.chain.mine(blocks)
}

// Pay makes the to node create an invoice for amount and the from node
// pay it, with a fee limit of 1% plus 10 sats.
func (net *Network) Pay(ctx context.Context, from, to string, amount money.MilliSat, memo string) (lightning.Payment, error) {
	payer, err := net.Conn(ctx, from)
	if err != nil {
		return lightning.Payment{}, err
	}
	payee, err := net.Conn(ctx, to)
	if err != nil {
		return lightning.Payment{}, err
	}
	inv, err := payee.CreateInvoice(ctx, lightning.InvoiceRequest{Amount: amount, Memo: memo, Expiry: 10 * time.Minute})
	if err != nil {
		return lightning.Payment{}, fmt.Errorf("lab: %s invoice: %w", to, err)
	}
	return payer.Pay(ctx, lightning.PayRequest{
		Invoice: inv.PaymentRequest,
		MaxFee:  amount/100 + money.Sats(10),
		Timeout: 30 * time.Second,
	})
}

// Close releases the network's connections; the lab keeps running.
func (net *Network) Close() {
	net.mu.Lock()
	defer net.mu.Unlock()
	for name, c := range net.conns {
		c.Close()
		delete(net.conns, name)
	}
	if net.chain != nil {
		net.chain.rpc.Shutdown()
		net.chain = nil
	}
}

// Down closes the network's connections and stops its processes.
func (net *Network) Down(ctx context.Context) error {
	net.Close()
	return Down(ctx, net.dir)
}
