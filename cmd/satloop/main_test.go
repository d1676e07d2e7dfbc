package main

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinary builds the real binary the way `make build` does and runs it,
// checking what the in-process tests cannot: the link-time version and the
// process exit status.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "satloop")
	// -buildvcs=false: the test must not depend on git being usable here.
	build := exec.Command("go", "build", "-buildvcs=false",
		"-ldflags", "-X github.com/satloop/satloop/internal/cli.version=v0.0.0-test",
		"-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantJSON   bool
		wantStdout string
		wantStderr string
	}{
		// stdout is a pipe here, so JSON is the default.
		{"version", []string{"version"}, 0, true, `"version":"v0.0.0-test"`, ""},
		{"help", []string{"--help"}, 0, false, "Usage:", ""},
		{"unknown command", []string{"nope"}, 2, false, "", `satloop: unknown command "nope"`},
		{"unknown flag", []string{"version", "--nope"}, 2, false, "", "satloop: unknown flag: --nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if exitErr, ok := errors.AsType[*exec.ExitError](err); ok {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tt.wantStdout)
			}
			if tt.wantStderr == "" && stderr.Len() > 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.wantStderr)
			}
			if tt.wantJSON && !json.Valid([]byte(stdout.String())) {
				t.Errorf("stdout is not JSON: %q", stdout.String())
			}
		})
	}
}
