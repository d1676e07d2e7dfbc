//go:build lab

package lab_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lab/labtest"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
	"gopkg.in/macaroon.v2"
)

// Aperture v0.4.2 in front of an upstream, selling with the seller's
// invoices: 402 with a challenge our parser reads, an invoice for the
// configured price whose hash is the macaroon's, and after the agent pays,
// the upstream's answer for the credential, as often as it is presented.
func TestAperturePaidRequest(t *testing.T) {
	const body = "the paid resource\n"
	var upstreamHits atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		io.WriteString(w, body)
	}))
	t.Cleanup(upstream.Close)

	start := time.Now()
	price := money.Sats(10)
	ap := labtest.Aperture(t, upstream.URL, price)
	t.Logf("aperture ready at %s in %s (build included when not cached)", ap.URL(), time.Since(start).Round(time.Millisecond))

	resp := get(t, ap.URL()+"/resource", "")
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("unpaid request: status %d, want 402", resp.StatusCode)
	}
	if n := upstreamHits.Load(); n != 0 {
		t.Fatalf("upstream saw %d unpaid requests, want 0", n)
	}
	challenges, err := l402.ParseChallenges(resp.Header.Values("WWW-Authenticate")...)
	if err != nil {
		t.Fatalf("parse Aperture's challenge: %v", err)
	}
	ch := challenges[0]
	inv, err := lightning.DecodeInvoice(ch.Invoice, lightning.Regtest)
	if err != nil {
		t.Fatalf("decode Aperture's invoice: %v", err)
	}
	if !inv.HasAmount || inv.Amount != price {
		t.Fatalf("invoice amount %s (present: %v), want %s", inv.Amount, inv.HasAmount, price)
	}
	if inv.Hash != ch.ID.PaymentHash {
		t.Fatalf("invoice hash %s differs from the macaroon's %s", inv.Hash, ch.ID.PaymentHash)
	}
	if inv.Destination != labtest.Network(t).Node(lab.Seller).Pubkey {
		t.Fatalf("invoice pays %s, want the seller node", inv.Destination)
	}

	ctx := labtest.Context(t)
	pay, err := labtest.Conn(t, lab.Agent).Pay(ctx, lightning.PayRequest{
		Invoice: ch.Invoice,
		MaxFee:  money.Sats(10),
		Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("agent pays Aperture's invoice: %v", err)
	}
	if pay.Status != lightning.PaymentSucceeded {
		t.Fatalf("payment %+v did not succeed", pay)
	}
	auth, err := l402.FormatAuthorization(l402.Credential{Macaroons: []*macaroon.Macaroon{ch.Macaroon}, Preimage: pay.Preimage})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		resp := get(t, ap.URL()+"/resource", auth)
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(got) != body {
			t.Fatalf("paid request %d: status %d body %q, want 200 %q", i+1, resp.StatusCode, got, body)
		}
	}
	if n := upstreamHits.Load(); n != 2 {
		t.Fatalf("upstream saw %d requests, want the 2 paid ones", n)
	}

	// The database is where the configuration says: the key Aperture
	// reads is not the one its sample config shows.
	if _, err := os.Stat(filepath.Join(ap.Dir(), "aperture.db")); err != nil {
		t.Fatalf("Aperture's database is not in its directory: %v", err)
	}
}

func get(t *testing.T, url, authorization string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(labtest.Context(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
