package cli

import (
	"io"
	"os"
)

// IO is every stream a command touches. Data goes to Out, chatter
// (progress, warnings, errors) to ErrOut, so that `satloop ... | jq` sees
// only data. Tests replace the streams with buffers.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// IsTerminal reports whether Out is a terminal. Commands render for
	// humans when it is and JSON when it is not, so that an agent piping
	// the output gets something it can parse without knowing about --json.
	IsTerminal bool
}

// System returns the process's standard streams.
func System() *IO {
	return &IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, IsTerminal: isTerminal(os.Stdout)}
}

// isTerminal treats any character device as a terminal. That is also true
// of /dev/null, where the format does not matter, and it avoids a
// dependency on golang.org/x/term for one ioctl.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
