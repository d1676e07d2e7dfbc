//go:build lab

package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lab/labtest"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/wallet"
)

// walletCrashEnv is the daemon's test-only crash hook: it names the
// wallet.Step at which the daemon SIGKILLs itself.
const walletCrashEnv = "SATLOOP_TEST_WALLET_CRASH"

// exitNetwork is the exit code for a server, node or wallet daemon that
// could not be reached.
const exitNetwork = 5

// walletLab is an operator's data directory with a daemon running on a
// pay-only macaroon of the agent node, and the commands around it.
type walletLab struct {
	t        *testing.T
	bin      string
	dir      string
	macaroon string
	daemon   *exec.Cmd
	stderr   *bytes.Buffer
}

// newWalletLab bakes a pay-only macaroon for the daemon with the CLI, so
// that the daemon runs with the least power it needs.
func newWalletLab(t *testing.T) *walletLab {
	t.Helper()
	w := &walletLab{t: t, bin: sharedBinary(t), dir: t.TempDir()}
	w.macaroon = filepath.Join(w.dir, "pay-only.macaroon")
	bakeLND(t, "--preset", "pay-only", "--out", w.macaroon)
	t.Cleanup(func() { w.kill() })
	return w
}

// operator runs an operator command on the wallet's data directory.
func (w *walletLab) operator(args ...string) result {
	w.t.Helper()
	cmd := exec.Command(w.bin, append(slices.Clone(args), "--data-dir", w.dir)...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return finish(w.t, cmd, &stdout, &stderr, cmd.Run())
}

// cleanEnv is the environment without the caller's satloop settings.
func cleanEnv(extra ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "SATLOOP_")
	})
	return append(env, extra...)
}

// bake mints an agent credential and returns its file.
func (w *walletLab) bake(name string, args ...string) string {
	w.t.Helper()
	file := filepath.Join(w.dir, name+".cred")
	r := w.operator(append([]string{"bake", "agent", "--name", name, "--out", file}, args...)...)
	if r.code != 0 {
		w.t.Fatalf("bake agent: exit %d: %s", r.code, r.stderr)
	}
	return file
}

// start runs `satloop wallet serve` on the agent node with the pay-only
// macaroon and waits for its ready line.
func (w *walletLab) start(env ...string) walletReadyLine {
	w.t.Helper()
	return w.startWith(env)
}

// startWith is start with more `wallet serve` flags.
func (w *walletLab) startWith(env []string, flags ...string) walletReadyLine {
	w.t.Helper()
	node := labtest.Network(w.t).Node(lab.Agent).LNDConfig()
	args := append([]string{"wallet", "serve", "--json", "--data-dir", w.dir,
		"--lnd-host", node.Host, "--lnd-tlscert", node.TLSCertPath, "--lnd-macaroon", w.macaroon}, flags...)
	cmd := exec.Command(w.bin, args...)
	cmd.Env = cleanEnv(env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	w.stderr = new(bytes.Buffer)
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.daemon = cmd
	var line walletReadyLine
	ready := make(chan error, 1)
	go func() { ready <- json.NewDecoder(bufio.NewReader(stdout)).Decode(&line) }()
	select {
	case err := <-ready:
		if err != nil {
			w.t.Fatalf("wallet serve did not start: %v\nstderr:\n%s", err, w.stderr)
		}
	case <-time.After(60 * time.Second):
		w.t.Fatalf("wallet serve not ready after 60s\nstderr:\n%s", w.stderr)
	}
	return line
}

type walletReadyLine struct {
	Wallet string `json:"wallet"`
	TLS    string `json:"tls_url"`
}

// kill SIGKILLs the daemon, as a crash would.
func (w *walletLab) kill() {
	if w.daemon != nil && w.daemon.Process != nil {
		w.daemon.Process.Kill()
		w.daemon.Wait()
		w.daemon = nil
	}
}

// waitDied waits for the daemon to die by itself (a crash hook) and
// reports whether it died of SIGKILL.
func (w *walletLab) waitDied() bool {
	w.t.Helper()
	err := w.daemon.Wait()
	w.daemon = nil
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return false
	}
	ws, ok := exitErr.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// agent runs a command as the agent: only the credential file, no node
// flag, no operator data directory.
func (w *walletLab) agent(cred string, args ...string) result {
	w.t.Helper()
	cmd := exec.Command(w.bin, args...)
	cmd.Env = cleanEnv("SATLOOP_CREDENTIAL="+cred, "SATLOOP_DATA_DIR="+w.t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return finish(w.t, cmd, &stdout, &stderr, cmd.Run())
}

// history is the agent's ledger entries, through the daemon.
func (w *walletLab) history(cred string) []wallet.Entry {
	w.t.Helper()
	r := w.agent(cred, "wallet", "history", "--json", "--limit", "1000")
	if r.code != 0 {
		w.t.Fatalf("wallet history: exit %d: %s", r.code, r.stderr)
	}
	var entries []wallet.Entry
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		w.t.Fatalf("wallet history: %v\n%s", err, r.stdout)
	}
	return entries
}

func (w *walletLab) allowance(cred string) wallet.Allowance {
	w.t.Helper()
	r := w.agent(cred, "wallet", "allowance", "--json")
	if r.code != 0 {
		w.t.Fatalf("wallet allowance: exit %d: %s", r.code, r.stderr)
	}
	var a wallet.Allowance
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		w.t.Fatal(err)
	}
	return a
}

// requireLedgerMatchesNode checks that the settled entries are exactly
// the agent node's new successful payments, amount for amount.
func requireLedgerMatchesNode(t *testing.T, entries []wallet.Entry, before map[l402.PaymentHash]labtest.Payment) {
	t.Helper()
	node := newPayments(t, before)
	for hash, p := range node {
		if p.Status != "SUCCEEDED" {
			delete(node, hash)
		}
	}
	settled := 0
	for _, e := range entries {
		if e.Status != wallet.EntrySettled {
			continue
		}
		settled++
		p, ok := node[e.Hash]
		if !ok {
			t.Fatalf("ledger entry %s settled, but the node has no such successful payment", e.Hash)
		}
		if p.Amount != e.Amount || p.Fee != e.Fee {
			t.Fatalf("entry %s: ledger %s + %s fee, node %s + %s", e.Hash, e.Amount, e.Fee, p.Amount, p.Fee)
		}
	}
	if settled != len(node) {
		t.Fatalf("ledger has %d settled entries, the node %d successful payments", settled, len(node))
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// The operator's whole loop with the real binary: bake a pay-only lnd
// macaroon for the daemon, mint an agent credential, fetch through the
// daemon (pay once, then reuse), and the limits refuse with exit 3 and a
// reason: host, budget, revoked, frozen.
func TestWalletFetchLimitsAndRevoke(t *testing.T) {
	up := newUpstream(t, nil)
	ap := labtest.Aperture(t, up.URL, money.Sats(10))
	w := newWalletLab(t)
	cred := w.bake("research-bot", "--max-sats-per-call", "20", "--budget", "35/day", "--hosts", "127.0.0.1")
	if fi, err := os.Stat(cred); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential file mode: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(cred); bytes.Contains(b, []byte("macaroon_path")) || bytes.Contains(b, []byte(w.macaroon)) {
		t.Fatal("the credential file names the node's macaroon")
	}
	w.start()
	before := agentPayments(t)

	first := w.agent(cred, "get", ap.URL()+"/v1/a")
	if first.code != exitOK || first.stdout != "resource /v1/a\n" || !strings.Contains(first.stderr, "paid 10 sat") {
		t.Fatalf("first fetch: exit %d stdout %q stderr %q", first.code, first.stdout, first.stderr)
	}
	again := w.agent(cred, "get", ap.URL()+"/v1/b")
	if again.code != exitOK || strings.Contains(again.stderr, "paid") && !strings.Contains(again.stderr, "nothing paid") {
		t.Fatalf("second fetch in the same scope paid again: exit %d stderr %q", again.code, again.stderr)
	}
	// Another host: refused before anything is sent.
	other := w.agent(cred, "get", strings.Replace(ap.URL(), "127.0.0.1", "localhost", 1)+"/v1/c")
	if other.code != exitRefused || !strings.Contains(other.stderr, "not among the credential's hosts") {
		t.Fatalf("fetch from another host: exit %d stderr %q", other.code, other.stderr)
	}
	// A price above the per-call cap.
	cheap := w.agent(cred, "get", "--max-sats", "5", ap.URL()+"/v2/x")
	if cheap.code != exitRefused || !strings.Contains(cheap.stderr, "max price") {
		t.Fatalf("over this call's cap: exit %d stderr %q", cheap.code, cheap.stderr)
	}
	// 35 sat a day: the first payment holds 10 + its fee; the second needs
	// 10 + a 10-sat fee limit; the third no longer fits.
	if r := w.agent(cred, "get", ap.URL()+"/v3/x"); r.code != exitOK {
		t.Fatalf("second purchase: exit %d stderr %q", r.code, r.stderr)
	}
	over := w.agent(cred, "get", ap.URL()+"/v4/x")
	if over.code != exitRefused || !strings.Contains(over.stderr, "budget 35 sat/day") || !strings.Contains(over.stderr, "frees room at") {
		t.Fatalf("over budget: exit %d stderr %q", over.code, over.stderr)
	}
	a := w.allowance(cred)
	if len(a.Budgets) != 1 || a.Budgets[0].Used > money.Sats(35) || a.Budgets[0].Used < money.Sats(20) {
		t.Fatalf("allowance after two purchases: %+v", a.Budgets)
	}
	requireLedgerMatchesNode(t, w.history(cred), before)

	// Freeze stops everyone; unfreeze restores; revoke ends the agent.
	fresh := w.bake("helper-bot", "--budget", "100/day")
	if r := w.operator("wallet", "freeze"); r.code != 0 {
		t.Fatalf("freeze: %s", r.stderr)
	}
	frozen := w.agent(fresh, "get", ap.URL()+"/v5/x")
	if frozen.code != exitRefused || !strings.Contains(frozen.stderr, "froze") {
		t.Fatalf("frozen: exit %d stderr %q", frozen.code, frozen.stderr)
	}
	if r := w.operator("wallet", "unfreeze"); r.code != 0 {
		t.Fatalf("unfreeze: %s", r.stderr)
	}
	if r := w.agent(fresh, "get", ap.URL()+"/v5/x"); r.code != exitOK {
		t.Fatalf("after unfreeze: exit %d stderr %q", r.code, r.stderr)
	}
	if r := w.operator("wallet", "revoke", "helper-bot"); r.code != 0 {
		t.Fatalf("revoke: %s", r.stderr)
	}
	revoked := w.agent(fresh, "get", ap.URL()+"/v6/x")
	if revoked.code != exitRefused || !strings.Contains(revoked.stderr, "revoked") {
		t.Fatalf("revoked: exit %d stderr %q", revoked.code, revoked.stderr)
	}
	agents := w.operator("wallet", "agents", "--json")
	if agents.code != 0 || !strings.Contains(agents.stdout, `"status": "revoked"`) || !strings.Contains(agents.stdout, `"left_msat"`) {
		t.Fatalf("wallet agents: exit %d %s %s", agents.code, agents.stdout, agents.stderr)
	}
}

// An agent on another OS user reaches the daemon over TLS on loopback:
// the credential file pins the daemon's self-signed certificate, and the
// agent fetches and pays through it exactly as over the socket.
func TestWalletOverTLS(t *testing.T) {
	up := newUpstream(t, nil)
	ap := labtest.Aperture(t, up.URL, money.Sats(10))
	w := newWalletLab(t)
	ready := w.startWith(nil, "--tls-listen", "127.0.0.1:0")
	if !strings.HasPrefix(ready.TLS, "https://127.0.0.1:") {
		t.Fatalf("ready line %+v has no TLS address", ready)
	}
	cred := w.bake("remote-bot", "--budget", "100/day", "--wallet-url", ready.TLS)
	if b, _ := os.ReadFile(cred); !bytes.Contains(b, []byte("BEGIN CERTIFICATE")) || !bytes.Contains(b, []byte(ready.TLS)) {
		t.Fatalf("the credential file does not pin the daemon's certificate and address:\n%s", b)
	}
	before := agentPayments(t)
	r := w.agent(cred, "get", ap.URL()+"/tls/x")
	if r.code != exitOK || r.stdout != "resource /tls/x\n" || !strings.Contains(r.stderr, "paid 10 sat") {
		t.Fatalf("fetch over TLS: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	requireLedgerMatchesNode(t, w.history(cred), before)
	// Another certificate pinned: refused, nothing paid.
	f, err := os.ReadFile(cred)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := json.Unmarshal(f, &file); err != nil {
		t.Fatal(err)
	}
	file["wallet_cert"] = string(otherCertificate(t))
	forged, _ := json.Marshal(file)
	if r := w.agent(string(forged), "wallet", "allowance"); r.code != exitNetwork {
		t.Fatalf("a wallet whose certificate is not the pinned one: exit %d %s", r.code, r.stderr)
	}
}

// otherCertificate is a self-signed certificate of another key.
func otherCertificate(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	if _, err := gate.LoadOrCreateCertificate(filepath.Join(dir, "c"), filepath.Join(dir, "k"), []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "c"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sellerInvoiceText creates an invoice on the seller for the bare-pay
// tests.
func sellerInvoiceText(t *testing.T, sats int64) lightning.CreatedInvoice {
	t.Helper()
	inv, err := labtest.Conn(t, lab.Seller).CreateInvoice(labtest.Context(t), lightning.InvoiceRequest{Amount: money.Sats(sats), Memo: "wallet crash test", Expiry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// The daemon SIGKILLed between reserve and settle, at each point: after
// the reservation (the node never saw the invoice), after the node paid
// (the ledger not told), and while the payment is in flight (a hold
// invoice). After a restart the ledger agrees with the node, nothing is
// paid twice, and the budget counts exactly what was spent.
func TestWalletCrashBetweenReserveAndSettle(t *testing.T) {
	w := newWalletLab(t)
	cred := w.bake("crash-bot", "--budget", "1000/day")
	before := agentPayments(t)

	t.Run("after reserve", func(t *testing.T) {
		inv := sellerInvoiceText(t, 100)
		w.start(walletCrashEnv + "=reserved")
		r := w.agent(cred, "wallet", "pay", inv.PaymentRequest)
		if !w.waitDied() {
			t.Fatalf("the crash hook did not kill the daemon; pay exit %d %s", r.code, r.stderr)
		}
		requireNodeNeverPaid(t, inv.Hash)
		w.start()
		e := entryFor(t, w.history(cred), inv.Hash.String())
		if e.Status != wallet.EntryReleased {
			t.Fatalf("after restart the entry is %s, want released (the node never paid it)", e.Status)
		}
		if r := w.agent(cred, "wallet", "pay", inv.PaymentRequest); r.code != exitOK {
			t.Fatalf("paying again after the crash: exit %d %s", r.code, r.stderr)
		}
		w.kill()
	})

	t.Run("after the node paid", func(t *testing.T) {
		inv := sellerInvoiceText(t, 100)
		w.start(walletCrashEnv + "=paid")
		w.agent(cred, "wallet", "pay", inv.PaymentRequest)
		if !w.waitDied() {
			t.Fatal("the crash hook did not kill the daemon")
		}
		w.start()
		e := entryFor(t, w.history(cred), inv.Hash.String())
		if e.Status != wallet.EntrySettled {
			t.Fatalf("after restart the entry is %s, want settled from the node", e.Status)
		}
		// Paying the same invoice again returns the earlier payment.
		r := w.agent(cred, "wallet", "pay", "--json", inv.PaymentRequest)
		if r.code != exitOK || !strings.Contains(r.stdout, inv.Hash.String()) {
			t.Fatalf("paying a settled invoice again: exit %d %s %s", r.code, r.stdout, r.stderr)
		}
		w.kill()
	})

	t.Run("in flight", func(t *testing.T) {
		preimage := make([]byte, 32)
		rand.Read(preimage)
		hash := sha256.Sum256(preimage)
		payreq := holdInvoice(t, hex.EncodeToString(hash[:]), 100)
		w.start()
		done := make(chan result, 1)
		go func() { done <- w.agent(cred, "wallet", "pay", payreq) }()
		waitInFlight(t, l402.PaymentHash(hash))
		w.kill()
		<-done
		w.start()
		a := w.allowance(cred)
		e := entryFor(t, w.history(cred), hex.EncodeToString(hash[:]))
		if e.Status != wallet.EntryReserved {
			t.Fatalf("an in-flight payment after restart is %s, want reserved", e.Status)
		}
		if a.Budgets[0].Used < money.Sats(100) {
			t.Fatalf("the in-flight payment does not count against the budget: used %s", a.Budgets[0].Used)
		}
		settleHoldInvoice(t, hex.EncodeToString(preimage))
		deadline := time.Now().Add(90 * time.Second)
		for {
			e = entryFor(t, w.history(cred), hex.EncodeToString(hash[:]))
			if e.Status == wallet.EntrySettled {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the settled hold invoice is still %s in the ledger\ndaemon stderr:\n%s", e.Status, w.stderr)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

	entries := w.history(cred)
	requireLedgerMatchesNode(t, entries, before)
	var spent money.MilliSat
	for _, e := range entries {
		spent += e.Charged()
	}
	if a := w.allowance(cred); a.Budgets[0].Used != spent || spent > money.Sats(1000) {
		t.Fatalf("budget used %s, ledger charged %s", a.Budgets[0].Used, spent)
	}
}

func entryFor(t *testing.T, entries []wallet.Entry, hash string) wallet.Entry {
	t.Helper()
	for _, e := range entries {
		if e.Hash.String() == hash {
			return e
		}
	}
	t.Fatalf("no ledger entry for %s in %+v", hash, entries)
	return wallet.Entry{}
}

// holdInvoice adds a hold invoice on the seller: paying it stays in
// flight until settleHoldInvoice.
func holdInvoice(t *testing.T, hash string, sats int64) string {
	t.Helper()
	var inv struct {
		PaymentRequest string `json:"payment_request"`
	}
	out := labtest.LNCLI(t, lab.Seller, "addholdinvoice", "--amt", jsonInt(sats), hash)
	if err := json.Unmarshal(out, &inv); err != nil || inv.PaymentRequest == "" {
		t.Fatalf("addholdinvoice: %v\n%s", err, out)
	}
	return inv.PaymentRequest
}

func settleHoldInvoice(t *testing.T, preimage string) {
	t.Helper()
	labtest.LNCLI(t, lab.Seller, "settleinvoice", preimage)
}

// waitInFlight waits until the agent node reports the payment in flight.
func waitInFlight(t *testing.T, hash l402.PaymentHash) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if agentPayments(t)[hash].Status == "IN_FLIGHT" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("payment %s never went in flight", hash)
}
