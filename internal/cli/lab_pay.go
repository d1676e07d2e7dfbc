package cli

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

type labPayOptions struct {
	*labOptions
	Amount   money.MilliSat
	From, To string
}

func newCmdLabPay(lopts *labOptions, runF func(*labPayOptions) error) *cobra.Command {
	opts := &labPayOptions{labOptions: lopts}
	cmd := &cobra.Command{
		Use:   "pay SATS",
		Short: "Pay a real invoice between lab nodes (default agent -> seller)",
		Long: `Make the --to node create an invoice for SATS and the --from node pay it
over the lab's channels. From agent to seller the payment goes through
router, which charges a routing fee.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{err: fmt.Errorf("%s takes one argument, the amount in sats", cmd.CommandPath()), cmdPath: cmd.CommandPath()}
			}
			amount, err := money.ParseSats(args[0])
			if err != nil || amount <= 0 {
				return &usageError{err: fmt.Errorf("%s: %q is not a positive whole number of sats", cmd.CommandPath(), args[0]), cmdPath: cmd.CommandPath()}
			}
			opts.Amount = amount
			for _, name := range []string{opts.From, opts.To} {
				if !slices.Contains(lab.NodeNames, name) {
					return &usageError{err: fmt.Errorf("%s: no node %q; the nodes are %v", cmd.CommandPath(), name, lab.NodeNames), cmdPath: cmd.CommandPath()}
				}
			}
			if opts.From == opts.To {
				return &usageError{err: fmt.Errorf("%s: --from and --to are both %q", cmd.CommandPath(), opts.From), cmdPath: cmd.CommandPath()}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runLabPay(cmd, opts)
		},
	}
	cmd.Flags().StringVar(&opts.From, "from", lab.Agent, "paying node")
	cmd.Flags().StringVar(&opts.To, "to", lab.Seller, "node that creates the invoice")
	return cmd
}

// labPayment is what `lab pay` reports.
type labPayment struct {
	lightning.Payment
	From       string `json:"from"`
	To         string `json:"to"`
	DurationMS int64  `json:"duration_ms"`
}

func runLabPay(cmd *cobra.Command, opts *labPayOptions) error {
	net, err := lab.Open(opts.Dir)
	if err != nil {
		return err
	}
	defer net.Close()
	start := time.Now()
	p, err := net.Pay(cmd.Context(), opts.From, opts.To, opts.Amount, "satloop lab pay")
	if err != nil {
		return err
	}
	out := labPayment{Payment: p, From: opts.From, To: opts.To, DurationMS: time.Since(start).Milliseconds()}
	if opts.wantJSON() {
		return printJSON(opts.IO, out)
	}
	fmt.Fprintf(opts.IO.Out, "%s paid %s %s (fee %s, %d hops) in %d ms\npayment hash %s\n",
		out.From, out.To, p.Amount, p.Fee, p.Hops, out.DurationMS, p.Hash)
	return nil
}
