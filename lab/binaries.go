package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The pinned node software. lnd's go.mod pins the btcd it is tested with;
// the lab runs that btcd, so that chain backend and node agree. Changing a
// pin changes the cache directory, so the binaries are rebuilt once.
const (
	LNDModule   = "github.com/lightningnetwork/lnd"
	LNDVersion  = "v0.21.2-beta"
	BtcdModule  = "github.com/btcsuite/btcd"
	BtcdVersion = "v0.25.1-0.20260310163610-1c55c7c18179"
)

// lndBuildTags are the subservers satloop and the tests call (routerrpc for
// SendPaymentV2, invoicesrpc for invoice subscriptions); lnd's release
// builds use the same set.
const lndBuildTags = "signrpc walletrpc chainrpc invoicesrpc routerrpc peersrpc"

// Binaries are the paths of the node programs the lab runs.
type Binaries struct {
	LND    string `json:"lnd"`
	LNCLI  string `json:"lncli"`
	Btcd   string `json:"btcd"`
	Btcctl string `json:"btcctl"`
}

// binariesDir is where one pin's binaries live under the cache directory.
func binariesDir(cacheDir string) string {
	return filepath.Join(cacheDir, "lnd-"+LNDVersion+"_btcd-"+BtcdVersion)
}

// DefaultCacheDir is where built binaries are kept between runs:
// $SATLOOP_LAB_CACHE, else the user's cache directory.
func DefaultCacheDir() (string, error) {
	if dir := os.Getenv("SATLOOP_LAB_CACHE"); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("lab: no cache directory for the node binaries (%w); set SATLOOP_LAB_CACHE", err)
	}
	return filepath.Join(base, "satloop", "lab"), nil
}

// EnsureBinaries returns the pinned binaries, building those missing from
// their Go modules into cacheDir. Building lnd takes minutes the first time
// (module downloads included), seconds once Go's build cache is warm; it
// needs the go command on PATH. Concurrent callers (parallel test
// binaries) wait for one build instead of racing.
func EnsureBinaries(ctx context.Context, cacheDir string, progress io.Writer) (Binaries, error) {
	dir := binariesDir(cacheDir)
	bins := Binaries{
		LND:    filepath.Join(dir, "lnd"),
		LNCLI:  filepath.Join(dir, "lncli"),
		Btcd:   filepath.Join(dir, "btcd"),
		Btcctl: filepath.Join(dir, "btcctl"),
	}
	if bins.present() {
		return bins, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("lab: cache directory: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(cacheDir, ".build.lock"))
	if err != nil {
		return Binaries{}, err
	}
	defer unlock()
	// Another process may have built them while this one waited.
	if bins.present() {
		return bins, nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		return Binaries{}, fmt.Errorf("lab: building lnd and btcd needs the go command (Go 1.25.10 or newer) on PATH: %w", err)
	}

	// Build into a fresh directory and rename it into place, so that an
	// interrupted build never leaves a half-filled directory that looks
	// complete.
	tmp, err := os.MkdirTemp(cacheDir, ".build-")
	if err != nil {
		return Binaries{}, fmt.Errorf("lab: %w", err)
	}
	defer os.RemoveAll(tmp)

	steps := []struct {
		what, module, version, tags string
		pkgs                        []string
	}{
		{"btcd " + BtcdVersion, BtcdModule, BtcdVersion, "", []string{".", "./cmd/btcctl"}},
		{"lnd " + LNDVersion + " (first build takes about 4 minutes)", LNDModule, LNDVersion, lndBuildTags, []string{"./cmd/lnd", "./cmd/lncli"}},
	}
	for _, s := range steps {
		start := time.Now()
		progressf(progress, "lab: building %s\n", s.what)
		if err := buildModule(ctx, s.module, s.version, s.tags, s.pkgs, tmp, progress); err != nil {
			return Binaries{}, err
		}
		progressf(progress, "lab: built %s in %s\n", s.module, time.Since(start).Round(time.Second))
	}
	if err := os.Rename(tmp, dir); err != nil {
		return Binaries{}, fmt.Errorf("lab: install binaries: %w", err)
	}
	if !bins.present() {
		return Binaries{}, fmt.Errorf("lab: build finished but %s lacks a binary", dir)
	}
	return bins, nil
}

func (b Binaries) present() bool {
	for _, p := range []string{b.LND, b.LNCLI, b.Btcd, b.Btcctl} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// buildModule builds pkgs of module@version inside the module's directory
// in the module cache. `go install module@version` refuses modules whose
// go.mod has replace directives, which lnd's has; building in place uses
// them.
func buildModule(ctx context.Context, module, version, tags string, pkgs []string, out string, progress io.Writer) error {
	download := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	download.Env = goEnv()
	var stderr bytes.Buffer
	download.Stderr = &stderr
	raw, err := download.Output()
	if err != nil {
		return fmt.Errorf("lab: download %s@%s: %w: %s", module, version, err, lastLines(stderr.String(), 5))
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(raw, &mod); err != nil || mod.Dir == "" {
		return fmt.Errorf("lab: download %s@%s: no module directory in %q", module, version, raw)
	}

	args := []string{"build", "-trimpath", "-o", out + string(filepath.Separator)}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, pkgs...)
	build := exec.CommandContext(ctx, "go", args...)
	build.Dir = mod.Dir
	build.Env = goEnv()
	stderr.Reset()
	build.Stderr = &stderr

	done := make(chan struct{})
	defer close(done)
	go func() {
		start := time.Now()
		tick := time.NewTicker(20 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				progressf(progress, "lab: still building %s (%s)\n", module, time.Since(start).Round(time.Second))
			}
		}
	}()
	if err := build.Run(); err != nil {
		return fmt.Errorf("lab: build %s@%s: %w: %s", module, version, err, lastLines(stderr.String(), 10))
	}
	return nil
}

// goEnv is the environment for the go command building node software: no
// workspace of the caller's applies, and VCS stamping is off because the
// module cache holds no repository.
func goEnv() []string {
	return append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
}

// lockFile takes an exclusive flock on path, waiting until ctx ends.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab: lock %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lab: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lab: waiting for another build to finish: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// lastLines returns up to n trailing non-empty lines of s, for errors that
// quote a failed program's output.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
