//go:build lab

package lnd_test

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lab/labtest"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

// BenchmarkPay measures sequential payments over the lab, the floor every
// paid HTTP call sits on. Run with -benchtime=50x for the figures in
// docs/benchmarks.md. Invoices are created before the timer starts: only
// paying is measured. lncli is the reference a shell user would get (its
// process start included).
func BenchmarkPay(b *testing.B) {
	agent := labtest.Conn(b, lab.Agent)
	payWithAdapter := func(ctx context.Context, payreq string) error {
		_, err := agent.Pay(ctx, lightning.PayRequest{Invoice: payreq, MaxFee: money.Sats(50), Timeout: 30 * time.Second})
		return err
	}
	env, err := labtest.Network(b).Env()
	if err != nil {
		b.Fatal(err)
	}
	lncli := env.Nodes[slices.IndexFunc(env.Nodes, func(n lab.NodeEnv) bool { return n.Name == lab.Agent })].LNCLI
	payWithLNCLI := func(ctx context.Context, payreq string) error {
		args := append(slices.Clone(lncli[1:]), "payinvoice", "--force", "--fee_limit=50", payreq)
		return exec.CommandContext(ctx, lncli[0], args...).Run()
	}

	for _, bc := range []struct {
		name string
		to   string
		pay  func(context.Context, string) error
	}{
		{"adapter/1-hop", lab.Router, payWithAdapter},
		{"adapter/2-hop", lab.Seller, payWithAdapter},
		{"lncli/2-hop", lab.Seller, payWithLNCLI},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			invoices := make([]string, b.N)
			for i := range invoices {
				invoices[i] = invoice(b, bc.to, money.Sats(10), time.Hour).PaymentRequest
			}
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if err := bc.pay(ctx, invoices[i]); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
			b.ReportMetric(ms(took[(len(took)*99-1)/100]), "p99-ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
