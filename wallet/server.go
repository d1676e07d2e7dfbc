package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// Headers of the daemon's API.
const (
	// HeaderCredential carries the agent's encoded credential on every
	// call. It is never forwarded to a seller.
	HeaderCredential = "Satloop-Credential"
	// HeaderURL, HeaderMethod and HeaderMaxPrice describe a fetch: the
	// seller's URL, the method (default GET) and the caller's own cap in
	// msat for this call.
	HeaderURL      = "Satloop-Url"
	HeaderMethod   = "Satloop-Method"
	HeaderMaxPrice = "Satloop-Max-Price-Msat"
	// HeaderReceipt on a fetch's answer holds the client.Receipt as JSON.
	HeaderReceipt = "Satloop-Receipt"
	// HeaderError marks an answer as the wallet's own error (its JSON
	// body is an Error), never the seller's.
	HeaderError = "Satloop-Error"
)

// maxAPIBody caps the JSON bodies of the API calls; a fetch's body may be
// larger (maxFetchBody).
const (
	maxAPIBody   = 64 << 10
	maxFetchBody = 8 << 20
)

// Handler returns the daemon's HTTP API.
func (w *Wallet) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/allowance", w.withSession(w.serveAllowance))
	mux.HandleFunc("POST /v1/pay", w.withSession(w.servePay))
	mux.HandleFunc("GET /v1/payments/{hash}", w.withSession(w.servePayment))
	mux.HandleFunc("POST /v1/invoices", w.withSession(w.serveCreateInvoice))
	mux.HandleFunc("GET /v1/history", w.withSession(w.serveHistory))
	mux.HandleFunc("/v1/fetch", w.withSession(w.serveFetch))
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		writeError(rw, newError(CodeNotFound, nil, "no such call %s %s; see docs/wallet.md", r.Method, r.URL.Path))
	})
	return mux
}

func (w *Wallet) withSession(next func(http.ResponseWriter, *http.Request, Session)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		encoded := r.Header.Get(HeaderCredential)
		if encoded == "" {
			writeError(rw, newError(CodeCredentialInvalid, nil, "no credential: send it in the %s header", HeaderCredential))
			return
		}
		s, err := w.Authenticate(r.Context(), encoded)
		if err != nil {
			w.log().Info("wallet: credential refused", "err", err)
			w.writeError(rw, err)
			return
		}
		next(rw, r, s)
	}
}

func (w *Wallet) serveAllowance(rw http.ResponseWriter, r *http.Request, s Session) {
	a, err := w.Allowance(r.Context(), s)
	if err != nil {
		w.writeError(rw, err)
		return
	}
	writeJSON(rw, http.StatusOK, a)
}

// PayRequest is the body of POST /v1/pay.
type PayRequest struct {
	Invoice string `json:"invoice"`
	// MaxPrice is the caller's own cap for this payment, msat; zero for
	// none (the credential's caps still apply).
	MaxPrice money.MilliSat `json:"max_price_msat,omitempty"`
}

// PayResponse is the answer of POST /v1/pay.
type PayResponse struct {
	PayResult
	// Preimage is the proof of payment, hex: the agent paid for it.
	Preimage string `json:"preimage"`
}

func (w *Wallet) servePay(rw http.ResponseWriter, r *http.Request, s Session) {
	var req PayRequest
	if !readJSON(rw, r, &req) {
		return
	}
	res, err := w.Pay(r.Context(), s, req.Invoice, req.MaxPrice)
	if err != nil {
		w.writeError(rw, err)
		return
	}
	writeJSON(rw, http.StatusOK, PayResponse{PayResult: res, Preimage: fmt.Sprintf("%x", res.Preimage[:])})
}

func (w *Wallet) servePayment(rw http.ResponseWriter, r *http.Request, s Session) {
	hash, err := l402.ParsePaymentHash(r.PathValue("hash"))
	if err != nil {
		writeError(rw, newError(CodeBadRequest, err, "%v", err))
		return
	}
	e, err := w.Payment(r.Context(), s, hash)
	if err != nil {
		w.writeError(rw, err)
		return
	}
	out := PaymentResponse{Entry: e}
	if e.Status == EntrySettled {
		out.Preimage = fmt.Sprintf("%x", e.Preimage[:])
	}
	writeJSON(rw, http.StatusOK, out)
}

// PaymentResponse is the answer of GET /v1/payments/{hash}.
type PaymentResponse struct {
	Entry
	Preimage string `json:"preimage,omitempty"`
}

// InvoiceRequest is the body of POST /v1/invoices.
type InvoiceRequest struct {
	Amount        money.MilliSat `json:"amount_msat"`
	Memo          string         `json:"memo,omitempty"`
	ExpirySeconds int64          `json:"expiry_seconds,omitempty"`
}

func (w *Wallet) serveCreateInvoice(rw http.ResponseWriter, r *http.Request, s Session) {
	var req InvoiceRequest
	if !readJSON(rw, r, &req) {
		return
	}
	expiry := time.Hour
	if req.ExpirySeconds != 0 {
		expiry = time.Duration(req.ExpirySeconds) * time.Second
	}
	inv, err := w.CreateInvoice(r.Context(), s, req.Amount, req.Memo, expiry)
	if err != nil {
		w.writeError(rw, err)
		return
	}
	writeJSON(rw, http.StatusOK, inv)
}

func (w *Wallet) serveHistory(rw http.ResponseWriter, r *http.Request, s Session) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			writeError(rw, newError(CodeBadRequest, nil, "limit must be a positive number"))
			return
		}
		limit = n
	}
	entries, err := w.History(r.Context(), s, limit)
	if err != nil {
		w.writeError(rw, err)
		return
	}
	if entries == nil {
		entries = []Entry{}
	}
	writeJSON(rw, http.StatusOK, entries)
}

// hopHeaders are never passed through a fetch, either way.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (w *Wallet) serveFetch(rw http.ResponseWriter, r *http.Request, s Session) {
	target, err := url.Parse(r.Header.Get(HeaderURL))
	if err != nil || r.Header.Get(HeaderURL) == "" {
		writeError(rw, newError(CodeBadRequest, nil, "a fetch needs the seller's absolute URL in the %s header", HeaderURL))
		return
	}
	method := r.Header.Get(HeaderMethod)
	if method == "" {
		method = http.MethodGet
	}
	var maxPrice money.MilliSat
	if v := r.Header.Get(HeaderMaxPrice); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(rw, newError(CodeBadRequest, nil, "%s must be a positive number of msat", HeaderMaxPrice))
			return
		}
		maxPrice = money.MilliSat(n)
	}
	var body io.Reader
	if r.ContentLength != 0 {
		body = http.MaxBytesReader(rw, r.Body, maxFetchBody)
	}
	out, err := http.NewRequestWithContext(r.Context(), method, target.String(), body)
	if err != nil {
		writeError(rw, newError(CodeBadRequest, nil, "cannot make a %q request to that URL", method))
		return
	}
	out.ContentLength = r.ContentLength
	for k, vs := range r.Header {
		if strings.HasPrefix(k, "Satloop-") {
			continue
		}
		out.Header[k] = vs
	}
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	resp, rec, err := w.Fetch(r.Context(), s, out, maxPrice)
	if err != nil {
		w.writeError(rw, err)
		return
	}
	defer resp.Body.Close()
	h := rw.Header()
	for k, vs := range resp.Header {
		// The seller may not speak as the wallet: a Satloop-Error or
		// Satloop-Receipt of its own would pass for the daemon's.
		if strings.HasPrefix(k, "Satloop-") {
			continue
		}
		h[k] = vs
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	if rec != nil {
		if b, err := json.Marshal(rec); err == nil {
			h.Set(HeaderReceipt, string(b))
		}
	}
	rw.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(flushWriter{rw}, resp.Body); err != nil {
		w.log().Info("wallet: fetch answer cut short", "host", out.URL.Hostname(), "err", err)
	}
}

// flushWriter flushes after every write so that streamed answers (SSE)
// reach the agent as they come.
type flushWriter struct{ rw http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.rw.Write(p)
	if err == nil {
		err = http.NewResponseController(f.rw).Flush()
	}
	return n, err
}

func readJSON(rw http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(rw, newError(CodeBadRequest, nil, "the request body is not the JSON this call takes: %v", err))
		return false
	}
	return true
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	json.NewEncoder(rw).Encode(v)
}

// writeError answers err as the wallet's error, logging the ones whose
// answer says "see the daemon's log".
func (w *Wallet) writeError(rw http.ResponseWriter, err error) {
	e := asError(err)
	if e.Code == CodeInternal {
		w.log().Error("wallet: internal error", "err", err)
	}
	writeError(rw, e)
}

func writeError(rw http.ResponseWriter, e *Error) {
	rw.Header().Set(HeaderError, string(e.Code))
	writeJSON(rw, httpStatusFor(e.Code), e)
}

// isNetError reports whether err is a failure to reach a seller.
func isNetError(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &opErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, io.ErrUnexpectedEOF)
}

// defaultBase is the transport fetches use when Options.Base is nil.
func defaultBase() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 60 * time.Second
	t.MaxResponseHeaderBytes = 64 << 10
	return t
}

// ServeConfig says where the daemon listens.
type ServeConfig struct {
	// Socket is the unix socket path; it is created 0600 and removed on
	// exit. A stale socket left by a killed daemon is replaced; one a
	// running daemon answers on is an error.
	Socket string
	// TLSAddr, when set, also listens there (127.0.0.1 only) with TLS
	// from TLSCert and TLSKey.
	TLSAddr         string
	TLSCert, TLSKey string
	Logger          *slog.Logger
	// Ready, when set, is called once every listener is up, with the TLS
	// listener's address (empty without one).
	Ready func(tlsAddr string)
}

// Serve serves h until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, cfg ServeConfig, h http.Handler) error {
	if cfg.Socket == "" {
		return errors.New("wallet: no socket path")
	}
	ln, err := listenUnix(cfg.Socket)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.Socket)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if cfg.Logger != nil {
		srv.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.TLSAddr != "" {
		host, _, err := net.SplitHostPort(cfg.TLSAddr)
		if err != nil || !net.ParseIP(host).IsLoopback() {
			srv.Close()
			return fmt.Errorf("wallet: the TLS listener %q must be on a loopback address (127.0.0.1:PORT)", cfg.TLSAddr)
		}
		tln, err := net.Listen("tcp", cfg.TLSAddr)
		if err != nil {
			srv.Close()
			return fmt.Errorf("wallet: listen on %s: %w", cfg.TLSAddr, err)
		}
		go func() { errc <- srv.ServeTLS(tln, cfg.TLSCert, cfg.TLSKey) }()
		cfg.TLSAddr = tln.Addr().String()
	}
	if cfg.Ready != nil {
		cfg.Ready(cfg.TLSAddr)
	}
	select {
	case err := <-errc:
		srv.Close()
		return fmt.Errorf("wallet: serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// listenUnix listens on path with mode 0600, replacing a stale socket.
func listenUnix(path string) (net.Listener, error) {
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("wallet: a wallet daemon already answers on %s; stop it first", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("wallet: remove the stale socket %s: %w", path, err)
		}
	}
	// The umask makes the socket 0600 from its creation: a chmod after
	// listen would leave a window where others could connect.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("wallet: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("wallet: restrict %s to its owner: %w", path, err)
	}
	return ln, nil
}
