package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/satloop/satloop/lightning"
)

func TestBakeLNDUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// listsPresets: the message must name every preset, so that
		// the user can pick the right one.
		listsPresets bool
	}{
		{name: "unknown preset", args: []string{"--preset", "admin"}, listsPresets: true},
		{name: "no preset", args: nil, listsPresets: true},
		{name: "empty preset", args: []string{"--preset", ""}, listsPresets: true},
		{name: "one unknown of two", args: []string{"--preset", "pay-only,admin"}, listsPresets: true},
		{name: "preset twice", args: []string{"--preset", "pay-only,pay-only"}},
		{name: "force without out", args: []string{"--preset", "pay-only", "--force"}},
		{name: "list with preset", args: []string{"--list", "--preset", "pay-only"}},
		{name: "list with out", args: []string{"--list", "--out", "x.macaroon"}},
		{name: "stray argument", args: []string{"pay-only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(t, false, append([]string{"bake", "lnd", "--lab-dir", t.TempDir()}, tt.args...)...)
			if code != ExitUsage {
				t.Fatalf("exit code = %d, want %d; stderr:\n%s", code, ExitUsage, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, "Run 'satloop bake lnd --help' for usage.") {
				t.Errorf("stderr does not point to --help:\n%s", stderr)
			}
			if tt.listsPresets {
				for _, p := range lightning.Presets {
					if !strings.Contains(stderr, string(p)) {
						t.Errorf("stderr does not name preset %s:\n%s", p, stderr)
					}
				}
			}
		})
	}
}

func TestBakeLNDParsesFlags(t *testing.T) {
	var got *bakeLNDOptions
	io := &IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
	cmd := newBakeLNDCmd(io, func(_ context.Context, o *bakeLNDOptions) error {
		got = o
		return nil
	})
	cmd.SetArgs([]string{"--preset", "pay-only, invoice-only", "--out", "w.macaroon", "--force", "--lnd-host", "h:10009"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []lightning.Preset{lightning.PresetPayOnly, lightning.PresetInvoiceOnly}
	if !slices.Equal(got.Presets, want) || got.Out != "w.macaroon" || !got.Force || got.node.host != "h:10009" {
		t.Fatalf("parsed %+v", got)
	}
	if got.node.labNode != "agent" {
		t.Errorf("default lab node %q, want agent: the buyer's node is the one a wallet daemon uses", got.node.labNode)
	}
}

// An existing --out file is refused before the node is even dialed (here
// there is no node: the lab directory is empty), and left as it was.
func TestBakeLNDRefusesToOverwrite(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pay-only.macaroon")
	if err := os.WriteFile(out, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	opts := &bakeLNDOptions{
		IO:      &IO{Out: &stdout, ErrOut: &stderr},
		Presets: []lightning.Preset{lightning.PresetPayOnly},
		Out:     out,
		node:    nodeOptions{labNode: "agent", labDir: t.TempDir(), host: "127.0.0.1:1", tlsCertPath: "x", macaroonPath: "y"},
	}
	err := runBakeLND(context.Background(), opts)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("runBakeLND over an existing file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Fatalf("the existing file now holds %q", b)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q", stdout.String())
	}

	// Through the command line: an error (exit 1), not a usage error.
	_, errOut, code := run(t, false, "bake", "lnd", "--preset", "pay-only", "--out", out, "--lab-dir", t.TempDir())
	if code != ExitError || !strings.Contains(errOut, "--force") {
		t.Fatalf("exit %d, stderr %q; want exit 1 suggesting --force", code, errOut)
	}
}

func TestCheckOut(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "exists.macaroon")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		force bool
		ok    bool
		exist bool // the error wraps fs.ErrExist
	}{
		{name: "new file", path: filepath.Join(dir, "new.macaroon"), ok: true},
		{name: "existing file", path: file, exist: true},
		{name: "existing file, force", path: file, force: true, ok: true},
		{name: "dangling symlink", path: dangling, exist: true},
		{name: "directory", path: dir},
		{name: "directory, force", path: dir, force: true},
		{name: "missing directory", path: filepath.Join(dir, "missing", "m.macaroon")},
		{name: "parent is a file", path: filepath.Join(file, "m.macaroon")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkOut(tt.path, tt.force)
			if (err == nil) != tt.ok || errors.Is(err, fs.ErrExist) != tt.exist {
				t.Fatalf("checkOut(%s, force=%v) = %v", tt.path, tt.force, err)
			}
		})
	}
}

func TestWriteMacaroon(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.macaroon")
	mode := func() fs.FileMode {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}

	if err := writeMacaroon(path, lightning.NodeMacaroon{1, 2, 3}, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, []byte{1, 2, 3}) || mode() != 0o600 {
		t.Fatalf("wrote %v with mode %v, want the macaroon with mode 0600", b, mode())
	}
	if err := writeMacaroon(path, lightning.NodeMacaroon{4}, false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write without force: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, []byte{1, 2, 3}) {
		t.Fatalf("file changed to %v without --force", b)
	}

	// --force replaces the file whole and does not keep a looser mode.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeMacaroon(path, lightning.NodeMacaroon{5, 6}, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, []byte{5, 6}) || mode() != 0o600 {
		t.Fatalf("forced write left %v with mode %v", b, mode())
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("directory holds %v, %v; want only the macaroon, no temporary file", entries, err)
	}

	if err := writeMacaroon(filepath.Join(dir, "missing", "m.macaroon"), lightning.NodeMacaroon{1}, false); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}

func TestBakeLNDList(t *testing.T) {
	stdout, stderr, code := run(t, false, "bake", "lnd", "--list")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var listed []presetListing
	if err := json.Unmarshal([]byte(stdout), &listed); err != nil {
		t.Fatalf("--list on a pipe is not JSON: %v\n%s", err, stdout)
	}
	if len(listed) != len(lightning.Presets) {
		t.Fatalf("listed %d presets, want %d", len(listed), len(lightning.Presets))
	}
	for i, p := range lightning.Presets {
		want, _ := p.Permissions()
		if listed[i].Preset != p || !slices.Equal(listed[i].Permissions, want) || listed[i].Description == "" {
			t.Errorf("listed %+v, want %s with %v", listed[i], p, want)
		}
	}

	text, _, code := run(t, true, "bake", "lnd", "--list")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, p := range lightning.Presets {
		if !strings.Contains(text, string(p)+"\n") {
			t.Errorf("--list on a terminal does not show %s:\n%s", p, text)
		}
	}
	if json.Valid([]byte(text)) {
		t.Errorf("--list on a terminal printed JSON")
	}
	forced, _, _ := run(t, true, "bake", "lnd", "--list", "--json")
	if !json.Valid([]byte(forced)) {
		t.Errorf("--list --json on a terminal is not JSON:\n%s", forced)
	}
}

func TestDescribeMacaroon(t *testing.T) {
	perms, _ := lightning.PermissionsOf(lightning.PresetChannelAdmin)
	var errOut bytes.Buffer
	describeMacaroon(&IO{ErrOut: &errOut}, bakedMacaroon{
		Presets: []lightning.Preset{lightning.PresetChannelAdmin}, Permissions: perms, Cannot: cannot(perms), Path: "c.macaroon",
	})
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("description:\n%s\nwant a headline, can, can call and cannot", errOut.String())
	}
	can, calls, no := lines[1], lines[2], lines[3]
	for _, want := range []string{"peers:write", "info:read"} {
		if !strings.Contains(can, want) {
			t.Errorf("can line %q lacks %s", can, want)
		}
	}
	if !strings.Contains(calls, "OpenChannelSync") {
		t.Errorf("can-call line %q lacks OpenChannelSync", calls)
	}
	for _, want := range []string{"offchain:write", "onchain:write", "invoices:write"} {
		if !strings.Contains(no, want) {
			t.Errorf("cannot line %q lacks %s", no, want)
		}
	}
	if got := cannot(perms); slices.ContainsFunc(got, func(p lightning.Permission) bool { return slices.Contains(perms, p) }) {
		t.Errorf("cannot(%v) = %v lists a granted permission", perms, got)
	}
}
