//go:build lab

package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lab/labtest"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

// BenchmarkFirstPaidCall measures what an agent waits for on the lab: a
// GET through Aperture v0.4.2 (invoices from the seller node, paid agent
// -> router -> seller) that is answered 402, checked, recorded, paid,
// stored and sent again. Each iteration asks for a new path directory, so
// each one buys a new token. In the same run: the raw payment alone (the
// seller's invoice made before the timer, as in lightning/lnd's
// BenchmarkPay) and a call with the token held. Run with -benchtime=50x
// for the figures in docs/benchmarks.md.
func BenchmarkFirstPaidCall(b *testing.B) {
	upstream, _ := labUpstream(b)
	ap := labtest.Aperture(b, upstream, money.Sats(10))
	agent := labtest.Conn(b, lab.Agent)
	seller := labtest.Conn(b, lab.Seller)
	ctx := context.Background()

	b.Run("raw-pay/2-hop", func(b *testing.B) {
		invoices := make([]string, b.N)
		for i := range invoices {
			inv, err := seller.CreateInvoice(ctx, lightning.InvoiceRequest{Amount: money.Sats(10), Memo: "bench", Expiry: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			invoices[i] = inv.PaymentRequest
		}
		took := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			if _, err := agent.Pay(ctx, lightning.PayRequest{Invoice: invoices[i], MaxFee: money.Sats(10), Timeout: 30 * time.Second}); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start))
		}
		b.StopTimer()
		reportPercentiles(b, took)
	})

	tr, _ := labTransport(b)
	hc := &http.Client{Transport: tr}
	fetch := func(b *testing.B, url string, wantPaid bool) {
		rctx, rec := client.WithReceipt(ctx)
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || rec.Paid != wantPaid {
			b.Fatalf("%s: status %d, paid %v; want 200, paid %v", url, resp.StatusCode, rec.Paid, wantPaid)
		}
	}

	b.Run("first-paid-call/aperture/2-hop", func(b *testing.B) {
		run := time.Now().UnixNano()
		took := make([]time.Duration, 0, b.N)
		for i := range b.N {
			url := fmt.Sprintf("%s/bench-%d-%d/resource", ap.URL(), run, i)
			start := time.Now()
			fetch(b, url, true)
			took = append(took, time.Since(start))
		}
		reportPercentiles(b, took)
	})

	// Bought once: the framework runs a sub-benchmark more than once.
	held := ap.URL() + "/held/resource"
	fetch(b, held, true)
	b.Run("held-token/aperture", func(b *testing.B) {
		took := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			fetch(b, held, false)
			took = append(took, time.Since(start))
		}
		b.StopTimer()
		reportPercentiles(b, took)
	})
}

// reportPercentiles reports the p50 and p99 of took in milliseconds.
func reportPercentiles(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[(len(took)*99-1)/100]), "p99-ms")
}
