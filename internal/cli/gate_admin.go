package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// gateRevokeOptions is `satloop gate revoke` once parsed.
type gateRevokeOptions struct {
	IO      *IO
	TokenID l402.TokenID
	Reason  string
	Admin   adminClientOptions
}

func newCmdGateRevoke(io *IO, runF func(*gateRevokeOptions) error) *cobra.Command {
	opts := &gateRevokeOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "revoke TOKEN_ID",
		Short: "Revoke a token sold by a running gateway",
		Long: `Revoke a token: the gateway refuses it from now on (402), on every instance
sharing its store within one revocation_refresh, at once on routes with a
quota. TOKEN_ID is the 64-hex id listed by 'satloop gate sales' and sent to
the upstream in X-L402-Token-Id.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{err: fmt.Errorf("want one TOKEN_ID, got %d arguments", len(args)), cmdPath: cmd.CommandPath()}
			}
			id, err := l402.ParseTokenID(args[0])
			if err != nil {
				return &usageError{err: err, cmdPath: cmd.CommandPath()}
			}
			opts.TokenID = id
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Admin.JSONSet = cmd.Flags().Changed("json")
			if runF != nil {
				return runF(opts)
			}
			c, err := opts.Admin.client()
			if err != nil {
				return err
			}
			res, err := c.Revoke(cmd.Context(), opts.TokenID, opts.Reason)
			if err != nil {
				return err
			}
			if wantJSON(io, opts.Admin.JSON, opts.Admin.JSONSet) {
				return printJSON(io, res)
			}
			fmt.Fprintf(io.Out, "revoked %s\n", res.TokenID)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Reason, "reason", "", "why, kept with the revocation")
	addAdminClientFlags(cmd, &opts.Admin)
	return cmd
}

// gateSalesOptions is `satloop gate sales` once parsed.
type gateSalesOptions struct {
	IO    *IO
	Since string
	Limit int
	Admin adminClientOptions
}

func newCmdGateSales(io *IO, runF func(*gateSalesOptions) error) *cobra.Command {
	opts := &gateSalesOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "sales",
		Short: "List recent sales of a running gateway, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Admin.JSONSet = cmd.Flags().Changed("json")
			since, err := parseSince(opts.Since, time.Now())
			if err != nil {
				return &usageError{err: err, cmdPath: cmd.CommandPath()}
			}
			if opts.Limit < 1 || opts.Limit > 10000 {
				return &usageError{err: fmt.Errorf("--limit %d: want 1 to 10000", opts.Limit), cmdPath: cmd.CommandPath()}
			}
			if runF != nil {
				return runF(opts)
			}
			c, err := opts.Admin.client()
			if err != nil {
				return err
			}
			rep, err := c.Sales(cmd.Context(), since, opts.Limit)
			if err != nil {
				return err
			}
			if wantJSON(io, opts.Admin.JSON, opts.Admin.JSONSet) {
				return printJSON(io, rep)
			}
			printSales(io, rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Since, "since", "", "only sales since this long ago (24h, 30m), this date (2026-11-25) or this time (RFC 3339); default all")
	cmd.Flags().IntVar(&opts.Limit, "limit", 100, "at most this many sales")
	addAdminClientFlags(cmd, &opts.Admin)
	return cmd
}

func printSales(io *IO, rep gate.SalesReport) {
	for _, s := range rep.Sales {
		fmt.Fprintf(io.Out, "%s  %-12s %10s  %s\n", s.At.Local().Format(time.DateTime), s.Route, s.Amount, s.TokenID)
	}
	fmt.Fprintf(io.Out, "%d sales, %s\n", rep.Count, money.MilliSat(rep.Total))
}
