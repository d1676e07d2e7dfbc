package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/lab"
)

type labMineOptions struct {
	*labOptions
	Blocks int
}

func newCmdLabMine(lopts *labOptions, runF func(*labMineOptions) error) *cobra.Command {
	opts := &labMineOptions{labOptions: lopts}
	return &cobra.Command{
		Use:   "mine N",
		Short: "Mine N blocks (1 to 10000) on the lab's chain",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{err: fmt.Errorf("%s takes one argument, the number of blocks", cmd.CommandPath()), cmdPath: cmd.CommandPath()}
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 || n > 10_000 {
				return &usageError{err: fmt.Errorf("%s: %q is not a number of blocks between 1 and 10000", cmd.CommandPath(), args[0]), cmdPath: cmd.CommandPath()}
			}
			opts.Blocks = n
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			net, err := lab.Open(opts.Dir)
			if err != nil {
				return err
			}
			defer net.Close()
			height, err := net.Mine(cmd.Context(), opts.Blocks)
			if err != nil {
				return err
			}
			if opts.wantJSON() {
				return printJSON(opts.IO, map[string]any{"mined": opts.Blocks, "height": height})
			}
			fmt.Fprintf(opts.IO.Out, "mined %d blocks; height %d\n", opts.Blocks, height)
			return nil
		},
	}
}
