//go:build lab

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"
	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lab/labtest"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/lightning/lightningtest"
	"github.com/satloop/satloop/money"
)

// One lab for the package. TestLabUpPayDown and TestLabDownAfterKilledUp
// start labs of their own in other directories; this one serves the
// `satloop get` tests.
func TestMain(m *testing.M) { labtest.Main(m) }

// Exit codes of `satloop get`, as documented in its --help and
// docs/buyer.md: the contract agents branch on, so spelled out here rather
// than imported.
const (
	exitOK            = 0
	exitRefused       = 3
	exitPaidNothing   = 6
	exitQuote         = 7
	exitServerStatus9 = 9
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// sharedBinary builds satloop once for the get tests.
func sharedBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "satloop-get-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "satloop")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// buyer is one buyer's data directory and the commands run with it.
type buyer struct {
	t       *testing.T
	bin     string
	dataDir string
	labDir  string
}

func newBuyer(t *testing.T) *buyer {
	return &buyer{t: t, bin: sharedBinary(t), dataDir: t.TempDir(), labDir: labtest.Network(t).Dir()}
}

// result is how one satloop process ended.
type result struct {
	stdout, stderr string
	code           int
	// killed is true when the process died of SIGKILL.
	killed bool
}

// command prepares `satloop <args>` with the buyer's data dir and lab.
func (b *buyer) command(env []string, args ...string) *exec.Cmd {
	full := append(slices.Clone(args), "--data-dir", b.dataDir)
	if args[0] == "get" {
		full = append(full, "--lab-dir", b.labDir)
	}
	cmd := exec.Command(b.bin, full...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

func finish(t *testing.T, cmd *exec.Cmd, stdout, stderr *bytes.Buffer, err error) result {
	t.Helper()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			r.killed = true
		}
	default:
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return r
}

// run runs satloop to the end.
func (b *buyer) run(env []string, args ...string) result {
	b.t.Helper()
	cmd := b.command(env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return finish(b.t, cmd, &stdout, &stderr, cmd.Run())
}

// get runs `satloop get` and requires exit code want.
func (b *buyer) get(want int, args ...string) result {
	b.t.Helper()
	r := b.run(nil, append([]string{"get"}, args...)...)
	if r.code != want || r.killed {
		b.t.Fatalf("satloop get %s: exit %d (killed %v), want %d\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), r.code, r.killed, want, r.stdout, r.stderr)
	}
	return r
}

// getRecord is the part of `satloop get --json` the tests read.
type getRecord struct {
	Status  int            `json:"status"`
	Body    *string        `json:"body"`
	Payment client.Receipt `json:"payment"`
	Error   *struct {
		ExitCode int    `json:"exit_code"`
		Message  string `json:"message"`
	} `json:"error"`
}

func (b *buyer) getJSON(want int, args ...string) getRecord {
	b.t.Helper()
	r := b.get(want, append([]string{"--json"}, args...)...)
	var rec getRecord
	if err := json.Unmarshal([]byte(r.stdout), &rec); err != nil {
		b.t.Fatalf("satloop get --json printed %q: %v", r.stdout, err)
	}
	return rec
}

// history is the buyer's spend log as `satloop history --json` prints it.
func (b *buyer) history() []client.Payment {
	b.t.Helper()
	r := b.run(nil, "history", "--json")
	if r.code != 0 {
		b.t.Fatalf("satloop history: exit %d: %s", r.code, r.stderr)
	}
	var ps []client.Payment
	if err := json.Unmarshal([]byte(r.stdout), &ps); err != nil {
		b.t.Fatalf("satloop history --json printed %q: %v", r.stdout, err)
	}
	return ps
}

// succeeded counts the payments of the spend log that succeeded.
func succeeded(ps []client.Payment) int {
	n := 0
	for _, p := range ps {
		if p.Status == client.PaymentSucceeded {
			n++
		}
	}
	return n
}

// agentPayments lists every payment the agent node knows, in flight and
// failed ones included: the ground truth the spend log must agree with.
func agentPayments(t *testing.T) map[l402.PaymentHash]labtest.Payment {
	t.Helper()
	return labtest.Payments(t, lab.Agent)
}

// newPayments returns the agent's payments not in before.
func newPayments(t *testing.T, before map[l402.PaymentHash]labtest.Payment) map[l402.PaymentHash]labtest.Payment {
	t.Helper()
	return labtest.NewPayments(t, lab.Agent, before)
}

// requireNodeNeverPaid checks that the agent node has no payment for hash.
func requireNodeNeverPaid(t *testing.T, hash l402.PaymentHash) {
	t.Helper()
	_, err := labtest.Conn(t, lab.Agent).TrackPayment(labtest.Context(t), hash)
	if !errors.Is(err, lightning.ErrPaymentNotFound) {
		t.Fatalf("agent node TrackPayment(%s) = %v, want ErrPaymentNotFound: the node saw a payment", hash, err)
	}
}

// upstream is the API behind Aperture; it records what reaches it.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	requests []upstreamRequest
}

type upstreamRequest struct {
	Method, Path string
	Body         []byte
	// Authorization is true when the request carried one (Aperture passes
	// it on).
	Authorization bool
}

func newUpstream(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.requests = append(u.requests, upstreamRequest{r.Method, r.URL.Path, body, r.Header.Get("Authorization") != ""})
		u.mu.Unlock()
		if handler != nil {
			handler(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "resource "+r.URL.Path+"\n")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) seen() []upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.requests)
}

// The promise through Aperture v0.4.2 and the real binary: the
// first call pays 10 sats and gets the resource, the second pays nothing,
// and a POST's body reaches the upstream intact on the paid retry. The
// spend log and the agent node's own payment list agree.
func TestGetThroughAperture(t *testing.T) {
	up := newUpstream(t, nil)
	ap := labtest.Aperture(t, up.URL, money.Sats(10))
	b := newBuyer(t)
	before := agentPayments(t)

	first := b.getJSON(exitOK, ap.URL()+"/v1/joke")
	if first.Status != 200 || first.Body == nil || *first.Body != "resource /v1/joke\n" {
		t.Fatalf("first call: status %d body %v", first.Status, first.Body)
	}
	if !first.Payment.Paid || first.Payment.Amount != money.Sats(10) || first.Payment.TokenReused {
		t.Fatalf("first call receipt = %+v, want 10 sat paid", first.Payment)
	}

	t.Logf("first call, payment receipt: %+v", first.Payment)

	second := b.getJSON(exitOK, ap.URL()+"/v1/joke")
	if second.Status != 200 || second.Payment.Paid || !second.Payment.TokenReused {
		t.Fatalf("second call: status %d receipt %+v, want the held token reused", second.Status, second.Payment)
	}

	// Plain output: the body alone on stdout, the payment note on stderr.
	body := bytes.Repeat([]byte("a POST body that must arrive whole\n"), 200)
	bodyFile := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	post := b.get(exitOK, "-X", "POST", "-H", "Content-Type: text/plain", "-d", "@"+bodyFile, ap.URL()+"/v2/echo")
	if post.stdout != "resource /v2/echo\n" {
		t.Fatalf("POST stdout = %q", post.stdout)
	}
	t.Logf("POST stderr: %s", post.stderr)
	if !strings.Contains(post.stderr, "paid 10 sat") {
		t.Fatalf("POST stderr lacks the payment note: %q", post.stderr)
	}
	var posts []upstreamRequest
	for _, r := range up.seen() {
		if r.Method == http.MethodPost {
			posts = append(posts, r)
		}
	}
	if len(posts) != 1 || !bytes.Equal(posts[0].Body, body) {
		t.Fatalf("upstream got %d POSTs; want one, with the %d-byte body intact", len(posts), len(body))
	}
	if n := len(up.seen()); n != 3 {
		t.Fatalf("upstream saw %d requests, want 3 (Aperture answers the unpaid ones)", n)
	}

	log := b.history()
	if len(log) != 2 || succeeded(log) != 2 {
		t.Fatalf("spend log = %+v, want two succeeded payments", log)
	}
	added := newPayments(t, before)
	if len(added) != 2 {
		t.Fatalf("the agent node made %d payments, want 2: %+v", len(added), added)
	}
	for _, p := range log {
		if n, ok := added[p.Hash]; p.Amount != money.Sats(10) || !ok || n.Status != "SUCCEEDED" {
			t.Fatalf("spend log entry %+v has no matching succeeded payment on the node %+v", p, added)
		}
	}

	// A quote shows the price and pays nothing, even for a new scope.
	q := b.get(exitQuote, "--quote", "--json", ap.URL()+"/v3/quote-me")
	var quote client.Quote
	if err := json.Unmarshal([]byte(q.stdout), &quote); err != nil {
		t.Fatalf("--quote --json printed %q: %v", q.stdout, err)
	}
	if quote.Price != money.Sats(10) || !quote.HasAmount || quote.ExpiresAt.IsZero() || quote.PaymentHash != quote.TokenPaymentHash {
		t.Fatalf("quote = %+v", quote)
	}
	requireNodeNeverPaid(t, quote.PaymentHash)
	if n := len(newPayments(t, before)); n != 2 {
		t.Fatalf("after --quote the node has %d new payments, want still 2", n)
	}

	// The tokens are listed without their secrets; deleting one makes the
	// next call to its scope pay again.
	list := b.run(nil, "tokens", "list", "--json")
	var toks []client.Token
	if err := json.Unmarshal([]byte(list.stdout), &toks); err != nil || list.code != 0 {
		t.Fatalf("tokens list: exit %d, %v: %s", list.code, err, list.stdout+list.stderr)
	}
	if len(toks) != 2 || strings.Contains(list.stdout, "preimage") || strings.Contains(list.stdout, "macaroon") {
		t.Fatalf("tokens list = %s", list.stdout)
	}
	i := slices.IndexFunc(toks, func(tok client.Token) bool { return tok.Scope == "/v1/" })
	if i < 0 || toks[i].Price != money.Sats(10) || toks[i].Origin != ap.URL() {
		t.Fatalf("no /v1/ token of 10 sat for %s in %+v", ap.URL(), toks)
	}
	if rm := b.run(nil, "tokens", "rm", toks[i].ID.String()); rm.code != 0 {
		t.Fatalf("tokens rm: exit %d: %s", rm.code, rm.stderr)
	}
	again := b.getJSON(exitOK, ap.URL()+"/v1/joke")
	if !again.Payment.Paid {
		t.Fatalf("after tokens rm the call did not buy a new token: %+v", again.Payment)
	}
	if log, added := b.history(), newPayments(t, before); succeeded(log) != 3 || len(added) != 3 {
		t.Fatalf("after tokens rm: %d payments in the spend log, %d on the node; want 3 and 3", succeeded(log), len(added))
	}
}

// A redirect to another host is followed with -L and never carries the
// token bought for the first host.
func TestGetRedirectKeepsTokenHome(t *testing.T) {
	other := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "elsewhere\n")
	})
	// The same loopback server under another name: another origin.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL+"/landing", http.StatusFound)
	})
	ap := labtest.Aperture(t, up.URL, money.Sats(10))
	b := newBuyer(t)

	r := b.get(exitOK, "-L", ap.URL()+"/moved/here")
	if r.stdout != "elsewhere\n" || !strings.Contains(r.stderr, "paid 10 sat") {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	seen := other.seen()
	if len(seen) != 1 || seen[0].Authorization {
		t.Fatalf("the other host saw %+v; want one request without Authorization", seen)
	}
}

// hostileSeller answers every request with one fixed L402 challenge. If a
// credential ever arrives, the buyer paid what it should have refused.
func hostileSeller(t *testing.T, mac *macaroon.Macaroon, invoice string) string {
	t.Helper()
	challenge, err := l402.FormatChallenge(mac, invoice)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("the hostile seller received a credential: the buyer paid")
			io.WriteString(w, "you paid\n")
			return
		}
		w.Header().Set("WWW-Authenticate", challenge)
		w.WriteHeader(http.StatusPaymentRequired)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// mint makes a token bound to hash, as a seller would.
func mint(t *testing.T, hash l402.PaymentHash) *macaroon.Macaroon {
	t.Helper()
	mac, _, err := l402.Minter{Keys: l402.NewMemoryRootKeys()}.Mint(context.Background(), hash,
		l402.ServicesCaveat(l402.Service{Name: "hostile"}))
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// sellerInvoice makes the lab's seller create an invoice.
func sellerInvoice(t *testing.T, amount money.MilliSat, expiry time.Duration) lightning.CreatedInvoice {
	t.Helper()
	inv, err := labtest.Conn(t, lab.Seller).CreateInvoice(labtest.Context(t),
		lightning.InvoiceRequest{Amount: amount, Memo: t.Name(), Expiry: expiry})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// sellerInvoiceWithoutAmount asks the seller's lncli for an invoice that
// lets the payer choose the amount: satloop's own adapter refuses to make
// one.
func sellerInvoiceWithoutAmount(t *testing.T) (string, l402.PaymentHash) {
	t.Helper()
	out := labtest.LNCLI(t, lab.Seller, "addinvoice", "--memo", "any amount", "--expiry", "3600")
	var added struct {
		Hash   string `json:"r_hash"`
		Payreq string `json:"payment_request"`
	}
	if err := json.Unmarshal(out, &added); err != nil {
		t.Fatalf("lncli addinvoice: %v\n%s", err, out)
	}
	hash, err := l402.ParsePaymentHash(added.Hash)
	if err != nil {
		t.Fatal(err)
	}
	return added.Payreq, hash
}

// mainnetInvoice is a well-formed, signed invoice for bitcoin mainnet,
// which a regtest node must never be asked to pay.
func mainnetInvoice(t *testing.T, hash l402.PaymentHash, amount money.MilliSat) string {
	t.Helper()
	payreq, err := lightningtest.SignInvoice(nil, &chaincfg.MainNetParams, hash, time.Now(),
		zpay32.Amount(lnwire.MilliSatoshi(amount)), zpay32.Description("mainnet"))
	if err != nil {
		t.Fatal(err)
	}
	return payreq
}

func randomHash(t *testing.T) l402.PaymentHash {
	var h l402.PaymentHash
	if _, err := rand.Read(h[:]); err != nil {
		t.Fatal(err)
	}
	return h
}

// Every challenge that must not be paid is refused with exit code 3, and
// neither the spend log nor the agent node shows a payment.
func TestGetHostileChallenges(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the challenge's invoice, the token's hash, and
		// the hash the node would pay.
		setup func(t *testing.T) (invoice string, tokenHash, invoiceHash l402.PaymentHash)
		args  []string
	}{
		{
			name: "amount over the cap",
			setup: func(t *testing.T) (string, l402.PaymentHash, l402.PaymentHash) {
				inv := sellerInvoice(t, money.Sats(2_000), time.Hour)
				return inv.PaymentRequest, inv.Hash, inv.Hash
			},
			args: []string{"--max-sats", "1000"},
		},
		{
			name: "invoice without an amount",
			setup: func(t *testing.T) (string, l402.PaymentHash, l402.PaymentHash) {
				payreq, hash := sellerInvoiceWithoutAmount(t)
				return payreq, hash, hash
			},
		},
		{
			name: "expired invoice",
			setup: func(t *testing.T) (string, l402.PaymentHash, l402.PaymentHash) {
				inv := sellerInvoice(t, money.Sats(10), time.Second)
				time.Sleep(2500 * time.Millisecond)
				return inv.PaymentRequest, inv.Hash, inv.Hash
			},
		},
		{
			name: "invoice for another network",
			setup: func(t *testing.T) (string, l402.PaymentHash, l402.PaymentHash) {
				hash := randomHash(t)
				return mainnetInvoice(t, hash, money.Sats(10)), hash, hash
			},
		},
		{
			name: "invoice hash differs from the token's",
			setup: func(t *testing.T) (string, l402.PaymentHash, l402.PaymentHash) {
				inv := sellerInvoice(t, money.Sats(10), time.Hour)
				return inv.PaymentRequest, randomHash(t), inv.Hash
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			invoice, tokenHash, invoiceHash := tt.setup(t)
			url := hostileSeller(t, mint(t, tokenHash), invoice)
			b := newBuyer(t)
			before := agentPayments(t)

			rec := b.getJSON(exitRefused, append(slices.Clone(tt.args), url+"/api/thing")...)
			if rec.Payment.Paid || rec.Error == nil || rec.Error.ExitCode != exitRefused {
				t.Fatalf("record = %+v, want a refusal with nothing paid", rec)
			}
			t.Logf("refused: %s", rec.Error.Message)
			if log := b.history(); len(log) != 0 {
				t.Fatalf("spend log = %+v, want empty: nothing may even be pending", log)
			}
			requireNodeNeverPaid(t, invoiceHash)
			if added := newPayments(t, before); len(added) != 0 {
				t.Fatalf("the agent node made payments %+v", added)
			}
		})
	}
}

// A payment that went through and a process that died before storing the
// token: the next run gets the token back from the node by payment hash
// and pays nothing more.
func TestGetCrashAfterPaymentRecovers(t *testing.T) {
	up := newUpstream(t, nil)
	ap := labtest.Aperture(t, up.URL, money.Sats(10))
	b := newBuyer(t)
	before := agentPayments(t)
	url := ap.URL() + "/crash/resource"

	crashed := b.run([]string{"SATLOOP_TEST_CRASH_AFTER_PAY=1"}, "get", url)
	if !crashed.killed {
		t.Fatalf("the crash hook did not kill satloop get: exit %d\nstderr:\n%s", crashed.code, crashed.stderr)
	}
	log := b.history()
	if len(log) != 1 || log[0].Status != client.PaymentPending {
		t.Fatalf("spend log after the crash = %+v, want one pending payment", log)
	}
	paid, err := labtest.Conn(t, lab.Agent).TrackPayment(labtest.Context(t), log[0].Hash)
	if err != nil || paid.Status != lightning.PaymentSucceeded {
		t.Fatalf("the node's payment %s: %+v, %v; the crash came before paying", log[0].Hash, paid, err)
	}

	r := b.get(exitOK, url)
	if r.stdout != "resource /crash/resource\n" {
		t.Fatalf("after recovery stdout = %q, stderr %q", r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "paid 10 sat") || !strings.Contains(r.stderr, "recovered the token") {
		t.Fatalf("the run after the crash: stderr %q; want the token recovered, nothing paid", r.stderr)
	}
	log = b.history()
	if len(log) != 1 || log[0].Status != client.PaymentSucceeded {
		t.Fatalf("spend log after recovery = %+v, want the one payment succeeded", log)
	}
	if added := newPayments(t, before); len(added) != 1 {
		t.Fatalf("the agent node made %d payments, want exactly 1: %+v", len(added), added)
	}
}

// Four satloop processes sharing a data directory fetch the same paid URL
// at once: one pays, the others use its token.
func TestGetFourProcessesPayOnce(t *testing.T) {
	up := newUpstream(t, nil)
	ap := labtest.Aperture(t, up.URL, money.Sats(10))
	b := newBuyer(t)
	before := agentPayments(t)
	url := ap.URL() + "/together/resource"

	const n = 4
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	errs := make([]*bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = b.command(nil, "get", url)
		outs[i], errs[i] = new(bytes.Buffer), new(bytes.Buffer)
		cmds[i].Stdout, cmds[i].Stderr = outs[i], errs[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	payers := 0
	for i, c := range cmds {
		r := finish(t, c, outs[i], errs[i], c.Wait())
		if r.code != exitOK || r.stdout != "resource /together/resource\n" {
			t.Fatalf("process %d: exit %d stdout %q stderr %q", i, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stderr, "paid 10 sat") {
			payers++
		}
	}
	if payers != 1 {
		t.Fatalf("%d processes say they paid, want 1", payers)
	}
	if log := b.history(); len(log) != 1 || succeeded(log) != 1 {
		t.Fatalf("spend log = %+v, want one payment", log)
	}
	if added := newPayments(t, before); len(added) != 1 {
		t.Fatalf("the agent node made %d payments, want exactly 1: %+v", len(added), added)
	}
}

// A server that keeps asking after being paid is reported (exit 6), and
// never paid a second time.
func TestGetPaidButRefused(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream broke", http.StatusInternalServerError)
	})
	ap := labtest.Aperture(t, up.URL, money.Sats(10))
	b := newBuyer(t)
	before := agentPayments(t)

	rec := b.getJSON(exitPaidNothing, ap.URL()+"/broken/thing")
	if rec.Status != http.StatusInternalServerError || !rec.Payment.Paid {
		t.Fatalf("record = %+v, want a paid 500", rec)
	}
	// The token is still good: the next call pays nothing, and an error
	// status without a payment is code 9.
	again := b.getJSON(exitServerStatus9, ap.URL()+"/broken/thing")
	if again.Payment.Paid || !again.Payment.TokenReused {
		t.Fatalf("second call receipt = %+v", again.Payment)
	}
	if added := newPayments(t, before); len(added) != 1 {
		t.Fatalf("the agent node made %d payments, want 1", len(added))
	}
}

// A seller that takes the money and keeps answering 402: satloop pays once
// (a real payment, on the node), reports it with exit 6 and the payment
// hash, and does not pay in a loop.
func TestGetStill402AfterPaying(t *testing.T) {
	seller := labtest.Conn(t, lab.Seller)
	var challenges atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inv, err := seller.CreateInvoice(r.Context(), lightning.InvoiceRequest{Amount: money.Sats(10), Memo: "greedy", Expiry: time.Hour})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		challenges.Add(1)
		challenge, err := l402.FormatChallenge(mint(t, inv.Hash), inv.PaymentRequest)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("WWW-Authenticate", challenge)
		w.WriteHeader(http.StatusPaymentRequired)
	}))
	t.Cleanup(srv.Close)
	b := newBuyer(t)
	before := agentPayments(t)

	rec := b.getJSON(exitPaidNothing, srv.URL+"/greedy/thing")
	if !rec.Payment.Paid || rec.Payment.Amount != money.Sats(10) || rec.Error == nil {
		t.Fatalf("record = %+v, want a paid request reported as such", rec)
	}
	t.Logf("reported: %s", rec.Error.Message)
	if !strings.Contains(rec.Error.Message, rec.Payment.PaymentHash.String()) {
		t.Fatalf("the report %q does not name the payment hash", rec.Error.Message)
	}
	if n := challenges.Load(); n != 2 {
		t.Fatalf("the seller issued %d challenges, want 2 (the first request and the paid retry)", n)
	}
	added := newPayments(t, before)
	if _, ok := added[rec.Payment.PaymentHash]; len(added) != 1 || !ok {
		t.Fatalf("the agent node made payments %+v, want exactly the one reported", added)
	}
	if log := b.history(); len(log) != 1 || succeeded(log) != 1 {
		t.Fatalf("spend log = %+v, want the one payment", log)
	}

	// An agent that simply runs the command again must not pay this seller
	// again: the refused token blocks its scope until the user removes it.
	for run := 2; run <= 3; run++ {
		again := b.getJSON(exitPaidNothing, srv.URL+"/greedy/thing")
		if again.Payment.Paid {
			t.Fatalf("run %d paid again: %+v", run, again.Payment)
		}
	}
	if added := newPayments(t, before); len(added) != 1 {
		t.Fatalf("after three runs the agent node made %d payments, want 1", len(added))
	}
	if log := b.history(); len(log) != 1 {
		t.Fatalf("after three runs the spend log has %d payments, want 1", len(log))
	}
}
