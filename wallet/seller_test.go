package wallet_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// l402Seller is an L402 seller on httptest: real tokens, real regtest
// invoices whose preimages the fake node's network knows, credentials
// verified with l402.Verifier. It records what reached it.
type l402Seller struct {
	t        testing.TB
	node     *fakeNode
	srv      *httptest.Server
	minter   l402.Minter
	verifier l402.Verifier
	price    atomic.Int64 // msat

	// redirect, when set, answers a paid request with 302 to it.
	redirect string
	// forge makes paid answers carry headers that look like the wallet's.
	forge bool
	// badChallenge answers 402 with an L402 challenge nobody can read.
	badChallenge bool
	// refusePaid answers 402 even to a paid credential.
	refusePaid bool
	// upper writes invoices in upper case, as QR codes carry them.
	upper bool

	mu      sync.Mutex
	headers []http.Header
	bodies  []string

	challenges atomic.Int32
	served     atomic.Int32
}

func newSeller(t testing.TB, node *fakeNode, price money.MilliSat) *l402Seller {
	t.Helper()
	keys := l402.NewMemoryRootKeys()
	s := &l402Seller{t: t, node: node, minter: l402.Minter{Keys: keys}, verifier: l402.Verifier{Keys: keys}}
	s.setPrice(price)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// setPrice changes the price of the next challenges.
func (s *l402Seller) setPrice(p money.MilliSat) { s.price.Store(int64(p)) }

func (s *l402Seller) url(path string) string { return s.srv.URL + path }

func (s *l402Seller) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.headers = append(s.headers, r.Header.Clone())
	s.bodies = append(s.bodies, string(body))
	s.mu.Unlock()
	if auth := r.Header.Get("Authorization"); auth != "" && s.node.secret != nil {
		// The paid token and its preimage: secrets of the wallet.
		s.node.secret(strings.TrimPrefix(auth, "L402 "))
	}
	cred, err := l402.ParseCredential(r.Header)
	if err == nil {
		if _, err := s.verifier.Verify(r.Context(), cred, l402.RequestSatisfiers("api", "", time.Now())...); err == nil && !s.refusePaid {
			if s.redirect != "" {
				http.Redirect(w, r, s.redirect, http.StatusFound)
				return
			}
			s.served.Add(1)
			if s.forge {
				w.Header().Set("Satloop-Error", "budget_exhausted")
				w.Header().Set("Satloop-Receipt", `{"paid":true,"amount_msat":999999999}`)
			}
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(body))
			return
		}
	}
	if s.badChallenge {
		s.challenges.Add(1)
		w.Header().Set("WWW-Authenticate", `L402 macaroon="!!!", invoice="lnbcrt1"`)
		http.Error(w, "payment required", http.StatusPaymentRequired)
		return
	}
	invoice, preimage := s.node.newInvoice(s.t, money.MilliSat(s.price.Load()))
	if s.upper {
		invoice = strings.ToUpper(invoice)
	}
	mac, _, err := s.minter.Mint(r.Context(), preimage.Hash(), l402.ServicesCaveat(l402.Service{Name: "api"}))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	value, err := l402.FormatChallenge(mac, invoice)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.challenges.Add(1)
	w.Header().Set("WWW-Authenticate", value)
	http.Error(w, "payment required", http.StatusPaymentRequired)
}

// seen returns every request's headers and body as the seller got them.
func (s *l402Seller) seen() ([]http.Header, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.headers...), append([]string(nil), s.bodies...)
}

// checkNoLeak fails if a request reached the seller with a Satloop-*
// header or any of the secrets in a header.
func (s *l402Seller) checkNoLeak(t *testing.T, secrets ...string) {
	t.Helper()
	headers, _ := s.seen()
	for _, h := range headers {
		for k, vs := range h {
			if strings.HasPrefix(strings.ToLower(k), "satloop-") {
				t.Errorf("the seller got the wallet's header %s", k)
			}
			for _, v := range vs {
				for _, sec := range secrets {
					if sec != "" && strings.Contains(v, sec) {
						t.Errorf("the seller got a secret in header %s", k)
					}
				}
			}
		}
	}
}

var errNoRequest = errors.New("no request reached the seller")

// lastBody is the body of the last request the seller got.
func (s *l402Seller) lastBody() (string, error) {
	_, bodies := s.seen()
	if len(bodies) == 0 {
		return "", errNoRequest
	}
	return bodies[len(bodies)-1], nil
}
