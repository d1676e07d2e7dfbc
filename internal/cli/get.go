package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/store/sqlite"
)

// Defaults of `satloop get`. The price cap is low on purpose: an agent
// tricked into fetching an expensive URL loses at most this much per call
// unless its operator raised the cap.
const (
	defaultMaxSats    = 1000
	defaultMaxFeeSats = 10
	defaultGetTimeout = 60 * time.Second
	maxRedirects      = 10
	// maxResponseHeaderBytes bounds what a server can make satloop hold
	// before the body: far above any real response (an L402 challenge is
	// about 1 KiB), far below what would hurt.
	maxResponseHeaderBytes = 64 << 10
	// maxJSONBody caps the body embedded in a --json record; a larger one
	// needs -o.
	maxJSONBody = 16 << 20
)

// crashAfterPayEnv is a test-only switch: when it is "1", `satloop get`
// kills itself with SIGKILL right after the node reports a payment
// settled and before the token is stored, the window a crash-recovery test
// must hit. It is read only there.
const crashAfterPayEnv = "SATLOOP_TEST_CRASH_AFTER_PAY"

// getOptions is `satloop get` once its flags are parsed.
type getOptions struct {
	IO *IO

	URL     *url.URL
	Method  string
	Headers http.Header
	// Host overrides the Host header (-H "Host: ...").
	Host string
	// Data is the request body; nil means none.
	Data    []byte
	Output  string
	Include bool
	Follow  bool

	MaxPrice money.MilliSat
	MaxFee   money.MilliSat
	Timeout  time.Duration
	Quote    bool
	JSON     bool
	// JSONSet says whether --json was given; --quote then follows it,
	// else prints JSON to a pipe.
	JSONSet bool

	DataDir string
	// CACert is a PEM file of certificates to trust for https URLs in
	// place of the system roots, e.g. a gateway's self-signed one.
	CACert string
	Node   nodeOptions
	// Wallet and Credential, when a credential is given (or
	// SATLOOP_CREDENTIAL), make the wallet daemon fetch and pay instead
	// of the node.
	Wallet     string
	Credential string
	// dialPayer connects to what pays; nil means the node of the node
	// flags. Tests substitute a fake.
	dialPayer func(context.Context) (client.Payer, error)

	// Flag values as typed, turned into the fields above by parse.
	rawMethod  string
	rawHeaders []string
	rawData    []string
	maxSats    uint64
	maxFeeSats uint64
}

func newCmdGet(io *IO, runF func(context.Context, *getOptions) error) *cobra.Command {
	opts := &getOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "get URL",
		Short: "Fetch a URL, paying its L402 price over Lightning within a cap",
		Long: `Fetch a URL like curl. When the server answers 402 Payment Required with
an L402 challenge, satloop reads the invoice, checks it (amount present and
within --max-sats, network of the node, not expired, payment hash bound to
the token offered), pays it from the node, stores the token, and sends the
request again with the token, body included. Later requests to the same
origin and path directory reuse the token and pay nothing.

The response body goes to stdout (or to -o FILE); progress and payment
notes ("paid 10 sat (fee 1 sat) to api.example.com, hash ab12...") go to
stderr. With --json, stdout gets one JSON record instead: status, headers,
body (text, or body_base64; or body_file with -o) and the payment receipt.
With --quote, satloop shows the price, description, expiry and payment
hash of a paid URL and never pays.

Before anything is paid, a payment left pending by a crashed run is
resolved with the node by payment hash: a settled one gives back its token,
so nothing is paid twice.

With --credential FILE (or SATLOOP_CREDENTIAL), an agent credential minted
by 'satloop bake agent', the request goes through the wallet daemon: it
checks the credential's limits (per-call cap, budgets, hosts), pays from
the node it alone holds, keeps the tokens, and the daemon's fee cap
applies. --max-sats still caps each call. The node flags, --max-fee-sats
and --cacert are the daemon's business then and are refused.

Tokens and the spend log live in --data-dir (default $SATLOOP_DATA_DIR,
else $XDG_DATA_HOME/satloop, else ~/.local/share/satloop). With no node
flag, the node is the local lab's agent ('satloop lab up').

Exit codes:
  0  done; the server answered below 400
  1  other error (the message says what)
  2  usage error
  3  refused, nothing paid: price above --max-sats, no amount in the
     invoice, expired invoice, invoice for another network, payment hash
     not the token's, malformed challenge, body too large to resend;
     or, through the wallet, a limit of the credential (budget, per-call
     cap, host, operation), a revoked, expired or invalid credential, a
     frozen wallet (the message says which limit, what is left and when
     it resets)
  4  payment failed, nothing spent (no route, fee above --max-fee-sats...)
  5  network: the server or the node could not be reached, or timed out,
     or sent an unusable response (headers above 64 KiB...); nothing paid
  6  paid but got nothing: the server answered 401/402, or 400 and above,
     to the paid request, or no response came after paying (the receipt
     on stderr or in --json is the proof)
  7  quote shown (--quote); nothing paid
  8  payment in flight: its outcome is not known yet; the next run
     resolves it with the node and never pays twice
  9  the server answered 400 or above to an unpaid request; nothing paid`,
		Example: `  satloop get https://api.example.com/v1/joke
  satloop get --quote https://api.example.com/v1/joke
  satloop get -X POST -H 'Content-Type: application/json' -d @query.json https://api.example.com/v1/search
  satloop get --max-sats 50 --json https://api.example.com/v1/joke | jq .payment`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{err: fmt.Errorf("%s takes one argument, the URL", cmd.CommandPath()), cmdPath: cmd.CommandPath()}
			}
			if err := opts.parse(cmd, args[0]); err != nil {
				return &usageError{err: fmt.Errorf("%s: %w", cmd.CommandPath(), err), cmdPath: cmd.CommandPath()}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSONSet = cmd.Flags().Changed("json")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runGet(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.rawMethod, "request", "X", "", "HTTP method (default GET, or POST with --data)")
	f.StringArrayVarP(&opts.rawHeaders, "header", "H", nil, `request header "Name: value" (repeatable)`)
	f.StringArrayVarP(&opts.rawData, "data", "d", nil, "request body, sent as is; @FILE reads a file, @- stdin")
	f.StringVarP(&opts.Output, "output", "o", "", "write the body to FILE instead of stdout")
	f.BoolVarP(&opts.Include, "include", "i", false, "print the response status line and headers before the body")
	f.BoolVarP(&opts.Follow, "location", "L", false, "follow redirects (up to 10); a token is only ever sent to the origin it was bought for")
	f.Uint64Var(&opts.maxSats, "max-sats", defaultMaxSats, "refuse to pay an invoice above this many sats")
	f.Uint64Var(&opts.maxFeeSats, "max-fee-sats", defaultMaxFeeSats, "refuse routes whose fee is above this many sats")
	f.DurationVar(&opts.Timeout, "timeout", defaultGetTimeout, "give up on the whole exchange (payment included) after this long")
	f.BoolVar(&opts.Quote, "quote", false, "show what the URL costs and never pay")
	f.BoolVar(&opts.JSON, "json", false, "print one JSON record (status, headers, body, payment) instead of the body")
	f.StringVar(&opts.DataDir, "data-dir", "", "where tokens and the spend log are kept (default $SATLOOP_DATA_DIR or ~/.local/share/satloop)")
	f.StringVar(&opts.CACert, "cacert", "", "trust the certificates in this PEM file for https instead of the system's (e.g. the gateway's self-signed gate-tls.cert)")
	addNodeFlags(cmd, &opts.Node, lab.Agent)
	addAgentFlags(cmd, &opts.Wallet, &opts.Credential)
	return cmd
}

// parse checks the flags and fills the options from them.
func (o *getOptions) parse(cmd *cobra.Command, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL with a host", rawURL)
	}
	o.URL = u

	if agentCredentialGiven(o.Credential) {
		for _, name := range []string{"max-fee-sats", "cacert", "lndconnect", "lnd-host", "lnd-tlscert", "lnd-macaroon", "lab-dir"} {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s does not apply with an agent credential: the wallet daemon holds the node and makes the connection", name)
			}
		}
	}

	o.Headers = make(http.Header)
	for _, h := range o.rawHeaders {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
			return fmt.Errorf(`header %q is not "Name: value"`, h)
		}
		if strings.EqualFold(name, "Host") {
			o.Host = value
			continue
		}
		o.Headers.Add(name, value)
	}

	switch len(o.rawData) {
	case 0:
	case 1:
		data, err := readData(o.rawData[0], o.IO.In)
		if err != nil {
			return err
		}
		o.Data = data
	default:
		return errors.New("give --data once (satloop does not join several bodies)")
	}

	o.Method = strings.ToUpper(o.rawMethod)
	switch {
	case o.Method == "" && o.Data != nil:
		o.Method = http.MethodPost
	case o.Method == "":
		o.Method = http.MethodGet
	case strings.ContainsAny(o.Method, " \t\r\n/:"):
		return fmt.Errorf("%q is not an HTTP method", o.rawMethod)
	}
	if o.Data != nil && o.Headers.Get("Content-Type") == "" {
		// What curl sends for -d, so that scripts behave the same.
		o.Headers.Set("Content-Type", "application/x-www-form-urlencoded")
	}

	if o.maxSats == 0 {
		return errors.New("--max-sats must be at least 1 (to fetch without paying, use --quote)")
	}
	if o.MaxPrice, err = sats("--max-sats", o.maxSats); err != nil {
		return err
	}
	if o.maxFeeSats == 0 {
		// client.Policy reads a zero fee cap as its default, so 0 could
		// not mean "no fee" here; saying so beats surprising someone.
		return errors.New("--max-fee-sats must be at least 1")
	}
	if o.MaxFee, err = sats("--max-fee-sats", o.maxFeeSats); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	}
	if o.JSON && o.Include {
		return errors.New("--json already holds the headers; drop --include")
	}
	if o.DataDir == "" {
		if o.DataDir, err = dataDir(); err != nil {
			return err
		}
	}
	return nil
}

// sats turns a flag's whole sats into an amount.
func sats(flag string, n uint64) (money.MilliSat, error) {
	if n > uint64(money.MaxMilliSat.Sats()) {
		return 0, fmt.Errorf("%s %d is more than 21 million bitcoin", flag, n)
	}
	return money.Sats(int64(n)), nil
}

// readData reads a --data value: the text itself, @FILE, or @- for stdin.
func readData(arg string, stdin io.Reader) ([]byte, error) {
	name, isFile := strings.CutPrefix(arg, "@")
	switch {
	case !isFile:
		return []byte(arg), nil
	case name == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("--data @-: read stdin: %w", err)
		}
		return b, nil
	default:
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("--data @%s: %w", name, err)
		}
		return b, nil
	}
}

func runGet(ctx context.Context, o *getOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	if agentCredentialGiven(o.Credential) {
		return runGetThroughWallet(ctx, o)
	}

	store, err := openBuyerStore(ctx, o.DataDir)
	if err != nil {
		return err
	}
	defer store.Close()

	dial := o.dialPayer
	if dial == nil {
		dial = func(ctx context.Context) (client.Payer, error) {
			node, err := o.Node.dial(ctx)
			if err != nil {
				return nil, err
			}
			return node, nil
		}
	}
	payer := &lazyPayer{dial: func() (client.Payer, error) { return dial(ctx) }}
	defer payer.close()
	if os.Getenv(crashAfterPayEnv) == "1" {
		payer.afterPay = func() {
			// Process.Kill is SIGKILL on Unix: no deferred call runs,
			// as in a real crash.
			if self, err := os.FindProcess(os.Getpid()); err == nil {
				self.Kill()
			}
		}
	}
	base := newBaseTransport()
	if o.CACert != "" {
		if base.TLSClientConfig, err = tlsConfigTrusting(o.CACert); err != nil {
			return err
		}
	}
	tr := &client.Transport{
		Base:  networkMarked{base},
		Payer: payer,
		Store: store,
		Policy: client.Policy{
			MaxPrice:   o.MaxPrice,
			MaxFee:     o.MaxFee,
			PayTimeout: o.Timeout,
			QuoteOnly:  o.Quote,
		},
	}
	// Payments a crashed run left pending are settled with the node
	// before anything is paid.
	if err := recoverPending(ctx, tr, store, o.IO); err != nil {
		return err
	}

	return o.fetch(ctx, tr)
}

// runGetThroughWallet fetches through the wallet daemon with the agent's
// credential: the daemon pays and keeps the tokens. A quote needs no
// payment, so it is read here, with the wallet decoding the invoice for
// its network.
func runGetThroughWallet(ctx context.Context, o *getOptions) error {
	c, err := dialWallet(o.Wallet, o.Credential)
	if err != nil {
		return err
	}
	if !o.Quote {
		return o.fetch(ctx, c.Transport(o.MaxPrice))
	}
	store, err := openBuyerStore(ctx, o.DataDir)
	if err != nil {
		return err
	}
	defer store.Close()
	base := newBaseTransport()
	return o.fetch(ctx, &client.Transport{
		Base: networkMarked{base}, Payer: c, Store: store,
		Policy: client.Policy{MaxPrice: o.MaxPrice, QuoteOnly: true},
	})
}

// fetch makes the request through tr and delivers the answer.
func (o *getOptions) fetch(ctx context.Context, tr http.RoundTripper) error {
	req, err := o.request(ctx)
	if err != nil {
		return err
	}
	ctx, rec := client.WithReceipt(ctx)
	hc := &http.Client{Transport: tr, CheckRedirect: o.checkRedirect}
	resp, err := hc.Do(req.WithContext(ctx))
	notePayment(o.IO, rec)
	if err != nil {
		// http.Client's *url.Error repeats the URL whole, query
		// included, which may hold a secret; the errors inside name the
		// URL without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		switch {
		case errors.Is(err, client.ErrPaidButRefused), errors.Is(err, client.ErrSellerRefusedPaid):
			err = &refusedTokenError{TokenID: rec.TokenID, err: err}
		case rec.Paid:
			err = &paidNoResponseError{Receipt: *rec, err: err}
		}
		return o.fail(err, rec)
	}
	defer resp.Body.Close()
	return o.deliver(resp, rec)
}

// recoverPending resolves the payments a crashed run left pending and
// says on stderr what came of them. A scope still unresolved is not paid
// again (the Transport checks it under the scope's lock before buying), so
// an unresolved payment is a note, not the end of this fetch.
func recoverPending(ctx context.Context, tr *client.Transport, store client.Store, io *IO) error {
	pending, err := store.PendingPayments(ctx)
	if err != nil {
		return fmt.Errorf("cli: list pending payments: %w", err)
	}
	if len(pending) == 0 {
		return nil
	}
	if err := tr.Recover(ctx); err != nil {
		fmt.Fprintf(io.ErrOut, "note: a payment left pending by an earlier run is unresolved: %s\n", err)
	}
	for _, p := range pending {
		now, err := store.Payment(ctx, p.Hash)
		if err == nil && now.Status == client.PaymentSucceeded {
			fmt.Fprintf(io.ErrOut, "recovered the token of a payment an earlier run made before it stopped: %s to %s, hash %s; nothing paid again\n",
				p.Amount, p.Host, p.Hash)
		}
	}
	return nil
}

// openBuyerStore opens the tokens and spend log in dir.
func openBuyerStore(ctx context.Context, dir string) (*sqlite.BuyerStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cli: data directory: %w", err)
	}
	return sqlite.OpenBuyerStore(ctx, filepath.Join(dir, buyerStoreFile))
}

// buyerStoreFile is the buyer's SQLite file in the data directory.
const buyerStoreFile = "buyer.db"

// notePayment tells the user on stderr what the request cost.
func notePayment(io *IO, rec *client.Receipt) {
	switch {
	case rec.Paid:
		fmt.Fprintf(io.ErrOut, "paid %s (fee %s) to %s, hash %s\n", rec.Amount, rec.Fee, rec.Host, rec.PaymentHash)
	case rec.Recovered:
		fmt.Fprintf(io.ErrOut, "recovered the token of an earlier payment (hash %s) from the node; nothing paid again\n", rec.PaymentHash)
	case rec.TokenReused:
		fmt.Fprintf(io.ErrOut, "used the token held for %s; nothing paid\n", rec.Host)
	}
}

// request builds the HTTP request the options describe.
func (o *getOptions) request(ctx context.Context) (*http.Request, error) {
	var body io.Reader
	if o.Data != nil {
		// A *bytes.Reader gives the request a GetBody, so that the body
		// is sent again intact after paying.
		body = bytes.NewReader(o.Data)
	}
	req, err := http.NewRequestWithContext(ctx, o.Method, o.URL.String(), body)
	if err != nil {
		return nil, &usageError{err: fmt.Errorf("cli: get: %w", err), cmdPath: "satloop get"}
	}
	for name, values := range o.Headers {
		req.Header[name] = values
	}
	if o.Host != "" {
		req.Host = o.Host
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "satloop/"+currentBuild().Version)
	}
	return req, nil
}

// checkRedirect follows redirects only with -L. The Transport keys tokens
// by origin, so a redirect to another host never carries the token;
// http.Client also drops a caller's Authorization header across hosts.
func (o *getOptions) checkRedirect(req *http.Request, via []*http.Request) error {
	if !o.Follow {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	fmt.Fprintf(o.IO.ErrOut, "following redirect to %s\n", redactURL(req.URL))
	return nil
}

// newBaseTransport is the HTTP transport under the L402 one: bounded
// headers and connection phases; the whole exchange is bounded by the
// command's --timeout context.
func newBaseTransport() *http.Transport {
	return &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:    15 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           4,
		IdleConnTimeout:        30 * time.Second,
	}
}

// tlsConfigTrusting trusts only the certificates in the PEM file path.
func tlsConfigTrusting(path string) (*tls.Config, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, &usageError{err: fmt.Errorf("--cacert: %w", err), cmdPath: "satloop get"}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, &usageError{err: fmt.Errorf("--cacert: %s holds no PEM certificate", path), cmdPath: "satloop get"}
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// networkError marks an error of the HTTP exchange itself (dial, TLS,
// timeout, malformed or oversized response), as opposed to a payment
// decision, so that exitCodeFor can tell them apart.
type networkError struct{ err error }

func (e *networkError) Error() string { return e.err.Error() }
func (e *networkError) Unwrap() error { return e.err }

// networkMarked marks the errors of the transport it wraps.
type networkMarked struct{ base http.RoundTripper }

func (n networkMarked) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := n.base.RoundTrip(req)
	if err != nil {
		return nil, &networkError{err: fmt.Errorf("%s %s: %w", req.Method, redactURL(req.URL), err)}
	}
	return resp, nil
}

// lazyPayer dials the node on first use, so that a free URL, or one whose
// token is held, is fetched without a node.
type lazyPayer struct {
	dial func() (client.Payer, error)
	// afterPay, when set, runs after a successful payment, before the
	// Transport stores the token (the test-only crash hook).
	afterPay func()

	once sync.Once
	p    client.Payer
	err  error
}

func (l *lazyPayer) payer() (client.Payer, error) {
	l.once.Do(func() {
		l.p, l.err = l.dial()
		var usage *usageError
		switch {
		case errors.As(l.err, &usage):
			usage.cmdPath = "satloop get"
		case l.err != nil:
			l.err = &nodeError{err: l.err}
		}
	})
	return l.p, l.err
}

// nodeError is a node that could not be dialed (not running, wrong
// address, locked wallet): nothing was paid.
type nodeError struct{ err error }

func (e *nodeError) Error() string { return "cannot use the paying node: " + e.err.Error() }
func (e *nodeError) Unwrap() error { return e.err }

func (l *lazyPayer) close() {
	if c, ok := l.p.(io.Closer); ok {
		c.Close()
	}
}

func (l *lazyPayer) DecodeInvoice(payreq string) (lightning.Invoice, error) {
	p, err := l.payer()
	if err != nil {
		return lightning.Invoice{}, err
	}
	return p.DecodeInvoice(payreq)
}

func (l *lazyPayer) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	p, err := l.payer()
	if err != nil {
		return lightning.Payment{}, err
	}
	pay, err := p.Pay(ctx, req)
	if err == nil && l.afterPay != nil {
		l.afterPay()
	}
	return pay, err
}

func (l *lazyPayer) TrackPayment(ctx context.Context, hash l402.PaymentHash) (lightning.Payment, error) {
	p, err := l.payer()
	if err != nil {
		return lightning.Payment{}, err
	}
	return p.TrackPayment(ctx, hash)
}

// getRecord is what --json prints: one document per fetch, on success and
// on failure alike. Field names are part of the output agents read.
type getRecord struct {
	URL    string `json:"url"`
	Method string `json:"method"`
	// Status is the HTTP status; zero when no response came.
	Status  int         `json:"status,omitempty"`
	Headers http.Header `json:"headers,omitempty"`
	// Body is the body when it is UTF-8 text, BodyBase64 otherwise;
	// BodyFile names the file it went to with -o.
	Body       *string `json:"body,omitempty"`
	BodyBase64 string  `json:"body_base64,omitempty"`
	BodyFile   string  `json:"body_file,omitempty"`
	BodyBytes  int64   `json:"body_bytes"`
	// Payment is what this fetch paid, reused or recovered.
	Payment client.Receipt `json:"payment"`
	Error   *getError      `json:"error,omitempty"`
}

// getError is a failed fetch in a --json record.
type getError struct {
	ExitCode ExitCode `json:"exit_code"`
	Message  string   `json:"message"`
}

// httpStatusError is a response of status 400 or above: delivered to the
// user, and still a failure for the exit code.
type httpStatusError struct {
	Status int
	// Paid says whether this fetch paid: a paid fetch that gets an error
	// status got nothing for its money.
	Paid    bool
	Receipt client.Receipt
}

func (e *httpStatusError) Error() string {
	if e.Paid {
		return fmt.Sprintf("paid %s (payment hash %s) to %s but it answered %d %s",
			e.Receipt.Amount, e.Receipt.PaymentHash, e.Receipt.Host, e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("the server answered %d %s; nothing paid", e.Status, http.StatusText(e.Status))
}

// paidNoResponseError is a fetch that paid and then got no response (the
// connection dropped, the time ran out). The token is stored: the same
// command again reuses it.
type paidNoResponseError struct {
	Receipt client.Receipt
	err     error
}

func (e *paidNoResponseError) Error() string {
	return fmt.Sprintf("paid %s (payment hash %s) to %s but got no response: %s; the token is kept, so running the same command again pays nothing",
		e.Receipt.Amount, e.Receipt.PaymentHash, e.Receipt.Host, e.err)
}

func (e *paidNoResponseError) Unwrap() error { return e.err }

// refusedTokenError is a seller that refused a token it was paid for:
// the Transport keeps the token, marked, and pays that scope nothing more
// until the user deletes it. The message says how.
type refusedTokenError struct {
	TokenID l402.TokenID
	err     error
}

func (e *refusedTokenError) Error() string {
	if errors.Is(e.err, client.ErrSellerRefusedPaid) {
		// The client's message already says nothing is bought until the
		// token is deleted.
		return fmt.Sprintf("%s: run 'satloop tokens rm %s' to allow it", e.err, e.TokenID)
	}
	return fmt.Sprintf("%s; satloop buys nothing more for this path while it keeps token %s: run 'satloop tokens rm %s' to allow it",
		e.err, e.TokenID, e.TokenID)
}

func (e *refusedTokenError) Unwrap() error { return e.err }

// deliver writes the response where the options say and judges its status.
func (o *getOptions) deliver(resp *http.Response, rec *client.Receipt) error {
	rec2 := *rec
	var statusErr error
	if resp.StatusCode >= 400 {
		statusErr = &httpStatusError{Status: resp.StatusCode, Paid: rec.Paid, Receipt: rec2}
	}
	if o.JSON {
		r := getRecord{URL: redactURL(resp.Request.URL), Method: o.Method, Status: resp.StatusCode, Headers: resp.Header, Payment: rec2}
		if err := o.fillBody(&r, resp.Body); err != nil {
			return err
		}
		if statusErr != nil {
			r.Error = &getError{ExitCode: exitCodeFor(statusErr), Message: statusErr.Error()}
		}
		if err := printJSON(o.IO, r); err != nil {
			return err
		}
		return statusErr
	}

	out, done, err := o.bodyWriter()
	if err != nil {
		return err
	}
	if o.Include {
		fmt.Fprintf(out, "%s %s\r\n", resp.Proto, resp.Status)
		resp.Header.Write(out)
		io.WriteString(out, "\r\n")
	}
	_, copyErr := io.Copy(out, resp.Body)
	if err := done(); err != nil {
		return err
	}
	if copyErr != nil {
		return o.fail(&networkError{err: fmt.Errorf("read the response body: %w", copyErr)}, rec)
	}
	return statusErr
}

// bodyWriter returns where the body goes (-o FILE or stdout) and a
// function to call once it is written.
func (o *getOptions) bodyWriter() (io.Writer, func() error, error) {
	if o.Output == "" || o.Output == "-" {
		return o.IO.Out, func() error { return nil }, nil
	}
	f, err := os.Create(o.Output)
	if err != nil {
		return nil, nil, fmt.Errorf("cli: -o: %w", err)
	}
	return f, func() error {
		if err := f.Close(); err != nil {
			return fmt.Errorf("cli: -o: %w", err)
		}
		return nil
	}, nil
}

// fillBody puts the body into r: in a file with -o, else inline.
func (o *getOptions) fillBody(r *getRecord, body io.Reader) error {
	if o.Output != "" && o.Output != "-" {
		w, done, err := o.bodyWriter()
		if err != nil {
			return err
		}
		n, copyErr := io.Copy(w, body)
		if err := done(); err != nil {
			return err
		}
		if copyErr != nil {
			return &networkError{err: fmt.Errorf("read the response body: %w", copyErr)}
		}
		r.BodyFile, r.BodyBytes = o.Output, n
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(body, maxJSONBody+1))
	if err != nil {
		return &networkError{err: fmt.Errorf("read the response body: %w", err)}
	}
	if len(b) > maxJSONBody {
		return fmt.Errorf("cli: the body is larger than the %d MiB --json holds; add -o FILE", maxJSONBody>>20)
	}
	r.BodyBytes = int64(len(b))
	if utf8.Valid(b) {
		s := string(b)
		r.Body = &s
	} else {
		r.BodyBase64 = base64.StdEncoding.EncodeToString(b)
	}
	return nil
}

// fail reports a fetch that got no response to deliver: with --quote the
// quote, with --json a record; the error is returned for the exit code.
func (o *getOptions) fail(err error, rec *client.Receipt) error {
	var refused *client.RefusedError
	if o.Quote && errors.As(err, &refused) && errors.Is(err, client.ErrQuoteOnly) {
		if perr := o.printQuote(refused.Quote); perr != nil {
			return perr
		}
		return err
	}
	if o.JSON {
		r := getRecord{URL: redactURL(o.URL), Method: o.Method, Payment: *rec,
			Error: &getError{ExitCode: exitCodeFor(err), Message: err.Error()}}
		if perr := printJSON(o.IO, r); perr != nil {
			return perr
		}
	}
	return err
}

// printQuote shows what a URL costs: JSON for --json or a pipe, a few
// lines for a terminal.
func (o *getOptions) printQuote(q client.Quote) error {
	if wantJSON(o.IO, o.JSON, o.JSONSet) {
		return printJSON(o.IO, q)
	}
	w := o.IO.Out
	fmt.Fprintf(w, "url           %s\n", q.URL)
	fmt.Fprintf(w, "price         %s\n", q.Price)
	if q.Description != "" {
		fmt.Fprintf(w, "description   %s\n", q.Description)
	}
	if !q.ExpiresAt.IsZero() {
		fmt.Fprintf(w, "invoice until %s\n", q.ExpiresAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "payment hash  %s\n", q.PaymentHash)
	if q.Price > o.MaxPrice {
		fmt.Fprintf(w, "above the cap of %s: 'satloop get' would refuse it without --max-sats %d\n", o.MaxPrice, q.Price.SatsCeil())
	}
	return nil
}

// redactURL is u without user info, query or fragment, which may hold
// secrets: the form printed in notes and records.
func redactURL(u *url.URL) string {
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return c.String()
}
