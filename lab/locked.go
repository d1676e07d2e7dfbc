package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// StartLockedNode starts an extra lnd named name whose wallet exists but
// is locked, as after a restart of a node with a wallet password: its
// macaroons are on disk and every call but unlocking is refused. Tests
// use it to check what satloop tells a user whose node is locked. The
// node stops with the lab.
func (net *Network) StartLockedNode(ctx context.Context, name string) (Node, error) {
	n, err := newNode(net.dir, name)
	if err != nil {
		return Node{}, err
	}
	args := lndArgs(n, net.st.Btcd)
	args = args[:len(args)-1] // every flag but --noseedbackup
	// First run: lnd waits for a wallet; create one with a password
	// through the wallet unlocker, which unlocks it and writes the
	// macaroons.
	if err := net.startExtra(n, args); err != nil {
		return Node{}, err
	}
	if err := initWallet(ctx, n); err != nil {
		return Node{}, err
	}
	conn, err := n.waitReady(ctx, 0)
	if err != nil {
		return Node{}, err
	}
	conn.Close()
	if err := n.Process.stop(ctx, 15*time.Second); err != nil {
		return Node{}, err
	}
	// Second run: no password, so the wallet stays locked.
	if err := net.startExtra(n, args); err != nil {
		return Node{}, err
	}
	err = waitFor(ctx, name+" to listen", 100*time.Millisecond, func() (bool, error) {
		if !n.Process.alive() {
			return false, fatal{fmt.Errorf("%s exited; its log ends:\n%s", name, n.Process.logTail(15))}
		}
		_, err := os.Stat(filepath.Join(n.Dir, "logs", "bitcoin", "regtest", "lnd.log"))
		return err == nil && listening(n.RPCAddr), nil
	})
	if err != nil {
		return Node{}, err
	}
	return *n, nil
}

// initWallet creates the node's wallet with a password over lnd's wallet
// unlocker service, which needs TLS but no macaroon.
func initWallet(ctx context.Context, n *Node) error {
	var conn *grpc.ClientConn
	err := waitFor(ctx, n.Name+"'s wallet unlocker", 100*time.Millisecond, func() (bool, error) {
		if !n.Process.alive() {
			return false, fatal{fmt.Errorf("%s exited; its log ends:\n%s", n.Name, n.Process.logTail(15))}
		}
		creds, err := credentials.NewClientTLSFromFile(n.TLSCertPath, "")
		if err != nil {
			return false, err // lnd writes the certificate as it starts
		}
		conn, err = grpc.NewClient(n.RPCAddr, grpc.WithTransportCredentials(creds))
		return err == nil, err
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	unlocker := lnrpc.NewWalletUnlockerClient(conn)
	var seed *lnrpc.GenSeedResponse
	err = waitFor(ctx, n.Name+" to offer a seed", 100*time.Millisecond, func() (bool, error) {
		var err error
		seed, err = unlocker.GenSeed(ctx, &lnrpc.GenSeedRequest{})
		return err == nil, err
	})
	if err != nil {
		return err
	}
	_, err = unlocker.InitWallet(ctx, &lnrpc.InitWalletRequest{
		WalletPassword:     []byte("lab-wallet-password"),
		CipherSeedMnemonic: seed.CipherSeedMnemonic,
	})
	if err != nil {
		return fmt.Errorf("lab: create %s's wallet: %w", n.Name, err)
	}
	return nil
}

// startExtra starts lnd for a node outside the lab's three and records
// the process so that Down stops it.
func (net *Network) startExtra(n *Node, args []string) error {
	if err := n.start(net.st.Binaries.LND, args, net.detach); err != nil {
		return err
	}
	net.mu.Lock()
	defer net.mu.Unlock()
	net.st.Extra = append(net.st.Extra, n.Process)
	return net.st.write(net.dir)
}
