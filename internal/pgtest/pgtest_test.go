package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStartServesFreshDatabases(t *testing.T) {
	srv := Start(t)
	ctx := context.Background()
	var names []string
	for i := 0; i < 2; i++ {
		conn, err := pgx.Connect(ctx, srv.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		var name string
		var tables int
		if err := conn.QueryRow(ctx,
			`SELECT current_database(), (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')`).Scan(&name, &tables); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		if tables != 0 {
			t.Errorf("database %s has %d tables, want an empty one", name, tables)
		}
		names = append(names, name)
	}
	if names[0] == names[1] {
		t.Errorf("two NewDatabase calls gave the same database %s", names[0])
	}
}

func TestPasswordRequired(t *testing.T) {
	srv := Start(t)
	dsn := srv.NewDatabase(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = "wrong"
	if conn, err := pgx.ConnectConfig(context.Background(), cfg); err == nil {
		conn.Close(context.Background())
		t.Fatal("connected over TCP with a wrong password")
	}
}

func TestStopEndsTheServer(t *testing.T) {
	var pid int
	var dir string
	t.Run("server", func(t *testing.T) {
		srv := Start(t)
		pid, dir = srv.cmd.Process.Pid, srv.dir
	})
	if pid == 0 {
		t.Skip("no server was started")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("postgres (pid %d) still runs after its test ended", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s left behind (err = %v)", dir, err)
	}
}

// The child half of TestServerDiesWithTestBinary: with this set, the test
// binary starts a server, writes its pid and directory to the named file,
// and waits to be killed.
const envChildReport = "SATLOOP_TEST_PGTEST_CHILD_REPORT"

func TestServerDiesWithTestBinary(t *testing.T) {
	if report := os.Getenv(envChildReport); report != "" {
		srv := Start(t)
		line := strconv.Itoa(srv.cmd.Process.Pid) + " " + srv.dir
		if err := os.WriteFile(report, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		select {} // killed by the parent
	}
	if _, err := findBinaries(); err != nil {
		unavailable(t, err)
	}
	report := filepath.Join(t.TempDir(), "report")
	child := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithTestBinary$", "-test.count=1")
	child.Env = append(os.Environ(), envChildReport+"="+report)
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill() //nolint:errcheck // killed below unless the test fails first
	var pid int
	var dir string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(report)
		if err == nil {
			if _, err := fmt.Sscanf(string(b), "%d %s", &pid, &dir); err != nil {
				t.Fatalf("child reported %q: %v", b, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child started no server within 30s")
		}
	}
	defer os.RemoveAll(dir) // the child had no chance to
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait() //nolint:errcheck // killed
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if !running(pid) {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck // cleaning up after the failure
			t.Fatalf("postgres (pid %d) still runs 10s after its test binary was killed", pid)
		}
	}
}

// running reports whether pid is a live process: an exited one that no
// parent has reaped yet (a zombie, when PID 1 does not reap) is not.
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
