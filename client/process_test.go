package client_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
)

// Child processes are this test binary run again with -test.run naming
// TestChildProcess and the job in the environment.
const (
	envChild  = "SATLOOP_CLIENT_TEST_CHILD" // "buy", "crash" or "refused"
	envSeller = "SATLOOP_CLIENT_TEST_SELLER"
	envDB     = "SATLOOP_CLIENT_TEST_DB"
	envStart  = "SATLOOP_CLIENT_TEST_START" // Unix ns at which to start
)

// childProcessesAllowed is false in builds whose TestMain would make each
// child expensive (see process_lab_test.go).
var childProcessesAllowed = true

// childBuyers is how many goroutines each "buy" child runs.
const childBuyers = 8

func startChild(t *testing.T, job, sellerURL, db string, start time.Time) *exec.Cmd {
	t.Helper()
	if !childProcessesAllowed {
		t.Skip("child processes run in the plain unit tests (go test ./client/)")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+job, envSeller+"="+sellerURL, envDB+"="+db,
		envStart+"="+strconv.FormatInt(start.UnixNano(), 10))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// runChildren starts n child buyers in mode at the same instant, all on
// the database db, and waits for them.
func runChildren(t *testing.T, n int, mode, url, db string) {
	t.Helper()
	start := time.Now().Add(1500 * time.Millisecond)
	var cmds []*exec.Cmd
	for range n {
		cmds = append(cmds, startChild(t, mode, url, db, start))
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child %d: %v", i, err)
		}
	}
}

// TestManyProcessesPayOnce: 4 processes of 8 goroutines each, every one
// with its own Transport on one SQLite file, fetch the same paid URL at
// once: the seller sees exactly one invoice paid.
func TestManyProcessesPayOnce(t *testing.T) {
	s := newTestSeller(t)
	s.payDelay = 300 * time.Millisecond
	db := filepath.Join(t.TempDir(), "buyer.db")
	store := openStore(t, db)
	runChildren(t, 4, "buy", s.srv.URL, db)
	if n := s.paidHashes.Load(); n != 1 {
		t.Errorf("the seller saw %d invoices paid, want 1", n)
	}
	if n := s.served.Load(); n != 4*childBuyers {
		t.Errorf("served %d requests, want %d", n, 4*childBuyers)
	}
	if n := succeededPayments(t, store); n != 1 {
		t.Errorf("spend log has %d succeeded payments, want 1", n)
	}
}

// TestCrashAfterPayingRecoversToken: a process dies after its payment is
// sent and before the token is stored; the next run gets the token back
// from the node by hash and pays nothing.
func TestCrashAfterPayingRecoversToken(t *testing.T) {
	s := newTestSeller(t)
	db := filepath.Join(t.TempDir(), "buyer.db")
	store := openStore(t, db)
	err := startChild(t, "crash", s.srv.URL, db, time.Now()).Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != crashCode {
		t.Fatalf("child: %v, want exit %d", err, crashCode)
	}
	if s.paidHashes.Load() != 1 {
		t.Fatalf("the child paid %d invoices before dying, want 1", s.paidHashes.Load())
	}
	pending, err := store.PendingPayments(t.Context())
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending after the crash: %d %v", len(pending), err)
	}

	next := newTestPayer(s)
	next.track = s.track
	b := &buyer{seller: s, payer: next, store: store, tr: &client.Transport{Payer: next, Store: store}}
	b.client = &http.Client{Transport: b.tr}
	if err := b.tr.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	status, _, rec, err := b.get(t, s.url("/v1/a"))
	if err != nil || status != http.StatusOK || !rec.TokenReused {
		t.Fatalf("after the crash: %d %v %+v", status, err, rec)
	}
	if next.pays.Load() != 0 || s.paidHashes.Load() != 1 || succeededPayments(t, store) != 1 {
		t.Errorf("paid again after the crash")
	}
}

// crashCode is the exit status of a child that died mid-payment.
const crashCode = 37

// TestChildProcess is the body of the child processes above.
func TestChildProcess(t *testing.T) {
	job := os.Getenv(envChild)
	if job == "" {
		t.Skip("runs only as a child of the multi-process tests")
	}
	sellerURL, db := os.Getenv(envSeller), os.Getenv(envDB)
	startNS, _ := strconv.ParseInt(os.Getenv(envStart), 10, 64)
	store := openStore(t, db)
	payer := remotePayer(sellerURL)
	tr := &client.Transport{Payer: payer, Store: store}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	get := func() error {
		resp, err := hc.Get(sellerURL + "/v1/shared")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	switch job {
	case "crash":
		settle := payer.settle
		payer.settle = func(hash l402.PaymentHash) (p l402.Preimage, err error) {
			p, err = settle(hash)
			if err == nil {
				os.Exit(crashCode) // paid; the token never reaches the store
			}
			return p, err
		}
		t.Fatalf("survived the payment: %v", get())
	case "refused":
		// The seller refuses what it is paid for: every request ends
		// refused, and the parent counts what was paid.
		time.Sleep(time.Until(time.Unix(0, startNS)))
		var wg sync.WaitGroup
		for range childBuyers {
			wg.Go(func() {
				if err := get(); !errors.Is(err, client.ErrPaidButRefused) && !errors.Is(err, client.ErrSellerRefusedPaid) {
					t.Errorf("error %v, want ErrPaidButRefused or ErrSellerRefusedPaid", err)
				}
			})
		}
		wg.Wait()
	case "buy":
		time.Sleep(time.Until(time.Unix(0, startNS)))
		var wg sync.WaitGroup
		for range childBuyers {
			wg.Go(func() {
				if err := get(); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
}
