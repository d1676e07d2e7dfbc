package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// startSleep starts a real process that carries marker in its command
// line, the way lab processes carry their data directory.
func startSleep(t *testing.T, dir, marker string, detach bool) *process {
	t.Helper()
	// Two commands, so that no shell replaces itself with sleep and drops
	// the marker ($0) from its command line.
	p, _, err := startProcess("sleeper", "/bin/sh", []string{"-c", "sleep 60; :", marker}, filepath.Join(dir, "sleeper.log"), marker, detach)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(p.PID, syscall.SIGKILL) })
	if !p.alive() {
		t.Fatalf("process %d not alive right after start", p.PID)
	}
	return p
}

func TestProcessStop(t *testing.T) {
	for _, detach := range []bool{false, true} {
		dir := t.TempDir()
		p := startSleep(t, dir, dir+"/marker", detach)
		if err := p.stop(context.Background(), 5*time.Second); err != nil {
			t.Fatalf("detach=%v: stop: %v", detach, err)
		}
		if p.alive() {
			t.Fatalf("detach=%v: process %d still alive after stop", detach, p.PID)
		}
		// Stopping again is a no-op.
		if err := p.stop(context.Background(), time.Second); err != nil {
			t.Fatalf("detach=%v: second stop: %v", detach, err)
		}
	}
}

// A PID whose command line lacks the marker belongs to someone else (the
// PID was reused): Down must not signal it.
func TestProcessNotOursIsLeftAlone(t *testing.T) {
	dir := t.TempDir()
	real := startSleep(t, dir, dir+"/theirs", false)
	impostor := &process{Name: "btcd", PID: real.PID, Marker: dir + "/ours"}
	if impostor.alive() {
		t.Fatal("alive() true for a process without our marker")
	}
	if err := impostor.stop(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if !real.alive() {
		t.Fatal("stop signalled a process that is not the lab's")
	}
}

func TestDownIsIdempotent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := Down(ctx, dir); err != nil {
		t.Fatalf("Down on an empty directory: %v", err)
	}

	// A state left by a crashed Up: btcd and one node started, recorded,
	// never marked ready.
	btcd := startSleep(t, dir, dir+"/btcd", true)
	node := startSleep(t, dir, dir+"/agent", true)
	st := &state{Version: stateVersion, Btcd: btcdState{Process: btcd}, Nodes: []*Node{{Name: Agent, Process: node}}}
	if err := st.write(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(statePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600 (it holds the btcd RPC password)", fi.Mode().Perm())
	}
	for i := range 2 {
		if err := Down(ctx, dir); err != nil {
			t.Fatalf("Down #%d: %v", i+1, err)
		}
	}
	if btcd.alive() || node.alive() {
		t.Fatal("Down left a lab process running")
	}
	if _, err := Open(dir); !errors.Is(err, ErrNotUp) {
		t.Fatalf("Open after Down: %v, want ErrNotUp", err)
	}
}

func TestReadStateErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"corrupt", "{not json"},
		{"future version", `{"version": 99}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(statePath(dir), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := readState(dir); err == nil {
				t.Fatal("readState accepted a bad state file")
			}
			if err := Down(context.Background(), dir); err == nil {
				t.Fatal("Down accepted a bad state file")
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		dir string
		ok  bool
	}{
		{"", false},
		{"relative/dir", false},
		{"/abs/dir", true},
	}
	for _, tt := range tests {
		if err := (Config{Dir: tt.dir}).Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(Dir=%q) = %v, want ok=%v", tt.dir, err, tt.ok)
		}
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("SATLOOP_LAB_DIR", "/tmp/some-lab")
	if dir, err := DefaultDir(); err != nil || dir != "/tmp/some-lab" {
		t.Fatalf("DefaultDir with SATLOOP_LAB_DIR = %q, %v", dir, err)
	}
	t.Setenv("SATLOOP_LAB_DIR", "")
	t.Setenv("XDG_STATE_HOME", "/state")
	if dir, err := DefaultDir(); err != nil || dir != "/state/satloop/lab" {
		t.Fatalf("DefaultDir with XDG_STATE_HOME = %q, %v", dir, err)
	}
}

func TestFreePortsDistinct(t *testing.T) {
	ports, err := freePorts(10)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] || p <= 0 {
			t.Fatalf("freePorts returned %v: duplicate or invalid", ports)
		}
		seen[p] = true
	}
}

// Up clears its directory before starting; it must refuse one that holds
// something other than a lab.
func TestUpRefusesAForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	precious := filepath.Join(dir, "thesis.tex")
	if err := os.WriteFile(precious, []byte("years of work"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Up(context.Background(), Config{Dir: dir, CacheDir: t.TempDir()})
	if !errors.Is(err, ErrNotLabDir) {
		t.Fatalf("Up over a foreign directory: %v", err)
	}
	if _, err := os.Stat(precious); err != nil {
		t.Fatalf("Up removed a file it did not own: %v", err)
	}
}
