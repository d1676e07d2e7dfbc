package client_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

// challengeServer is a Base that answers every request without a
// credential with 402 and the given WWW-Authenticate values, and every
// request with one with 200.
type challengeServer struct{ values []string }

func (c challengeServer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: req}
	if req.Header.Get("Authorization") == "" {
		resp.StatusCode = http.StatusPaymentRequired
		resp.Header["Www-Authenticate"] = c.values
	}
	return resp, nil
}

// checkingPayer pays anything, and fails the test if the Transport ever
// asks it to pay what it must have refused.
type checkingPayer struct {
	t    *testing.T
	pays atomic.Int32
}

func (p *checkingPayer) DecodeInvoice(payreq string) (lightning.Invoice, error) {
	return lightning.DecodeInvoice(payreq, lightning.Regtest)
}

func (p *checkingPayer) Pay(_ context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	p.pays.Add(1)
	inv, err := p.DecodeInvoice(req.Invoice)
	if err != nil {
		p.t.Fatalf("asked to pay an invoice that does not decode: %v", err)
	}
	if !inv.HasAmount || inv.Amount <= 0 || inv.Amount > client.DefaultMaxPrice || inv.Expired(time.Now()) {
		p.t.Fatalf("asked to pay %+v", inv)
	}
	return lightning.Payment{}, &lightning.PaymentError{Payment: lightning.Payment{Hash: inv.Hash, Status: lightning.PaymentFailed}}
}

func (p *checkingPayer) TrackPayment(context.Context, l402.PaymentHash) (lightning.Payment, error) {
	return lightning.Payment{}, lightning.ErrPaymentNotFound
}

// FuzzChallenge feeds hostile WWW-Authenticate values to the Transport:
// it must never panic, and never hand the payer an invoice it should have
// refused. Seeds include real challenges, so the fuzzer mutates from
// payable ones.
func FuzzChallenge(f *testing.F) {
	s := newTestSeller(f)
	mint := func(price money.MilliSat, hashFromToken bool) string {
		var pre l402.Preimage
		copy(pre[:], "fuzz seed preimage, 32 bytes ok")
		hash := pre.Hash()
		invHash := hash
		if !hashFromToken {
			invHash[0] ^= 1
		}
		mac, _, err := s.minter.Mint(context.Background(), hash, l402.ServicesCaveat(l402.Service{Name: "api"}))
		if err != nil {
			f.Fatal(err)
		}
		v, err := l402.FormatChallenge(mac, signInvoice(f, s.net, invHash, price, time.Now().Add(24*time.Hour*365*50), time.Hour))
		if err != nil {
			f.Fatal(err)
		}
		return v
	}
	f.Add(mint(money.Sats(10), true), "")
	f.Add(mint(money.Sats(10), false), "")
	f.Add(mint(0, true), "")
	f.Add(mint(money.Sats(5000), true), `LSAT macaroon="", invoice=""`)
	f.Add(`L402 macaroon="AgEE", invoice="lnbcrt1"`, `Payment realm="x"`)
	store := openStore(f, "")
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		payer := &checkingPayer{t: t}
		tr := &client.Transport{Base: challengeServer{values: []string{v1, v2}}, Payer: payer, Store: store}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://seller.test/v1/x", nil)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
	})
}
