package cli

import "errors"

// ExitCode is the process status satloop ends with. Agents branch on it, so
// a code keeps its meaning across releases.
type ExitCode int

const (
	// ExitOK means the command did what was asked.
	ExitOK ExitCode = 0
	// ExitError means the command failed; the message on stderr says why.
	ExitError ExitCode = 1
	// ExitUsage means the command line was wrong (unknown command or flag,
	// bad arguments): retrying the same line cannot succeed.
	ExitUsage ExitCode = 2
)

// usageError marks an error as the caller's mistake on the command line.
type usageError struct {
	err error
	// cmdPath names the command whose --help explains the right usage.
	cmdPath string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitCodeFor is the one place that maps an error to an exit code.
func exitCodeFor(err error) ExitCode {
	var usage *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage):
		return ExitUsage
	default:
		return ExitError
	}
}
