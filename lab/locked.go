package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
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
	password := filepath.Join(n.Dir, "wallet.password")
	if err := os.WriteFile(password, []byte("lab-wallet-password"), 0o600); err != nil {
		return Node{}, fmt.Errorf("lab: %s password: %w", name, err)
	}
	base := lndArgs(n, net.st.Btcd)
	base = base[:len(base)-1] // every flag but --noseedbackup
	// First run: lnd creates the wallet with the password and unlocks it,
	// writing the macaroons.
	create := append(append([]string{}, base...), "--wallet-unlock-password-file="+password, "--wallet-unlock-allow-create")
	if err := net.startExtra(n, create); err != nil {
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
	if err := net.startExtra(n, base); err != nil {
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
