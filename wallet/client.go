package wallet

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/satloop/satloop/bakery"
	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

// Client is an agent's side of the daemon: it holds the wallet's address
// and the agent's credential, nothing that reaches the node. It is safe for
// concurrent use.
type Client struct {
	credential string
	base       string // "http://wallet" for a socket, "https://host:port"
	http       *http.Client

	mu      sync.Mutex
	network lightning.Network
}

// Dial returns a client for the wallet and credential in f. address,
// when not empty, overrides f.Wallet (SATLOOP_WALLET). Nothing is sent
// until the first call.
func Dial(f bakery.File, address string) (*Client, error) {
	if address == "" {
		address = f.Wallet
	}
	if address == "" {
		return nil, errors.New("wallet: no wallet address: pass --wallet or set SATLOOP_WALLET (unix:///path/wallet.sock or https://127.0.0.1:PORT)")
	}
	if _, err := f.Macaroon(); err != nil {
		return nil, err
	}
	u, err := url.Parse(address)
	if err != nil {
		return nil, fmt.Errorf("wallet: wallet address %q: %w", address, err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: 5 * time.Minute}
	c := &Client{credential: f.Credential, http: &http.Client{
		Transport: tr,
		// A fetch's redirect is the seller's answer, for the agent's own
		// client to follow (through the wallet again, checked against the
		// hosts). Followed here, it would go to the daemon's socket, or
		// for an https wallet to the host the seller named, carrying the
		// credential header.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	switch u.Scheme {
	case "unix":
		path := u.Path
		if path == "" {
			path = u.Opaque
		}
		if path == "" {
			return nil, fmt.Errorf("wallet: wallet address %q has no socket path", address)
		}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		c.base = "http://wallet"
	case "https":
		if f.WalletCert == "" {
			return nil, errors.New("wallet: an https wallet needs its certificate (wallet_cert in the credential file) to be pinned")
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(f.WalletCert)) {
			return nil, errors.New("wallet: the credential file's wallet_cert is not a PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		c.base = "https://" + u.Host
	default:
		return nil, fmt.Errorf("wallet: wallet address %q: use unix:///path/wallet.sock or https://127.0.0.1:PORT", address)
	}
	return c, nil
}

// do calls the daemon and decodes its JSON answer into out, or its error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("wallet: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	req.Header.Set(HeaderCredential, c.credential)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get(HeaderError) != "" {
		return readError(resp)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: the daemon answered HTTP %d", ErrInternal, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("wallet: read the daemon's answer: %w", err)
	}
	return nil
}

// ErrDaemonUnreachable: the wallet daemon did not answer.
var ErrDaemonUnreachable = errors.New("wallet: the wallet daemon is not reachable")

func (c *Client) unreachable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w (is 'satloop wallet serve' running?): %w", ErrDaemonUnreachable, err)
}

// readError decodes the daemon's error answer.
func readError(resp *http.Response) error {
	var e Error
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e); err != nil || e.Code == "" {
		return fmt.Errorf("%w: the daemon answered HTTP %d with an unreadable error", ErrInternal, resp.StatusCode)
	}
	if _, known := sentinels[e.Code]; !known {
		e.Message = fmt.Sprintf("%s (code %s)", e.Message, e.Code)
		e.Code = CodeInternal
	}
	return &e
}

// Allowance reports what the credential may still spend.
func (c *Client) Allowance(ctx context.Context) (Allowance, error) {
	var a Allowance
	err := c.do(ctx, http.MethodGet, "/v1/allowance", nil, &a)
	if err == nil {
		c.mu.Lock()
		c.network = a.Network
		c.mu.Unlock()
	}
	return a, err
}

// History lists the agent's payments, newest first.
// limit <= 0 leaves the number to the daemon's default (100).
func (c *Client) History(ctx context.Context, limit int) ([]Entry, error) {
	var entries []Entry
	path := "/v1/history"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &entries)
	return entries, err
}

// CreateInvoice asks the wallet for an invoice (the credential must allow
// receiving).
func (c *Client) CreateInvoice(ctx context.Context, req InvoiceRequest) (ReceivedInvoice, error) {
	var inv ReceivedInvoice
	err := c.do(ctx, http.MethodPost, "/v1/invoices", req, &inv)
	return inv, err
}

// PayInvoice pays a bare invoice through the wallet and returns the
// payment with its preimage.
func (c *Client) PayInvoice(ctx context.Context, req PayRequest) (PayResult, error) {
	var resp PayResponse
	if err := c.do(ctx, http.MethodPost, "/v1/pay", req, &resp); err != nil {
		return PayResult{}, err
	}
	res := resp.PayResult
	pre, err := l402.ParsePreimage(resp.Preimage)
	if err != nil || pre.Hash() != res.Hash {
		return PayResult{}, fmt.Errorf("%w: the daemon returned a preimage that does not match the payment hash", ErrInternal)
	}
	res.Preimage = pre
	return res, nil
}

// The Client is a client.Payer, so that a client.Transport in the agent's
// process can pay through the wallet (credentials not limited to hosts).
var _ client.Payer = (*Client)(nil)

// DecodeInvoice decodes an invoice offline for the wallet's network,
// learnt from the daemon once.
func (c *Client) DecodeInvoice(payreq string) (lightning.Invoice, error) {
	c.mu.Lock()
	network := c.network
	c.mu.Unlock()
	if network == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a, err := c.Allowance(ctx)
		if err != nil {
			return lightning.Invoice{}, err
		}
		network = a.Network
	}
	return lightning.DecodeInvoice(payreq, network)
}

// Pay pays through the wallet, within the credential's limits. A refusal
// or failure the wallet reports as final is a *lightning.PaymentError
// wrapping the wallet's error, so that the Transport records that nothing
// was spent; anything else leaves the outcome to TrackPayment.
func (c *Client) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	res, err := c.PayInvoice(ctx, PayRequest{Invoice: req.Invoice})
	var we *Error
	if errors.As(err, &we) && we.Code != CodeInFlight && we.Code != CodeInternal && we.Code != CodeNodeUnavailable {
		return lightning.Payment{}, &walletRefusal{err: we}
	}
	if errors.As(err, &we) && we.Code == CodeInFlight {
		return lightning.Payment{}, fmt.Errorf("%w: %w", lightning.ErrPaymentInFlight, err)
	}
	if err != nil {
		return lightning.Payment{}, err
	}
	return lightning.Payment{Hash: res.Hash, Status: lightning.PaymentSucceeded, Preimage: res.Preimage, Amount: res.Amount, Fee: res.Fee, CreatedAt: time.Now()}, nil
}

// walletRefusal is a final refusal by the wallet, nothing spent, shaped
// as the lightning.PaymentError the Transport expects for that.
type walletRefusal struct{ err *Error }

func (r *walletRefusal) Error() string { return r.err.Error() }

// As makes errors.As(err, **lightning.PaymentError) true.
func (r *walletRefusal) As(target any) bool {
	if p, ok := target.(**lightning.PaymentError); ok {
		*p = &lightning.PaymentError{Payment: lightning.Payment{Status: lightning.PaymentFailed, Failure: lightning.FailureReason(r.err.Code)}}
		return true
	}
	return false
}

// Unwrap lets errors.Is and errors.As find the wallet's error.
func (r *walletRefusal) Unwrap() error { return r.err }

// TrackPayment asks the wallet what became of the agent's payment.
func (c *Client) TrackPayment(ctx context.Context, hash l402.PaymentHash) (lightning.Payment, error) {
	var resp PaymentResponse
	err := c.do(ctx, http.MethodGet, "/v1/payments/"+hash.String(), nil, &resp)
	if errors.Is(err, ErrNotFound) {
		return lightning.Payment{}, fmt.Errorf("%w: %w", lightning.ErrPaymentNotFound, err)
	}
	if err != nil {
		return lightning.Payment{}, err
	}
	p := lightning.Payment{Hash: hash, Amount: resp.Amount, Fee: resp.Fee, CreatedAt: resp.CreatedAt}
	switch resp.Status {
	case EntrySettled:
		pre, err := l402.ParsePreimage(resp.Preimage)
		if err != nil || pre.Hash() != hash {
			return lightning.Payment{}, fmt.Errorf("%w: the daemon returned a preimage that does not match", ErrInternal)
		}
		p.Status, p.Preimage = lightning.PaymentSucceeded, pre
	case EntryReleased:
		p.Status, p.Failure = lightning.PaymentFailed, lightning.FailureReason(resp.Error)
	default:
		p.Status = lightning.PaymentInFlight
	}
	return p, nil
}

// Transport returns an http.RoundTripper that makes every request through
// the wallet, which pays L402 challenges within the credential's limits
// and keeps the tokens. It reports into a client.Receipt put in the
// request's context with client.WithReceipt. maxPrice, when positive,
// caps each call below the credential's own cap.
func (c *Client) Transport(maxPrice money.MilliSat) http.RoundTripper {
	return &fetchTransport{c: c, maxPrice: maxPrice}
}

type fetchTransport struct {
	c        *Client
	maxPrice money.MilliSat
}

func (t *fetchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	out, err := http.NewRequestWithContext(req.Context(), http.MethodPost, t.c.base+"/v1/fetch", req.Body)
	if err != nil {
		return nil, fmt.Errorf("wallet: %w", err)
	}
	out.ContentLength = req.ContentLength
	for k, vs := range req.Header {
		if !strings.HasPrefix(k, "Satloop-") {
			out.Header[k] = vs
		}
	}
	out.Header.Set(HeaderCredential, t.c.credential)
	out.Header.Set(HeaderURL, req.URL.String())
	out.Header.Set(HeaderMethod, req.Method)
	if t.maxPrice > 0 {
		out.Header.Set(HeaderMaxPrice, strconv.FormatInt(int64(t.maxPrice), 10))
	}
	resp, err := t.c.http.Do(out)
	if err != nil {
		return nil, t.c.unreachable(err)
	}
	if resp.Header.Get(HeaderError) != "" {
		defer resp.Body.Close()
		err := readError(resp)
		var we *Error
		if errors.As(err, &we) && we.Receipt != nil {
			if rec := client.ReceiptFrom(req.Context()); rec != nil {
				*rec = *we.Receipt
			}
		}
		return nil, err
	}
	if rec := client.ReceiptFrom(req.Context()); rec != nil {
		if v := resp.Header.Get(HeaderReceipt); v != "" {
			var got client.Receipt
			if json.Unmarshal([]byte(v), &got) == nil {
				paid, amount, fee := rec.Paid, rec.Amount, rec.Fee
				*rec = got
				rec.Paid = paid || got.Paid
				rec.Amount, rec.Fee = amount+got.Amount, fee+got.Fee
			}
		}
	}
	resp.Header.Del(HeaderReceipt)
	resp.Request = req
	return resp, nil
}
