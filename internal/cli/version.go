package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at link time by `make build`:
//
//	-ldflags "-X github.com/satloop/satloop/internal/cli.version=v0.1.0"
//
// Empty means "ask the Go toolchain" (see readBuild).
var version string

// buildInfo describes the running binary. Field names are part of the JSON
// output that scripts read.
type buildInfo struct {
	Version string `json:"version"`
	// Commit is the VCS revision, empty when the build did not record one.
	Commit string `json:"commit"`
	// Modified reports uncommitted changes in the tree the binary was
	// built from.
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

type versionOptions struct {
	IO *IO
	// Build returns what to report; tests substitute a fixed value.
	Build func() buildInfo
	// JSON is the --json flag; JSONSet whether it was given at all, since
	// only an explicit choice overrides the terminal-based default.
	JSON    bool
	JSONSet bool
}

// newCmdVersion builds `satloop version`. runF replaces runVersion in tests
// that check flag parsing alone; nil means runVersion.
func newCmdVersion(io *IO, runF func(*versionOptions) error) *cobra.Command {
	opts := &versionOptions{IO: io, Build: currentBuild}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of satloop",
		Long: `Print satloop's version, VCS commit, Go version and platform.

Output is JSON when --json is given, or when stdout is not a terminal and
--json was not set either way.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSONSet = cmd.Flags().Changed("json")
			if runF != nil {
				return runF(opts)
			}
			return runVersion(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON (the default when stdout is not a terminal)")
	return cmd
}

func runVersion(opts *versionOptions) error {
	info := opts.Build()
	if wantJSON(opts.IO, opts.JSON, opts.JSONSet) {
		if err := json.NewEncoder(opts.IO.Out).Encode(info); err != nil {
			return fmt.Errorf("cli: version: %w", err)
		}
		return nil
	}
	commit := info.Commit
	switch {
	case commit == "":
		commit = "unknown"
	case info.Modified:
		commit += " (modified)"
	}
	_, err := fmt.Fprintf(opts.IO.Out, "satloop %s\ncommit:   %s\ngo:       %s\nplatform: %s/%s\n",
		info.Version, commit, info.GoVersion, info.OS, info.Arch)
	if err != nil {
		return fmt.Errorf("cli: version: %w", err)
	}
	return nil
}

// wantJSON applies the output rule every command shares: an explicit
// --json or --json=false wins, otherwise JSON exactly when stdout is not a
// terminal.
func wantJSON(io *IO, flag, flagSet bool) bool {
	if flagSet {
		return flag
	}
	return !io.IsTerminal
}

func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return readBuild(version, bi)
}

// readBuild prefers the link-time version, then the module version the Go
// toolchain recorded (set by `go install ...@vX`), then "devel". The commit
// comes from the VCS stamp `go build` adds inside a git checkout. bi may be
// nil when the binary carries no build information.
func readBuild(linked string, bi *debug.BuildInfo) buildInfo {
	info := buildInfo{Version: linked, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	return info
}
