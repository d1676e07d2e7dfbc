// Package cli is the satloop command line: one file per command, each an
// options struct filled by flag parsing and a run function that does the
// work, so that tests can check either half alone.
package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Main runs the command line args (without the program name) and returns
// the exit code. It prints any error once, to io.ErrOut.
func Main(ctx context.Context, args []string, io *IO) ExitCode {
	root := newCmdRoot(io)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(io.ErrOut, "satloop: %s\n", err)
		var usage *usageError
		if errors.As(err, &usage) {
			fmt.Fprintf(io.ErrOut, "Run '%s --help' for usage.\n", usage.cmdPath)
		}
	}
	return exitCodeFor(err)
}

func newCmdRoot(io *IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "satloop",
		Short: "Pay for and sell HTTP APIs over Lightning with L402",
		Long: `satloop lets software pay for what it uses, and sell what it serves, over
Bitcoin's Lightning Network with the L402 protocol.

Output is JSON when stdout is not a terminal; exit codes are 0 (ok),
1 (error) and 2 (usage error), and for 'satloop get' 3 to 9 (see its --help).`,
		// Errors are printed once, by Main, in one format; cobra would
		// print them again along with the whole usage text.
		SilenceErrors: true,
		SilenceUsage:  true,
		// The root runs so that a stray argument reaches Args, which marks
		// it as a usage error; a root without Run lets cobra report it as
		// a plain error, indistinguishable from a failure.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return &usageError{err: errors.New(msg), cmdPath: cmd.CommandPath()}
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	// Subcommands inherit this: a bad flag anywhere is a usage error.
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{err: err, cmdPath: cmd.CommandPath()}
	})
	// Shell completion is not a command satloop offers yet. cobra's own
	// "help" command stays: "satloop help version" is what people type.
	root.CompletionOptions.DisableDefaultCmd = true
	// cobra applies its default distance only on its own error path,
	// which the Args function above replaces.
	root.SuggestionsMinimumDistance = 2

	root.AddCommand(
		newCmdVersion(io, nil),
		newCmdLab(io),
		newCmdGet(io, nil),
		newCmdTokens(io),
		newCmdHistory(io),
		newCmdGate(io),
		newBakeCmd(io),
		newCmdWallet(io),
	)

	return root
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{
			err:     fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0]),
			cmdPath: cmd.CommandPath(),
		}
	}
	return nil
}
