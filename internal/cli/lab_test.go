package cli

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/satloop/satloop/lab"
)

func TestLabArgs(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		wantCode ExitCode
		wantErr  string
	}{
		{"mine without N", []string{"lab", "mine"}, ExitUsage, "takes one argument"},
		{"mine zero", []string{"lab", "mine", "0"}, ExitUsage, "between 1 and 10000"},
		{"mine words", []string{"lab", "mine", "ten"}, ExitUsage, "between 1 and 10000"},
		{"mine too many", []string{"lab", "mine", "10001"}, ExitUsage, "between 1 and 10000"},
		{"pay without amount", []string{"lab", "pay"}, ExitUsage, "amount in sats"},
		{"pay negative", []string{"lab", "pay", "-5"}, ExitUsage, "unknown shorthand flag"},
		{"pay fraction", []string{"lab", "pay", "1.5"}, ExitUsage, "positive whole number"},
		{"pay zero", []string{"lab", "pay", "0"}, ExitUsage, "positive whole number"},
		{"pay unknown node", []string{"lab", "pay", "10", "--from", "mallory"}, ExitUsage, `no node "mallory"`},
		{"pay self", []string{"lab", "pay", "10", "--from", "seller"}, ExitUsage, "both"},
		{"env shell and json", []string{"lab", "env", "--shell", "--json"}, ExitUsage, "give one"},
		{"up takes no args", []string{"lab", "up", "now"}, ExitUsage, "takes no arguments"},
		// Commands that need a running lab say how to start one.
		{"pay without lab", []string{"lab", "pay", "10"}, ExitError, "satloop lab up"},
		{"mine without lab", []string{"lab", "mine", "1"}, ExitError, "satloop lab up"},
		{"env without lab", []string{"lab", "env"}, ExitError, "satloop lab up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args, "--dir", dir)
			_, stderr, code := run(t, false, args...)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("stderr %q does not say %q", stderr, tt.wantErr)
			}
		})
	}
}

// With no lab in the directory, down succeeds (it is idempotent) and
// status reports that nothing exists.
func TestLabDownAndStatusWithoutLab(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		if _, stderr, code := run(t, true, "lab", "down", "--dir", dir); code != ExitOK {
			t.Fatalf("lab down: exit %d: %s", code, stderr)
		}
	}
	stdout, stderr, code := run(t, false, "lab", "status", "--dir", dir)
	if code != ExitOK {
		t.Fatalf("lab status: exit %d: %s", code, stderr)
	}
	var st lab.Status
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("lab status output is not JSON: %v\n%s", err, stdout)
	}
	if st.Exists || st.Ready || st.Dir != dir {
		t.Fatalf("status of an empty directory = %+v", st)
	}
	stdout, _, _ = run(t, true, "lab", "status", "--dir", dir)
	if !strings.Contains(stdout, "no lab in") {
		t.Fatalf("human status = %q", stdout)
	}
}

// The shell form must survive a real shell, quotes and spaces included.
func TestWriteShellEnvEvaluates(t *testing.T) {
	env := lab.Env{
		Dir: "/tmp/lab with space",
		Nodes: []lab.NodeEnv{{
			Name:         "agent",
			Pubkey:       "02abc",
			RPCAddr:      "127.0.0.1:10009",
			TLSCertPath:  "/tmp/it's/tls.cert",
			MacaroonPath: "/tmp/lab with space/admin.macaroon",
			LNDConnect:   "lndconnect://127.0.0.1:10009?cert=abc&macaroon=def",
			LNCLI:        []string{"/bin/echo", "--rpcserver=127.0.0.1:10009", "--tlscertpath=/tmp/it's/tls.cert"},
		}},
	}
	var b bytes.Buffer
	if err := writeShellEnv(&b, env); err != nil {
		t.Fatal(err)
	}
	script := b.String() + `
shopt -s expand_aliases
printf '%s\n' "$SATLOOP_LAB_DIR" "$AGENT_LND_HOST" "$AGENT_LND_TLSCERT" "$AGENT_LND_CONNECT"
` + "lncli-agent getinfo\n"
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s\nscript:\n%s", err, out, script)
	}
	want := strings.Join([]string{
		"/tmp/lab with space",
		"127.0.0.1:10009",
		"/tmp/it's/tls.cert",
		"lndconnect://127.0.0.1:10009?cert=abc&macaroon=def",
		"--rpcserver=127.0.0.1:10009 --tlscertpath=/tmp/it's/tls.cert getinfo",
	}, "\n") + "\n"
	if string(out) != want {
		t.Fatalf("shell saw:\n%s\nwant:\n%s", out, want)
	}
}
