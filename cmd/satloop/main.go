// Command satloop pays for and sells HTTP APIs over Lightning with L402.
// Everything lives in internal/cli so that tests can run the whole command
// line with buffers instead of the process's streams.
package main

import (
	"context"
	"os"

	"github.com/satloop/satloop/internal/cli"
)

func main() { os.Exit(int(cli.Main(context.Background(), os.Args[1:], cli.System()))) }
