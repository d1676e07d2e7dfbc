// Package pgtest starts a real PostgreSQL server for a test: Debian's
// binaries, a throwaway cluster in a temporary directory, listening on a
// free port of 127.0.0.1, stopped when the test ends and killed with the
// test binary if it dies first.
//
//	func TestSomething(t *testing.T) {
//		srv := pgtest.Start(t)
//		dsn := srv.NewDatabase(t) // a fresh, empty database
//		...
//	}
//
// Without PostgreSQL's binaries the test is skipped, unless
// SATLOOP_REQUIRE_POSTGRES=1 (set by CI) makes that a failure. The cluster
// runs with fsync off: it lives for one test, and a crash loses nothing
// anyone wants, so durability would only cost time.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/satloop/satloop/internal/tiedproc"
)

// RequireEnv names the variable that turns a missing PostgreSQL into a
// test failure instead of a skip.
const RequireEnv = "SATLOOP_REQUIRE_POSTGRES"

// superuser is the cluster's superuser, which the DSNs use.
const superuser = "satloop"

// Server is a running PostgreSQL cluster owned by one test.
type Server struct {
	dir      string
	port     int
	password string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the postmaster has exited
	dbs      int
	mu       sync.Mutex
}

// Start starts a PostgreSQL server for t and stops it when t ends. It
// skips t (or fails it, see RequireEnv) when PostgreSQL is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinaries()
	if err != nil {
		unavailable(t, err)
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root; Debian's package
		// creates a system user for them.
		if cred, err = postgresUser(); err != nil {
			unavailable(t, err)
		}
	}
	// As root the cluster's directory is handed to the postgres user, who
	// must be able to reach it: /tmp is open to all, a TMPDIR under
	// /root may not be.
	base := ""
	if cred != nil {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "satloop-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{dir: dir, password: randomHex(t)}
	if err := s.initdb(bin, cred); err != nil {
		t.Fatal(err)
	}
	// Another process may take the free port between our probe and
	// postgres binding it; a few tries make that harmless.
	for attempt := 1; ; attempt++ {
		err = s.start(bin, cred)
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatal(err)
		}
	}
	t.Cleanup(s.stop)
	return s
}

// unavailable skips t, or fails it when PostgreSQL is required.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("pgtest: %v (and %s=1 requires it)", err, RequireEnv)
	}
	t.Skipf("pgtest: %v; install Debian's postgresql package to run this test", err)
}

// binaries are the server programs of one PostgreSQL installation.
type binaries struct{ initdb, postgres string }

// findBinaries looks for Debian's layout (/usr/lib/postgresql/<major>/bin,
// newest major first), then for initdb on PATH with postgres beside the
// file it links to.
func findBinaries() (binaries, error) {
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(candidates, func(i, j int) bool { return majorOf(candidates[i]) > majorOf(candidates[j]) })
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(initdb); err == nil {
			candidates = append(candidates, filepath.Dir(real))
		}
	}
	for _, dir := range candidates {
		b := binaries{initdb: filepath.Join(dir, "initdb"), postgres: filepath.Join(dir, "postgres")}
		if isExecutable(b.initdb) && isExecutable(b.postgres) {
			return b, nil
		}
	}
	return binaries{}, errors.New("no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or on PATH")
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// postgresUser returns the credentials of the postgres system user.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and no postgres system user to run PostgreSQL as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user id %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres group id %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func randomHex(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// initdb creates the cluster: the superuser has a password over TCP (so
// that DSNs carry one, as in production) and the unix socket, which only
// the directory's owner can reach, trusts.
func (s *Server) initdb(bin binaries, cred *syscall.Credential) error {
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		return err
	}
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	cmd := exec.Command(bin.initdb,
		"--pgdata", filepath.Join(s.dir, "data"),
		"--username", superuser,
		"--pwfile", pwfile,
		"--auth-host", "scram-sha-256",
		"--auth-local", "trust",
		"--encoding", "UTF8",
		"--no-locale",
		"--no-sync", // nothing to keep after the test
	)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.CombinedOutput()
	os.Remove(pwfile)
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	return nil
}

// start runs the postmaster on a free port and waits until it accepts
// connections.
func (s *Server) start(bin binaries, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	logPath := filepath.Join(s.dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(bin.postgres,
		"-D", filepath.Join(s.dir, "data"),
		"-p", strconv.Itoa(port),
		"-k", s.dir, // the unix socket stays in the test's directory
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
	)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that a Ctrl-C meant for go test reaches
	// us first and we shut it down cleanly; SIGKILL if the test binary
	// dies before it can.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := tiedproc.Start(cmd); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() { cmd.Wait(); close(s.exited) }() //nolint:errcheck // the log says why

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.dsn("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("pgtest: postgres exited at start:\n%s", log)
		case <-ctx.Done():
			s.stop()
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("pgtest: postgres did not accept connections within 30s (%v):\n%s", err, log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stop shuts the server down (a fast shutdown: sessions are ended) and
// kills it if it has not exited within ten seconds.
func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGINT) //nolint:errcheck // it may have exited already
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill() //nolint:errcheck // as above
		<-s.exited
	}
}

// DSN returns the URL of database db on the server, with the superuser's
// password in it.
func (s *Server) DSN(db string) string { return s.dsn(db) }

func (s *Server) dsn(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, s.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Password is the superuser's password, which DSNs carry: tests use it to
// check that it never reaches a log.
func (s *Server) Password() string { return s.password }

// NewDatabase creates an empty database and returns its DSN. It is dropped
// with the server.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	s.dbs++
	name := "test" + strconv.Itoa(s.dbs)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.dsn("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	return s.dsn(name)
}
