// Package labtest gives integration tests a lab network: one per test
// binary, started in TestMain and stopped when the tests end.
//
//	//go:build lab
//
//	func TestMain(m *testing.M) { labtest.Main(m) }
//
//	func TestPay(t *testing.T) {
//		net := labtest.Network(t)
//		agent := labtest.Conn(t, lab.Agent)
//		...
//	}
//
// Tests that need a network carry the "lab" build tag, so that plain
// `go test ./...` stays fast and needs no node binaries. With
// SATLOOP_LAB_DIR naming a running lab (`satloop lab up`), the tests use it
// instead of starting their own, which saves a minute per package when
// iterating by hand.
package labtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lightning/lnd"
)

// startTimeout bounds Up, binary builds included: a fresh machine builds
// lnd in about four minutes.
const startTimeout = 15 * time.Minute

var (
	network *lab.Network
	// startupTime is how long lab.Up took with the binaries built; zero
	// when the tests reuse a running lab.
	startupTime time.Duration
)

// StartupTime is how long this test binary's lab took to start, binaries
// already built; zero when the tests use a lab from SATLOOP_LAB_DIR.
func StartupTime() time.Duration { return startupTime }

// Main starts a lab, runs the tests, stops the lab and exits. Node
// processes are tied to the test binary, so a test that times out and
// kills the binary leaves nothing running either.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if dir := os.Getenv("SATLOOP_LAB_DIR"); dir != "" {
		net, err := lab.Open(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "labtest: SATLOOP_LAB_DIR=%s: %v\n", dir, err)
			return 1
		}
		network = net
		defer net.Close()
		return m.Run()
	}

	dir, err := os.MkdirTemp("", "satloop-lab-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "labtest: %v\n", err)
		return 1
	}
	// Built (or found) first, so that startupTime measures the start alone.
	cacheDir, err := lab.DefaultCacheDir()
	if err == nil {
		_, err = lab.EnsureBinaries(ctx, cacheDir, os.Stderr)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "labtest: %v\n", err)
		return 1
	}
	start := time.Now()
	net, err := lab.Up(ctx, lab.Config{Dir: dir, CacheDir: cacheDir, Progress: os.Stderr})
	if err != nil {
		fmt.Fprintf(os.Stderr, "labtest: lab up: %v\n(logs are in %s)\n", err, dir)
		return 1
	}
	startupTime = time.Since(start)
	fmt.Fprintf(os.Stderr, "labtest: lab up in %s (%s)\n", startupTime.Round(100*time.Millisecond), dir)
	network = net
	code := m.Run()

	stopCtx, stopCancel := context.WithTimeout(context.Background(), time.Minute)
	defer stopCancel()
	if err := net.Down(stopCtx); err != nil {
		fmt.Fprintf(os.Stderr, "labtest: lab down: %v\n", err)
		code = 1
	}
	if code == 0 {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "labtest: node logs kept in %s\n", dir)
	}
	return code
}

// Network returns the test binary's lab network.
func Network(t testing.TB) *lab.Network {
	t.Helper()
	if network == nil {
		t.Fatal("labtest: no lab network; call labtest.Main from TestMain and build with -tags lab")
	}
	return network
}

// Context returns a context for one test's calls to the lab, ended after
// two minutes or when the test ends.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Conn returns a connection to the named lab node with its admin macaroon.
func Conn(t testing.TB, name string) *lnd.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Network(t).Conn(ctx, name)
	if err != nil {
		t.Fatalf("labtest: connect to %s: %v", name, err)
	}
	return c
}

// ProcessesMentioning returns the PIDs of running processes whose command
// line contains s, such as a lab's state directory: the check that a lab
// left nothing behind.
func ProcessesMentioning(s string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), s) {
			continue
		}
		// A zombie has exited already; only its parent has not reaped it.
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}
