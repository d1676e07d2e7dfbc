package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/money"
)

type historyOptions struct {
	buyerOptions
	// Since keeps payments made at or after it; zero keeps all.
	Since    time.Time
	rawSince string
	Host     string
	Limit    int
}

func newCmdHistory(io *IO) *cobra.Command {
	opts := &historyOptions{buyerOptions: buyerOptions{IO: io}}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show the spend log: every payment 'satloop get' made or tried",
		Long: `Show the spend log, newest first: time, URL (without query), host,
amount, routing fee, payment hash and status of every payment 'satloop get'
recorded. A payment is recorded before it is made, so one cut short by a
crash shows as pending until the next 'satloop get' resolves it with the
node.

Statuses: succeeded (paid; the token was stored), failed (the node gave
up; nothing spent), not_sent (the node never saw it; nothing spent),
pending (outcome not known yet).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := noArgs(cmd, args); err != nil {
				return err
			}
			if opts.Limit < 0 {
				return &usageError{err: fmt.Errorf("%s: --limit cannot be negative", cmd.CommandPath()), cmdPath: cmd.CommandPath()}
			}
			since, err := parseSince(opts.rawSince, time.Now())
			if err != nil {
				return &usageError{err: fmt.Errorf("%s: %w", cmd.CommandPath(), err), cmdPath: cmd.CommandPath()}
			}
			opts.Since = since
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.resolve(cmd); err != nil {
				return err
			}
			var payments []client.Payment
			store, err := opts.open(cmd.Context())
			switch {
			case errors.Is(err, errNoBuyerData):
			case err != nil:
				return err
			default:
				defer store.Close()
				q := client.PaymentQuery{Since: opts.Since, Host: opts.Host, Limit: opts.Limit}
				if payments, err = store.Payments(cmd.Context(), q); err != nil {
					return err
				}
			}
			if payments == nil {
				payments = []client.Payment{}
			}
			if opts.wantJSON() {
				return printJSON(opts.IO, payments)
			}
			return printHistory(opts.IO, payments)
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().StringVar(&opts.rawSince, "since", "", "only payments made within a duration (24h, 30m) or since a date (2026-11-25, or RFC 3339)")
	cmd.Flags().StringVar(&opts.Host, "host", "", "only payments to this host (host or host:port, as in the URL)")
	cmd.Flags().IntVar(&opts.Limit, "limit", 0, "show at most this many payments; 0 means all")
	return cmd
}

// printHistory renders the spend log as a table with a total.
func printHistory(io *IO, payments []client.Payment) error {
	if len(payments) == 0 {
		fmt.Fprintln(io.Out, "no payments")
		return nil
	}
	w := tabwriter.NewWriter(io.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tSTATUS\tAMOUNT\tFEE\tHOST\tPAYMENT HASH\tURL")
	var spent, fees money.MilliSat
	for _, p := range payments {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.CreatedAt.UTC().Format(time.RFC3339), p.Status,
			p.Amount, p.Fee, p.Host, p.Hash, p.URL)
		if p.Status == client.PaymentSucceeded {
			spent += p.Amount
			fees += p.Fee
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "spent %s plus %s in fees over %d payments shown\n",
		spent, fees, len(payments))
	return nil
}

// parseSince reads --since: a duration back from now, or a date or time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %s: a duration back from now cannot be negative", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q is neither a duration (24h) nor a date (2026-11-25) or RFC 3339 time", s)
}
