package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/lab"
)

func newCmdLabStatus(opts *labOptions, runF func(*labOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show whether the lab runs, its block height, channels and balances",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			st, err := lab.StatusOf(cmd.Context(), opts.Dir)
			if err != nil {
				return err
			}
			if opts.wantJSON() {
				return printJSON(opts.IO, st)
			}
			return printLabStatus(opts.IO, st)
		},
	}
}

func printLabStatus(io *IO, st lab.Status) error {
	out := io.Out
	if !st.Exists {
		fmt.Fprintf(out, "no lab in %s; start one with 'satloop lab up'\n", st.Dir)
		return nil
	}
	state := "up"
	if !st.Ready {
		state = "not ready"
	}
	fmt.Fprintf(out, "lab %s in %s, block height %d\n", state, st.Dir, st.BlockHeight)
	fmt.Fprintf(out, "  %-7s pid %-7d %s\n", "btcd", st.Btcd.PID, running(st.Btcd.Running))
	for _, n := range st.Nodes {
		fmt.Fprintf(out, "  %-7s pid %-7d %s", n.Name, n.Process.PID, running(n.Process.Running))
		if n.Info != nil && n.Balances != nil {
			fmt.Fprintf(out, ", %d channels, %d sats in channels, %d sats on chain",
				len(n.Channels), n.Balances.ChannelLocal.Sats(), n.Balances.OnChainConfirmed.Sats())
		}
		fmt.Fprintln(out)
	}
	for _, p := range st.Problems {
		fmt.Fprintf(out, "  problem: %s\n", p)
	}
	return nil
}

func running(ok bool) string {
	if ok {
		return "running"
	}
	return "stopped"
}
