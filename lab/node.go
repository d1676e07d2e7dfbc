package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/satloop/satloop/lightning/lnd"
)

// Node is one lnd of the lab: where it listens and where its credentials
// are. It is plain data, safe to copy and to hand to tests.
type Node struct {
	Name    string `json:"name"`
	Pubkey  string `json:"pubkey"`
	RPCAddr string `json:"rpc_addr"`
	P2PAddr string `json:"p2p_addr"`
	// RESTAddr is lnd's REST proxy, for tools that speak REST.
	RESTAddr    string   `json:"rest_addr"`
	Dir         string   `json:"dir"`
	TLSCertPath string   `json:"tls_cert_path"`
	Process     *process `json:"process"`
}

// MacaroonPath returns the path of one of the macaroons lnd writes at
// wallet creation: "admin", "readonly" or "invoice".
func (n Node) MacaroonPath(kind string) string {
	return filepath.Join(n.Dir, "data", "chain", "bitcoin", "regtest", kind+".macaroon")
}

// LNDConfig is the configuration to reach the node with the admin
// macaroon.
func (n Node) LNDConfig() lnd.Config {
	return lnd.Config{Host: n.RPCAddr, TLSCertPath: n.TLSCertPath, MacaroonPath: n.MacaroonPath("admin")}
}

// Dial connects to the node with its admin macaroon.
func (n Node) Dial(ctx context.Context) (*lnd.Node, error) {
	return lnd.Dial(ctx, n.LNDConfig())
}

// LNDConnect returns an lndconnect URI for the node with its admin
// macaroon. It holds a secret: print it only when asked.
func (n Node) LNDConnect() (string, error) {
	cert, err := os.ReadFile(n.TLSCertPath)
	if err != nil {
		return "", fmt.Errorf("lab: %s certificate: %w", n.Name, err)
	}
	mac, err := os.ReadFile(n.MacaroonPath("admin"))
	if err != nil {
		return "", fmt.Errorf("lab: %s macaroon: %w", n.Name, err)
	}
	return lnd.FormatLNDConnect(n.RPCAddr, cert, mac)
}

// lndArgs are lnd's flags in the lab. --noseedbackup creates and unlocks
// a wallet with no prompt; trickledelay makes gossip (channel
// announcements) reach the other nodes in milliseconds instead of seconds.
func lndArgs(n *Node, btcd btcdState) []string {
	return []string{
		"--lnddir=" + n.Dir,
		"--alias=" + n.Name,
		"--bitcoin.regtest",
		"--bitcoin.node=btcd",
		"--btcd.rpchost=" + btcd.RPCAddr,
		"--btcd.rpcuser=" + btcd.RPCUser,
		"--btcd.rpcpass=" + btcd.RPCPass,
		"--btcd.rpccert=" + btcd.CertPath,
		"--listen=" + n.P2PAddr,
		"--rpclisten=" + n.RPCAddr,
		"--restlisten=" + n.RESTAddr,
		"--externalip=" + n.P2PAddr,
		"--trickledelay=50",
		"--maxpendingchannels=10",
		"--debuglevel=info",
		"--noseedbackup",
	}
}

// newNode lays out a node's directory and ports; it does not start it.
func newNode(dir, name string) (*Node, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	n := &Node{
		Name:     name,
		Dir:      filepath.Join(dir, name),
		RPCAddr:  "127.0.0.1:" + strconv.Itoa(ports[0]),
		P2PAddr:  "127.0.0.1:" + strconv.Itoa(ports[1]),
		RESTAddr: "127.0.0.1:" + strconv.Itoa(ports[2]),
	}
	n.TLSCertPath = filepath.Join(n.Dir, "tls.cert")
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab: %s directory: %w", name, err)
	}
	return n, nil
}

// start runs lnd for the node and records the process.
func (n *Node) start(bin string, args []string, detach bool) error {
	p, _, err := startProcess(n.Name, bin, args, filepath.Join(n.Dir, "lnd.out"), n.Dir, detach)
	if err != nil {
		return err
	}
	n.Process = p
	return nil
}

// waitReady waits until the node answers with its admin macaroon and has
// caught up with the chain at height (0: any height), and returns a
// connection to it.
func (n *Node) waitReady(ctx context.Context, height uint32) (*lnd.Node, error) {
	var conn *lnd.Node
	err := waitFor(ctx, n.Name+" to sync", 200*time.Millisecond, func() (bool, error) {
		if !n.Process.alive() {
			return false, fatal{fmt.Errorf("%s exited; its log ends:\n%s", n.Name, n.Process.logTail(15))}
		}
		if conn == nil {
			if _, err := os.Stat(n.MacaroonPath("admin")); err != nil {
				return false, err
			}
			c, err := n.Dial(ctx)
			if err != nil {
				return false, err
			}
			conn = c
		}
		info, err := conn.Info(ctx)
		if err != nil {
			return false, err
		}
		n.Pubkey = info.Pubkey
		return info.SyncedToChain && info.BlockHeight >= height, nil
	})
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, err
	}
	return conn, nil
}

// waitBalance waits until the node's wallet holds at least want confirmed.
func waitBalance(ctx context.Context, name string, conn *lnd.Node, want int64) error {
	return waitFor(ctx, name+"'s funds to confirm", 200*time.Millisecond, func() (bool, error) {
		b, err := conn.Balances(ctx)
		if err != nil {
			return false, err
		}
		return b.OnChainConfirmed.Sats() >= want, nil
	})
}

// waitActiveChannels waits until the node has n active channels.
func waitActiveChannels(ctx context.Context, name string, conn *lnd.Node, n int) error {
	return waitFor(ctx, fmt.Sprintf("%s to have %d active channels", name, n), 200*time.Millisecond, func() (bool, error) {
		chans, err := conn.Channels(ctx)
		if err != nil {
			return false, err
		}
		active := 0
		for _, c := range chans {
			if c.Active {
				active++
			}
		}
		return active >= n, nil
	})
}
