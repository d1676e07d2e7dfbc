package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

// parseGet parses a `satloop get` command line without running it.
func parseGet(t *testing.T, stdin string, args ...string) (*getOptions, string, ExitCode) {
	t.Helper()
	var got *getOptions
	var out, errOut bytes.Buffer
	io := &IO{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut}
	root := newCmdRoot(io)
	for i, c := range root.Commands() {
		if c.Name() == "get" {
			root.RemoveCommand(root.Commands()[i])
			break
		}
	}
	root.AddCommand(newCmdGet(io, func(_ context.Context, o *getOptions) error { got = o; return nil }))
	root.SetArgs(append([]string{"get"}, args...))
	err := root.Execute()
	return got, errOut.String() + errString(err), exitCodeFor(err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestGetFlags(t *testing.T) {
	dataFile := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(dataFile, []byte(`{"q":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SATLOOP_DATA_DIR", "/tmp/satloop-data-from-env")

	tests := []struct {
		name  string
		stdin string
		args  []string
		check func(t *testing.T, o *getOptions)
	}{
		{"defaults", "", []string{"http://x.test/a"}, func(t *testing.T, o *getOptions) {
			if o.Method != "GET" || o.Data != nil || o.MaxPrice != money.Sats(defaultMaxSats) ||
				o.MaxFee != money.Sats(defaultMaxFeeSats) || o.Timeout != defaultGetTimeout || o.Quote || o.Follow {
				t.Errorf("options = %+v", o)
			}
			if o.DataDir != "/tmp/satloop-data-from-env" {
				t.Errorf("data dir = %q, want $SATLOOP_DATA_DIR", o.DataDir)
			}
		}},
		{"data makes a form POST", "", []string{"-d", "a=1", "http://x.test/a"}, func(t *testing.T, o *getOptions) {
			if o.Method != "POST" || string(o.Data) != "a=1" || o.Headers.Get("Content-Type") != "application/x-www-form-urlencoded" {
				t.Errorf("method %s data %q headers %v", o.Method, o.Data, o.Headers)
			}
		}},
		{"data from a file keeps its content type", "", []string{"-H", "Content-Type: application/json", "--data", "@" + dataFile, "http://x.test/a"}, func(t *testing.T, o *getOptions) {
			if string(o.Data) != `{"q":"x"}` || o.Headers.Get("Content-Type") != "application/json" {
				t.Errorf("data %q headers %v", o.Data, o.Headers)
			}
		}},
		{"data from stdin", "from stdin", []string{"-X", "put", "-d", "@-", "http://x.test/a"}, func(t *testing.T, o *getOptions) {
			if o.Method != "PUT" || string(o.Data) != "from stdin" {
				t.Errorf("method %s data %q", o.Method, o.Data)
			}
		}},
		{"headers repeat; Host is the host", "", []string{"-H", "X-A: 1", "-H", "X-A:2", "-H", "Host: api.test", "http://x.test/a"}, func(t *testing.T, o *getOptions) {
			if got := o.Headers.Values("X-A"); len(got) != 2 || got[0] != "1" || got[1] != "2" || o.Host != "api.test" {
				t.Errorf("headers %v host %q", o.Headers, o.Host)
			}
		}},
		{"caps and switches", "", []string{"--max-sats", "50", "--max-fee-sats", "2", "--timeout", "5s", "--quote", "-L", "-i", "-o", "out", "--data-dir", "/d", "https://x.test/a"}, func(t *testing.T, o *getOptions) {
			if o.MaxPrice != money.Sats(50) || o.MaxFee != money.Sats(2) || o.Timeout != 5*time.Second || !o.Quote || !o.Follow || !o.Include || o.Output != "out" || o.DataDir != "/d" {
				t.Errorf("options = %+v", o)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, msg, code := parseGet(t, tt.stdin, tt.args...)
			if code != ExitOK || o == nil {
				t.Fatalf("exit %d: %s", code, msg)
			}
			tt.check(t, o)
		})
	}
}

func TestGetUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"no URL", nil, "takes one argument, the URL"},
		{"two URLs", []string{"http://a.test", "http://b.test"}, "takes one argument"},
		{"not http", []string{"ftp://a.test/x"}, "not an http:// or https:// URL"},
		{"no host", []string{"http:///x"}, "not an http:// or https:// URL"},
		{"bad header", []string{"-H", "no colon", "http://a.test"}, `header "no colon" is not "Name: value"`},
		{"header with newline", []string{"-H", "X: a\r\nEvil: 1", "http://a.test"}, "is not \"Name: value\""},
		{"two bodies", []string{"-d", "a", "-d", "b", "http://a.test"}, "give --data once"},
		{"missing data file", []string{"-d", "@/nonexistent/file", "http://a.test"}, "--data @/nonexistent/file"},
		{"zero cap", []string{"--max-sats", "0", "http://a.test"}, "--max-sats must be at least 1"},
		{"zero fee cap", []string{"--max-fee-sats", "0", "http://a.test"}, "--max-fee-sats must be at least 1"},
		{"negative cap", []string{"--max-sats", "-5", "http://a.test"}, "invalid argument"},
		{"fractional cap", []string{"--max-sats", "1.5", "http://a.test"}, "invalid argument"},
		{"huge cap", []string{"--max-sats", "2100000000000001", "http://a.test"}, "21 million bitcoin"},
		{"zero timeout", []string{"--timeout", "0s", "http://a.test"}, "--timeout must be positive"},
		{"json and include", []string{"--json", "-i", "http://a.test"}, "drop --include"},
		{"method with space", []string{"-X", "GET /", "http://a.test"}, "not an HTTP method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, msg, code := parseGet(t, "", tt.args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d (usage); message %q", code, ExitUsage, msg)
			}
			if !strings.Contains(msg, tt.wantMsg) {
				t.Fatalf("message %q does not say %q", msg, tt.wantMsg)
			}
		})
	}
}

func TestExitCodeForGet(t *testing.T) {
	quote := client.Quote{URL: "http://a.test/x", Price: money.Sats(10), HasAmount: true}
	refused := func(reason error) error { return &client.RefusedError{Reason: reason, Quote: quote} }
	unreachable := &lightning.UnreachableError{Addr: "127.0.0.1:1", Err: errors.New("connection refused")}
	tests := []struct {
		name string
		err  error
		want ExitCode
	}{
		{"price above the cap", refused(client.ErrPriceTooHigh), ExitRefused},
		{"no amount", refused(client.ErrNoAmount), ExitRefused},
		{"expired", refused(client.ErrInvoiceExpired), ExitRefused},
		{"wrong network", refused(client.ErrWrongNetwork), ExitRefused},
		{"hash mismatch", refused(client.ErrHashMismatch), ExitRefused},
		{"body not replayable", refused(client.ErrBodyNotReplayable), ExitRefused},
		{"not approved", refused(client.ErrNotApproved), ExitRefused},
		{"malformed challenge", fmt.Errorf("%w: bad base64", client.ErrChallenge), ExitRefused},
		{"quote", refused(client.ErrQuoteOnly), ExitQuote},
		{"wrapped quote", &url.Error{Op: "Get", URL: "http://a.test", Err: refused(client.ErrQuoteOnly)}, ExitQuote},
		{"payment failed", &client.PaymentError{Kind: client.ErrPaymentFailed, Err: lightning.ErrNoRoute}, ExitPaymentFailed},
		{"payment in flight", &client.PaymentError{Kind: client.ErrPaymentInFlight, Err: lightning.ErrPaymentInFlight}, ExitInFlight},
		// In flight outranks the unreachable node that left it so.
		{"in flight, node gone", &client.PaymentError{Kind: client.ErrPaymentInFlight, Err: unreachable}, ExitInFlight},
		{"paid but refused", &client.PaidButRefusedError{StatusCode: 402}, ExitPaidNothing},
		{"seller refused a paid token", &client.SellerRefusedError{StatusCode: 402}, ExitPaidNothing},
		{"seller refused a paid token, as get reports it", &refusedTokenError{err: &client.SellerRefusedError{}}, ExitPaidNothing},
		{"paid then 500", &httpStatusError{Status: 500, Paid: true}, ExitPaidNothing},
		{"paid then 404", &httpStatusError{Status: 404, Paid: true}, ExitPaidNothing},
		// Paid, then the connection dropped: not a plain network error.
		{"paid then no response", &paidNoResponseError{err: &networkError{err: io.ErrUnexpectedEOF}}, ExitPaidNothing},
		{"unpaid 500", &httpStatusError{Status: 500}, ExitHTTPError},
		{"unpaid 404", &httpStatusError{Status: 404}, ExitHTTPError},
		{"server unreachable", &networkError{err: errors.New("dial tcp: connection refused")}, ExitNetwork},
		{"timeout", fmt.Errorf("cli: %w", context.DeadlineExceeded), ExitNetwork},
		{"node not dialed", &nodeError{err: errors.New("no lab running")}, ExitNetwork},
		// An unreachable node makes the invoice undecodable: the cause
		// wins over the refusal it caused.
		{"refused because the node is down", &client.RefusedError{Reason: client.ErrBadInvoice, Err: &nodeError{err: unreachable}}, ExitNetwork},
		{"node unreachable", unreachable, ExitNetwork},
		{"other", errors.New("disk full"), ExitError},
		{"usage still wins", &usageError{err: errors.New("bad flag")}, ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCodeFor(tt.err); got != tt.want {
				t.Errorf("exitCodeFor(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

// The documented codes are the constants: --help lists each one.
func TestGetHelpListsEveryExitCode(t *testing.T) {
	stdout, _, code := run(t, false, "get", "--help")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for c := ExitOK; c <= ExitHTTPError; c++ {
		if !strings.Contains(stdout, fmt.Sprintf("\n  %d  ", c)) {
			t.Errorf("--help does not document exit code %d", c)
		}
	}
}

// seller is a fake L402 seller over a fake payer: each challenge is real
// (a minted macaroon for a fresh payment hash), its invoice a name the fake
// payer decodes.
type seller struct {
	t     *testing.T
	srv   *httptest.Server
	price money.MilliSat
	// refuseAfterPaying makes the seller answer 402 even to a valid
	// credential; dropAfterPaying makes it close the connection instead
	// of answering one.
	refuseAfterPaying bool
	dropAfterPaying   bool

	mu        sync.Mutex
	preimages map[l402.PaymentHash]l402.Preimage
	paidHits  int
	bodies    []string
}

const fakeInvoicePrefix = "fake-invoice-"

func newSeller(t *testing.T, price money.MilliSat) *seller {
	t.Helper()
	s := &seller{t: t, price: price, preimages: make(map[l402.PaymentHash]l402.Preimage)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// challenge mints a token for a fresh payment hash.
func (s *seller) challenge() (string, error) {
	var pre l402.Preimage
	if _, err := rand.Read(pre[:]); err != nil {
		return "", err
	}
	mac, _, err := l402.Minter{Keys: l402.NewMemoryRootKeys()}.Mint(context.Background(), pre.Hash(),
		l402.ServicesCaveat(l402.Service{Name: "test"}))
	if err != nil {
		return "", err
	}
	s.preimages[pre.Hash()] = pre
	return l402.FormatChallenge(mac, fakeInvoicePrefix+pre.Hash().String())
}

func (s *seller) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	cred, err := l402.ParseCredential(r.Header)
	if _, known := s.preimages[cred.Preimage.Hash()]; err == nil && known && s.dropAfterPaying {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if _, known := s.preimages[cred.Preimage.Hash()]; err == nil && known && !s.refuseAfterPaying {
		s.paidHits++
		s.bodies = append(s.bodies, string(body))
		w.Header().Set("X-Paid", "yes")
		fmt.Fprintf(w, "paid content for %s\n", r.URL.Path)
		return
	}
	challenge, err := s.challenge()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.WriteHeader(http.StatusPaymentRequired)
}

// preimage returns the secret of an invoice the seller issued.
func (s *seller) preimage(hash l402.PaymentHash) (l402.Preimage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.preimages[hash]
	return p, ok
}

// fakePayer decodes the seller's invoices to its terms and pays them.
type fakePayer struct {
	s *seller
	// payErr, when set, is what Pay returns.
	payErr error

	mu   sync.Mutex
	paid []l402.Preimage
}

func (p *fakePayer) DecodeInvoice(payreq string) (lightning.Invoice, error) {
	hash, err := l402.ParsePaymentHash(strings.TrimPrefix(payreq, fakeInvoicePrefix))
	if err != nil {
		return lightning.Invoice{}, lightning.ErrMalformedInvoice
	}
	return lightning.Invoice{
		PaymentRequest: payreq, Network: lightning.Regtest, Hash: hash,
		Amount: p.s.price, HasAmount: true, Description: "a test resource",
		CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
	}, nil
}

func (p *fakePayer) Pay(_ context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	inv, err := p.DecodeInvoice(req.Invoice)
	if err != nil {
		return lightning.Payment{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pre, ok := p.s.preimage(inv.Hash)
	if !ok {
		return lightning.Payment{}, lightning.ErrMalformedInvoice
	}
	p.paid = append(p.paid, pre)
	if p.payErr != nil {
		return lightning.Payment{}, p.payErr
	}
	return lightning.Payment{Hash: inv.Hash, Status: lightning.PaymentSucceeded,
		Preimage: pre, Amount: p.s.price, Fee: money.Sats(1), Hops: 2}, nil
}

func (p *fakePayer) TrackPayment(context.Context, l402.PaymentHash) (lightning.Payment, error) {
	return lightning.Payment{}, lightning.ErrPaymentNotFound
}

// pays counts the payments attempted.
func (p *fakePayer) pays() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.paid)
}

// last is the preimage of the last payment.
func (p *fakePayer) last() l402.Preimage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paid[len(p.paid)-1]
}

// runGetWith runs `satloop get` through Main's parsing with payer in
// place of a node (nil: a node that cannot be dialed).
func runGetWith(t *testing.T, payer client.Payer, dataDir string, stdin string, args ...string) (stdout, stderr string, code ExitCode) {
	t.Helper()
	var out, errOut bytes.Buffer
	io := &IO{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut}
	root := newCmdRoot(io)
	for _, c := range root.Commands() {
		if c.Name() == "get" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newCmdGet(io, func(ctx context.Context, o *getOptions) error {
		o.dialPayer = func(context.Context) (client.Payer, error) {
			if payer == nil {
				return nil, &lightning.UnreachableError{Addr: "127.0.0.1:1", Err: errors.New("connection refused")}
			}
			return payer, nil
		}
		return runGet(ctx, o)
	}))
	root.SetArgs(append([]string{"get", "--data-dir", dataDir}, args...))
	err := root.Execute()
	if err != nil {
		fmt.Fprintf(&errOut, "satloop: %s\n", err)
	}
	return out.String(), errOut.String(), exitCodeFor(err)
}

func TestGetPaysOnceThenReuses(t *testing.T) {
	s := newSeller(t, money.Sats(10))
	payer := &fakePayer{s: s}
	dir := t.TempDir()

	stdout, stderr, code := runGetWith(t, payer, dir, "", s.srv.URL+"/v1/thing")
	if code != ExitOK || stdout != "paid content for /v1/thing\n" {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	want := fmt.Sprintf("paid 10 sat (fee 1 sat) to %s, hash %s\n", s.srv.Listener.Addr(), payer.last().Hash())
	if stderr != want {
		t.Fatalf("stderr = %q, want %q", stderr, want)
	}

	stdout, stderr, code = runGetWith(t, payer, dir, "", "--json", s.srv.URL+"/v1/other")
	if code != ExitOK {
		t.Fatalf("second call: exit %d: %s", code, stderr)
	}
	var rec getRecord
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatalf("--json printed %q: %v", stdout, err)
	}
	if rec.Status != 200 || rec.Body == nil || *rec.Body != "paid content for /v1/other\n" || rec.Headers.Get("X-Paid") != "yes" ||
		rec.Payment.Paid || !rec.Payment.TokenReused || rec.Error != nil {
		t.Fatalf("second call record = %+v", rec)
	}
	if !strings.Contains(stderr, "used the token held") {
		t.Fatalf("second call stderr = %q", stderr)
	}
	if n := payer.pays(); n != 1 {
		t.Fatalf("paid %d times, want 1", n)
	}
	if strings.Contains(stdout+stderr, payer.last().Hex()) {
		t.Fatal("the preimage reached the output")
	}
}

// The body is sent again, whole, on the paid retry; -i prints the status
// line and headers first; -o writes to a file.
func TestGetPostIncludeOutput(t *testing.T) {
	s := newSeller(t, money.Sats(10))
	payer := &fakePayer{s: s}
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "out.txt")

	_, stderr, code := runGetWith(t, payer, dir, "stdin body", "-i", "-o", out, "-d", "@-", s.srv.URL+"/post")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 200 OK\r\n") || !strings.Contains(string(got), "X-Paid: yes\r\n") ||
		!strings.HasSuffix(string(got), "\r\n\r\npaid content for /post\n") {
		t.Fatalf("-i -o wrote %q", got)
	}
	if len(s.bodies) != 1 || s.bodies[0] != "stdin body" {
		t.Fatalf("the paid request carried %q", s.bodies)
	}
}

func TestGetRefusalsAndFailures(t *testing.T) {
	tests := []struct {
		name     string
		price    money.MilliSat
		args     []string
		payer    func(s *seller) client.Payer
		refuse   bool
		drop     bool
		wantCode ExitCode
		wantPays int
		wantOut  string
	}{
		{name: "above the cap", price: money.Sats(2000), wantCode: ExitRefused},
		{name: "above a lowered cap", price: money.Sats(10), args: []string{"--max-sats", "9"}, wantCode: ExitRefused},
		{name: "quote never pays", price: money.Sats(10), args: []string{"--quote"}, wantCode: ExitQuote, wantOut: `"price_msat": 10000`},
		{name: "quote above the cap shows it", price: money.Sats(5000), args: []string{"--quote", "--json=false"}, wantCode: ExitQuote, wantOut: "above the cap of 1000 sat"},
		{name: "node unreachable", price: money.Sats(10), payer: func(*seller) client.Payer { return nil }, wantCode: ExitNetwork},
		{
			name: "payment failed", price: money.Sats(10), wantCode: ExitPaymentFailed, wantPays: 1,
			payer: func(s *seller) client.Payer {
				return &fakePayer{s: s, payErr: &lightning.PaymentError{Payment: lightning.Payment{Status: lightning.PaymentFailed, Failure: lightning.FailureNoRoute}}}
			},
		},
		{name: "paid but refused", price: money.Sats(10), refuse: true, wantCode: ExitPaidNothing, wantPays: 1},
		{name: "paid, then the connection dropped", price: money.Sats(10), drop: true, wantCode: ExitPaidNothing, wantPays: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSeller(t, tt.price)
			s.refuseAfterPaying, s.dropAfterPaying = tt.refuse, tt.drop
			var payer client.Payer = &fakePayer{s: s}
			if tt.payer != nil {
				payer = tt.payer(s)
			}
			stdout, stderr, code := runGetWith(t, payer, t.TempDir(), "", append(tt.args, s.srv.URL+"/x")...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout %q\nstderr %q", code, tt.wantCode, stdout, stderr)
			}
			if fp, ok := payer.(*fakePayer); ok && fp.pays() != tt.wantPays {
				t.Fatalf("paid %d times, want %d", fp.pays(), tt.wantPays)
			}
			if !strings.Contains(stdout, tt.wantOut) {
				t.Fatalf("stdout %q lacks %q", stdout, tt.wantOut)
			}
			if s.paidHits != 0 {
				t.Fatalf("the seller served %d paid requests", s.paidHits)
			}
		})
	}
}

// Free URLs need no node at all; error statuses still deliver the body
// and exit 9; redirects are followed with -L only.
func TestGetWithoutPayment(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/free":
			io.WriteString(w, "free\n")
		case "/missing":
			http.Error(w, "no such thing", http.StatusNotFound)
		case "/moved":
			http.Redirect(w, r, "/free", http.StatusFound)
		case "/binary":
			w.Write([]byte{0xff, 0x00, 0xfe})
		}
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		wantCode ExitCode
		wantOut  string
		wantErr  string
	}{
		{"free", []string{"/free"}, ExitOK, "free\n", ""},
		{"not found", []string{"/missing"}, ExitHTTPError, "no such thing\n", ""},
		{"redirect not followed", []string{"/moved"}, ExitOK, `<a href="/free">Found</a>.` + "\n\n", ""},
		{"redirect followed", []string{"-L", "/moved"}, ExitOK, "free\n", "following redirect to " + srv.URL + "/free\n"},
		{"binary in JSON", []string{"--json", "/binary"}, ExitOK, `"body_base64": "/wD+"`, ""},
		{"error in JSON", []string{"--json", "/missing"}, ExitHTTPError, `"exit_code": 9`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args[:len(tt.args)-1:len(tt.args)-1], srv.URL+tt.args[len(tt.args)-1])
			stdout, stderr, code := runGetWith(t, nil, dir, "", args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stdout, tt.wantOut) {
				t.Fatalf("stdout %q lacks %q", stdout, tt.wantOut)
			}
			if tt.wantCode == ExitOK && stderr != tt.wantErr {
				t.Fatalf("stderr %q, want %q", stderr, tt.wantErr)
			}
		})
	}
}

// A server that never answers times out (exit 5), and so does one whose
// headers are oversized; neither is paid.
func TestGetHostileServers(t *testing.T) {
	stall, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stall.Close() })
	go func() {
		for {
			c, err := stall.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Huge", strings.Repeat("a", 2*maxResponseHeaderBytes))
		w.WriteHeader(http.StatusPaymentRequired)
	}))
	t.Cleanup(huge.Close)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/x"
	closed.Close()

	tests := []struct {
		name string
		args []string
		max  time.Duration
	}{
		{"stalled server", []string{"--timeout", "300ms", "http://" + stall.Addr().String() + "/x"}, 5 * time.Second},
		{"oversized headers", []string{huge.URL + "/x"}, 5 * time.Second},
		{"nobody listening", []string{closedURL}, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			stdout, stderr, code := runGetWith(t, nil, t.TempDir(), "", tt.args...)
			if code != ExitNetwork {
				t.Fatalf("exit %d, want %d; stderr %q", code, ExitNetwork, stderr)
			}
			if took := time.Since(start); took > tt.max {
				t.Fatalf("took %s", took)
			}
			if stdout != "" {
				t.Fatalf("stdout = %q", stdout)
			}
		})
	}
}

// The query string may hold a secret: no message carries it.
func TestGetErrorsHideTheQuery(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close()
	stdout, stderr, code := runGetWith(t, nil, t.TempDir(), "", "--json", "http://"+addr+"/x?api_key=SECRET")
	if code != ExitNetwork || strings.Contains(stdout+stderr, "SECRET") {
		t.Fatalf("exit %d; output mentions the query:\n%s\n%s", code, stdout, stderr)
	}
}

// A seller that takes the money and refuses is paid by the first run only:
// the next runs pay nothing, exit 6 and name the token to delete; tokens
// list shows it refused; once deleted, the next run buys again.
func TestGetSellerRefusingAfterPaymentIsPaidOnce(t *testing.T) {
	s := newSeller(t, money.Sats(10))
	s.refuseAfterPaying = true
	payer := &fakePayer{s: s}
	dir := t.TempDir()
	url := s.srv.URL + "/v1/thing"
	for run := 1; run <= 4; run++ {
		_, stderr, code := runGetWith(t, payer, dir, "", url)
		if code != ExitPaidNothing || payer.pays() != 1 {
			t.Fatalf("run %d: exit %d, %d payments; want exit %d and 1 payment\n%s", run, code, payer.pays(), ExitPaidNothing, stderr)
		}
		if !strings.Contains(stderr, "'satloop tokens rm ") {
			t.Errorf("run %d does not say how to buy again: %s", run, stderr)
		}
	}
	stdout, _, code := run(t, false, "tokens", "list", "--data-dir", dir)
	var list []struct {
		ID        string    `json:"token_id"`
		Refused   bool      `json:"refused"`
		RefusedAt time.Time `json:"refused_at"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || code != ExitOK || len(list) != 1 || !list[0].Refused || list[0].RefusedAt.IsZero() {
		t.Fatalf("tokens list: exit %d, %v: %s", code, err, stdout)
	}
	id := list[0].ID
	_, stderr, _ := runGetWith(t, payer, dir, "", url)
	if !strings.Contains(stderr, "'satloop tokens rm "+id+"'") {
		t.Errorf("the message does not name the token %s: %s", id, stderr)
	}
	table, _, _ := run(t, true, "tokens", "show", id, "--data-dir", dir)
	if !strings.Contains(table, "REFUSED") || !strings.Contains(table, "satloop tokens rm "+id) {
		t.Errorf("tokens show does not show the refusal:\n%s", table)
	}

	if _, stderr, code := run(t, false, "tokens", "rm", id, "--data-dir", dir); code != ExitOK {
		t.Fatalf("tokens rm: exit %d: %s", code, stderr)
	}
	s.mu.Lock()
	s.refuseAfterPaying = false
	s.mu.Unlock()
	if _, stderr, code := runGetWith(t, payer, dir, "", url); code != ExitOK || payer.pays() != 2 {
		t.Fatalf("after tokens rm: exit %d, %d payments; want 0 and 2\n%s", code, payer.pays(), stderr)
	}
	if _, _, code := runGetWith(t, payer, dir, "", url); code != ExitOK || payer.pays() != 2 {
		t.Fatalf("the new token is not reused: exit %d, %d payments", code, payer.pays())
	}
}

// TestGetCACert: a gateway's self-signed certificate is trusted only when
// given with --cacert; without it the TLS failure is a network error.
func TestGetCACert(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "over tls")
	}))
	t.Cleanup(srv.Close)
	certFile := filepath.Join(t.TempDir(), "gate-tls.cert")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(certFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode ExitCode
		wantOut  string
	}{
		{"trusted with --cacert", []string{"--cacert", certFile, srv.URL}, ExitOK, "over tls"},
		{"untrusted without it", []string{srv.URL}, ExitNetwork, ""},
		{"missing file", []string{"--cacert", filepath.Join(t.TempDir(), "none.pem"), srv.URL}, ExitUsage, ""},
		{"not PEM", []string{"--cacert", notPEM, srv.URL}, ExitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runGetWith(t, nil, t.TempDir(), "", tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.wantCode, stderr)
			}
			if stdout != tt.wantOut {
				t.Errorf("stdout %q, want %q", stdout, tt.wantOut)
			}
		})
	}
}
