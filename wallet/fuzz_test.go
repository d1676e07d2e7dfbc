package wallet_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/satloop/satloop/bakery"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/wallet"
)

// refuseAll is a seller transport that reaches nobody: the fuzzer must
// not send requests out.
type refuseAll struct{}

var errRefused = errors.New("test: no network in the fuzz test")

func (refuseAll) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errRefused}
}

// FuzzAPI sends the daemon's API whatever the fuzzer makes, with a valid
// credential or not: every answer is 200 or the wallet's own error (a
// known code, the status that code maps to, a message), nothing is ever
// paid, and no secret comes back.
func FuzzAPI(f *testing.F) {
	h := newHarness(f, func(o *wallet.Options) { o.Base = refuseAll{} })
	_, _, cred := h.mint(f, "fuzz", bakery.Limits{Budgets: budget(1000)})
	payable, _ := h.node.newInvoice(f, money.Sats(1))
	f.Add(true, "POST", "/v1/pay", `{"invoice":"lnbcrt10n1garbage"}`, "", "")
	// The invoice with its last checksum character changed: one in 32
	// invoices already ends in "q", so pick a character it does not end in.
	broken := payable[:len(payable)-1] + "q"
	if strings.HasSuffix(payable, "q") {
		broken = payable[:len(payable)-1] + "p"
	}
	f.Add(true, "POST", "/v1/pay", `{"invoice":"`+broken+`"}`, "", "")
	f.Add(true, "POST", "/v1/pay", `{"invoice":"x","max_price_msat":-5,"extra":1}`, "", "")
	f.Add(true, "GET", "/v1/fetch", "", "http://example.com/x?k=v", "GET")
	f.Add(true, "POST", "/v1/fetch", "body", "file:///etc/passwd", "BAD METHOD")
	f.Add(true, "GET", "/v1/fetch", "", "http://[::1", "")
	f.Add(false, "GET", "/v1/allowance", "", "", "")
	f.Add(true, "GET", "/v1/payments/zz", "", "", "")
	f.Add(true, "GET", "/v1/payments/"+strings.Repeat("0", 64), "", "", "")
	f.Add(true, "POST", "/v1/invoices", `{"amount_msat":-1}`, "", "")
	f.Add(true, "POST", "/v1/invoices", `{"amount_msat":1000,"expiry_seconds":9223372036}`, "", "")
	f.Add(true, "GET", "/v1/history?limit=-3", "", "", "")
	f.Add(true, "DELETE", "/v1/allowance", "", "", "")
	handler := h.wallet.Handler()
	f.Fuzz(func(t *testing.T, withCred bool, method, path, body, target, targetMethod string) {
		// A request line always carries a path from "/".
		req, err := http.NewRequest(method, "http://wallet/"+strings.TrimPrefix(path, "/"), strings.NewReader(body))
		if err != nil {
			t.Skip()
		}
		if withCred {
			req.Header.Set(wallet.HeaderCredential, cred)
		}
		if target != "" {
			req.Header.Set(wallet.HeaderURL, target)
		}
		if targetMethod != "" {
			req.Header.Set(wallet.HeaderMethod, targetMethod)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		code := rec.Header().Get(wallet.HeaderError)
		if code == "" && rec.Code/100 == 3 && rec.Header().Get("Location") != "" {
			// The mux redirects an unclean path ("/v1//pay") to its clean
			// form, answering nothing else.
			return
		}
		if code != "" || rec.Code != http.StatusOK {
			var e wallet.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("%d answer without the wallet's error: %q", rec.Code, rec.Body.String())
			}
			if string(e.Code) != code {
				t.Errorf("header code %q, body code %q", code, e.Code)
			}
			if e.Code == wallet.CodeInternal {
				t.Errorf("internal error for %s %s: %s", method, path, e.Message)
			}
		}
		if strings.Contains(rec.Body.String(), cred) {
			t.Error("the answer repeats the credential")
		}
		if n := h.node.paidOut.Load(); n != 0 {
			t.Fatalf("the node paid %d times", n)
		}
	})
}
