// Command satloop pays for and sells HTTP APIs over Lightning with L402.
// Everything lives in internal/cli so that tests can run the whole command
// line with buffers instead of the process's streams.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/satloop/satloop/internal/cli"
)

func main() {
	// Ctrl-C or SIGTERM cancels the context, so that long commands (lab up)
	// stop what they started before exiting.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.System())
	stop()
	os.Exit(int(code))
}
