//go:build lab

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lab/labtest"
)

// buildBinary builds satloop into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "satloop")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// satloop runs the binary and returns its stdout, failing the test on a
// non-zero exit.
func satloop(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("satloop %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// The promise, through the real binary: lab up, then lab pay 1000
// pays from agent to seller through router, then lab down leaves no
// process behind.
func TestLabUpPayDown(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	t.Cleanup(func() {
		exec.Command(bin, "lab", "down", "--dir", dir).Run()
	})

	start := time.Now()
	var env lab.Env
	if err := json.Unmarshal(satloop(t, bin, "lab", "up", "--dir", dir), &env); err != nil {
		t.Fatalf("lab up output: %v", err)
	}
	t.Logf("lab up took %s", time.Since(start).Round(time.Second))
	if len(env.Nodes) != 3 || env.Dir != dir {
		t.Fatalf("lab up printed %+v", env)
	}

	var pay struct {
		Status     string `json:"status"`
		AmountMsat int64  `json:"amount_msat"`
		FeeMsat    int64  `json:"fee_msat"`
		Hops       int    `json:"hops"`
		From, To   string
	}
	out := satloop(t, bin, "lab", "pay", "1000", "--dir", dir)
	if err := json.Unmarshal(out, &pay); err != nil {
		t.Fatalf("lab pay output %q: %v", out, err)
	}
	if pay.Status != "succeeded" || pay.AmountMsat != 1_000_000 || pay.Hops != 2 || pay.FeeMsat <= 0 {
		t.Fatalf("lab pay 1000 = %s; want 1000 sats over 2 hops with a routing fee", out)
	}
	if strings.Contains(string(out), "preimage") {
		t.Fatalf("lab pay printed the preimage: %s", out)
	}

	if _, err := exec.Command(bin, "lab", "mine", "2", "--dir", dir).Output(); err != nil {
		t.Fatalf("lab mine: %v", err)
	}
	var st lab.Status
	if err := json.Unmarshal(satloop(t, bin, "lab", "status", "--dir", dir), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Ready || len(st.Problems) > 0 {
		t.Fatalf("lab status = %+v", st)
	}

	if pids := labtest.ProcessesMentioning(dir); len(pids) != 4 {
		t.Fatalf("want btcd and three lnd running, found pids %v", pids)
	}
	for range 2 { // down is idempotent
		satloop(t, bin, "lab", "down", "--dir", dir)
		if pids := labtest.ProcessesMentioning(dir); len(pids) > 0 {
			t.Fatalf("lab down left processes %v running", pids)
		}
	}
}

// A `lab up` killed outright (SIGKILL: no chance to clean up) leaves its
// processes recorded, and `lab down` stops them all.
func TestLabDownAfterKilledUp(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	up := exec.Command(bin, "lab", "up", "--dir", dir)
	up.Stderr = os.Stderr
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until btcd and the three nodes run (five processes with lab up
	// itself), then kill lab up.
	deadline := time.Now().Add(2 * time.Minute)
	for len(labtest.ProcessesMentioning(dir)) < 5 {
		if time.Now().After(deadline) {
			up.Process.Kill()
			t.Fatal("lab up never started its four processes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := up.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	up.Wait()
	if pids := labtest.ProcessesMentioning(dir); len(pids) == 0 {
		t.Fatal("the killed lab up took its processes with it; the test checks nothing")
	}
	satloop(t, bin, "lab", "down", "--dir", dir)
	if pids := labtest.ProcessesMentioning(dir); len(pids) > 0 {
		t.Fatalf("lab down after a killed lab up left %v running", pids)
	}
}
