package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// run executes the command line as Main does, with buffers for streams.
func run(t *testing.T, tty bool, args ...string) (stdout, stderr string, code ExitCode) {
	t.Helper()
	var out, errOut bytes.Buffer
	io := &IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, IsTerminal: tty}
	code = Main(context.Background(), args, io)
	return out.String(), errOut.String(), code
}

func TestMainUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// wantMsg is the whole first stderr line.
		wantMsg  string
		wantHint string
	}{
		{
			name:     "unknown command",
			args:     []string{"bogus"},
			wantMsg:  `satloop: unknown command "bogus" for "satloop"`,
			wantHint: "Run 'satloop --help' for usage.",
		},
		{
			name:     "misspelled command suggests",
			args:     []string{"verson"},
			wantMsg:  `satloop: unknown command "verson" for "satloop"; did you mean version?`,
			wantHint: "Run 'satloop --help' for usage.",
		},
		{
			name:     "unknown root flag",
			args:     []string{"--bogus"},
			wantMsg:  "satloop: unknown flag: --bogus",
			wantHint: "Run 'satloop --help' for usage.",
		},
		{
			name:     "unknown subcommand flag",
			args:     []string{"version", "--bogus"},
			wantMsg:  "satloop: unknown flag: --bogus",
			wantHint: "Run 'satloop version --help' for usage.",
		},
		{
			name:     "bad flag value",
			args:     []string{"version", "--json=maybe"},
			wantMsg:  `satloop: invalid argument "maybe" for "--json" flag: strconv.ParseBool: parsing "maybe": invalid syntax`,
			wantHint: "Run 'satloop version --help' for usage.",
		},
		{
			name:     "stray argument",
			args:     []string{"version", "extra"},
			wantMsg:  `satloop: satloop version takes no arguments, got "extra"`,
			wantHint: "Run 'satloop version --help' for usage.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(t, true, tt.args...)
			if code != ExitUsage {
				t.Errorf("exit code = %d, want %d", code, ExitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing: errors are not data", stdout)
			}
			want := tt.wantMsg + "\n" + tt.wantHint + "\n"
			if stderr != want {
				t.Errorf("stderr =\n%s\nwant\n%s", stderr, want)
			}
		})
	}
}

func TestMainHelp(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantText string
	}{
		{"root --help", []string{"--help"}, "Available Commands:"},
		{"root -h", []string{"-h"}, "Available Commands:"},
		{"no arguments", nil, "Available Commands:"},
		{"version --help", []string{"version", "--help"}, "--json"},
		{"help version", []string{"help", "version"}, "--json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(t, false, tt.args...)
			if code != ExitOK {
				t.Errorf("exit code = %d, want %d", code, ExitOK)
			}
			if !strings.Contains(stdout, tt.wantText) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantText, stdout)
			}
			if stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
		})
	}
}

// TestRootListsWorkingCommands guards against placeholder commands: a
// command appears when it works.
func TestRootListsWorkingCommands(t *testing.T) {
	root := newCmdRoot(&IO{})
	var names []string
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	if got := strings.Join(names, ","); got != "bake,gate,get,history,lab,tokens,version,wallet" {
		t.Errorf("available commands = %s, want bake,gate,get,history,lab,tokens,version,wallet", got)
	}
}

func TestExitCodeFor(t *testing.T) {
	usage := &usageError{err: errors.New("unknown flag: --x"), cmdPath: "satloop"}
	tests := []struct {
		name string
		err  error
		want ExitCode
	}{
		{"nil", nil, ExitOK},
		{"plain error", errors.New("boom"), ExitError},
		{"usage error", usage, ExitUsage},
		{"wrapped usage error", fmt.Errorf("cli: %w", usage), ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCodeFor(tt.err); got != tt.want {
				t.Errorf("exitCodeFor(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestMainVersionFormat(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		tty      bool
		wantJSON bool
	}{
		{"terminal default is text", []string{"version"}, true, false},
		{"pipe default is JSON", []string{"version"}, false, true},
		{"--json on a terminal", []string{"version", "--json"}, true, true},
		{"--json on a pipe", []string{"version", "--json"}, false, true},
		{"--json=false on a pipe", []string{"version", "--json=false"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(t, tt.tty, tt.args...)
			if code != ExitOK || stderr != "" {
				t.Fatalf("exit code %d, stderr %q", code, stderr)
			}
			var info buildInfo
			isJSON := json.Unmarshal([]byte(stdout), &info) == nil
			if isJSON != tt.wantJSON {
				t.Fatalf("JSON output = %v, want %v; stdout:\n%s", isJSON, tt.wantJSON, stdout)
			}
			if isJSON && (info.Version == "" || info.GoVersion == "" || info.OS == "" || info.Arch == "") {
				t.Errorf("JSON lacks fields: %+v", info)
			}
			if !isJSON && !strings.HasPrefix(stdout, "satloop ") {
				t.Errorf("text output does not start with the name:\n%s", stdout)
			}
		})
	}
}
