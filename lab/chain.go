package lab

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// segwitHeight is where the lab's chain starts to be usable: btcd activates
// segwit on regtest around block 432, and lnd's funding transactions spend
// segwit outputs. Mined once at startup; coinbases mature at 100 blocks.
const segwitHeight = 500

// chain is the lab's btcd and the key its blocks pay.
type chain struct {
	rpc      *rpcclient.Client
	minerKey *btcec.PrivateKey
	// minerAddr is a legacy (P2PKH) address: its coinbases can be spent
	// before segwit activates and need no wallet, only minerKey.
	minerAddr btcutil.Address
	// nextCoinbase is the height of the next unspent coinbase to fund
	// nodes from; blocks from 1 up are spent in order.
	nextCoinbase int64
}

var regtest = &chaincfg.RegressionNetParams

// newMinerKey makes the key btcd's --miningaddr pays and saves it 0600 in
// path. btcd has no generatetoaddress: the mining address is fixed at
// start, so the lab holds its own key instead of asking an lnd node for an
// address (which would need a btcd restart).
func newMinerKey(path string) (*btcec.PrivateKey, btcutil.Address, error) {
	key, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, nil, fmt.Errorf("lab: miner key: %w", err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key.Serialize())), 0o600); err != nil {
		return nil, nil, fmt.Errorf("lab: save miner key: %w", err)
	}
	addr, err := minerAddress(key)
	return key, addr, err
}

func loadMinerKey(path string) (*btcec.PrivateKey, btcutil.Address, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: miner key: %w", err)
	}
	b, err := hex.DecodeString(string(raw))
	if err != nil || len(b) != 32 {
		return nil, nil, fmt.Errorf("lab: miner key in %s is not 32 hex bytes", path)
	}
	key, _ := btcec.PrivKeyFromBytes(b)
	addr, err := minerAddress(key)
	return key, addr, err
}

func minerAddress(key *btcec.PrivateKey) (btcutil.Address, error) {
	addr, err := btcutil.NewAddressPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), regtest)
	if err != nil {
		return nil, fmt.Errorf("lab: miner address: %w", err)
	}
	return addr, nil
}

// btcdArgs are btcd's flags for the lab. No peer-to-peer listener: lnd
// talks to btcd over RPC only.
func btcdArgs(dir string, rpcPort int, user, pass string, minerAddr btcutil.Address) []string {
	return []string{
		"--regtest",
		"--datadir=" + filepath.Join(dir, "data"),
		"--logdir=" + filepath.Join(dir, "logs"),
		"--rpcuser=" + user,
		"--rpcpass=" + pass,
		"--rpclisten=127.0.0.1:" + strconv.Itoa(rpcPort),
		"--rpccert=" + filepath.Join(dir, "rpc.cert"),
		"--rpckey=" + filepath.Join(dir, "rpc.key"),
		"--nolisten",
		"--txindex",
		"--miningaddr=" + minerAddr.EncodeAddress(),
		"--debuglevel=info",
	}
}

// dialBtcd connects to btcd's RPC over HTTPS POST (no websocket: the lab
// needs no notifications).
func dialBtcd(host, user, pass, certPath string) (*rpcclient.Client, error) {
	cert, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("lab: btcd certificate: %w", err)
	}
	c, err := rpcclient.New(&rpcclient.ConnConfig{
		Host:         host,
		User:         user,
		Pass:         pass,
		HTTPPostMode: true,
		Certificates: cert,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("lab: btcd rpc: %w", err)
	}
	return c, nil
}

// mine generates n blocks paying the miner key.
func (c *chain) mine(n int) (int64, error) {
	for n > 0 {
		// btcd generates blocks synchronously within one call; batches
		// keep each call well under the RPC client's timeout.
		batch := min(n, 100)
		if _, err := c.rpc.Generate(uint32(batch)); err != nil {
			return 0, fmt.Errorf("lab: mine %d blocks: %w", batch, err)
		}
		n -= batch
	}
	h, err := c.rpc.GetBlockCount()
	if err != nil {
		return 0, fmt.Errorf("lab: block height: %w", err)
	}
	return h, nil
}

// fund sends amounts to addresses in one transaction that spends the
// lab's oldest unspent coinbases, returning the txid. The change goes back
// to the miner address.
func (c *chain) fund(outputs map[btcutil.Address]btcutil.Amount) (string, error) {
	const fee = btcutil.Amount(100_000)
	var want btcutil.Amount = fee
	tx := wire.NewMsgTx(wire.TxVersion)
	for addr, amt := range outputs {
		script, err := txscript.PayToAddrScript(addr)
		if err != nil {
			return "", fmt.Errorf("lab: fund %s: %w", addr, err)
		}
		tx.AddTxOut(wire.NewTxOut(int64(amt), script))
		want += amt
	}

	height, err := c.rpc.GetBlockCount()
	if err != nil {
		return "", fmt.Errorf("lab: block height: %w", err)
	}
	var have btcutil.Amount
	var prevScripts [][]byte
	for have < want {
		// Coinbase outputs mature after 100 confirmations.
		if c.nextCoinbase > height-100 {
			return "", fmt.Errorf("lab: not enough mature coinbases for %s; mine more blocks", want)
		}
		hash, err := c.rpc.GetBlockHash(c.nextCoinbase)
		if err != nil {
			return "", fmt.Errorf("lab: block %d: %w", c.nextCoinbase, err)
		}
		block, err := c.rpc.GetBlock(hash)
		if err != nil {
			return "", fmt.Errorf("lab: block %d: %w", c.nextCoinbase, err)
		}
		c.nextCoinbase++
		coinbase := block.Transactions[0]
		out := coinbase.TxOut[0]
		tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(ptr(coinbase.TxHash()), 0), nil, nil))
		prevScripts = append(prevScripts, out.PkScript)
		have += btcutil.Amount(out.Value)
	}
	if change := have - want; change > 0 {
		script, err := txscript.PayToAddrScript(c.minerAddr)
		if err != nil {
			return "", fmt.Errorf("lab: change: %w", err)
		}
		tx.AddTxOut(wire.NewTxOut(int64(change), script))
	}
	for i, script := range prevScripts {
		sig, err := txscript.SignatureScript(tx, i, script, txscript.SigHashAll, c.minerKey, true)
		if err != nil {
			return "", fmt.Errorf("lab: sign funding input %d: %w", i, err)
		}
		tx.TxIn[i].SignatureScript = sig
	}
	txid, err := c.rpc.SendRawTransaction(tx, true)
	if err != nil {
		return "", fmt.Errorf("lab: send funding transaction: %w", err)
	}
	return txid.String(), nil
}

func ptr[T any](v T) *T { return &v }

// waitBtcd waits until btcd answers RPC.
func waitBtcd(ctx context.Context, p *process, host, user, pass, certPath string) (*rpcclient.Client, error) {
	var client *rpcclient.Client
	err := waitFor(ctx, "btcd to answer", 100*time.Millisecond, func() (bool, error) {
		if !p.alive() {
			return false, fatal{fmt.Errorf("btcd exited; its log ends:\n%s", p.logTail(15))}
		}
		if client == nil {
			c, err := dialBtcd(host, user, pass, certPath)
			if err != nil {
				// The certificate appears once btcd has started.
				return false, err
			}
			client = c
		}
		_, err := client.GetBlockCount()
		return err == nil, err
	})
	if err != nil {
		if client != nil {
			client.Shutdown()
		}
		return nil, err
	}
	return client, nil
}
