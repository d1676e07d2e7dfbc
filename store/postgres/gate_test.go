package postgres

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/gate/gatetest"
	"github.com/satloop/satloop/internal/pgtest"
	"github.com/satloop/satloop/l402"
)

func open(t testing.TB, dsn string, logger *slog.Logger) *GateStore {
	t.Helper()
	s, err := OpenGateStore(context.Background(), dsn, logger)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGateStore(t *testing.T) {
	srv := pgtest.Start(t)
	gatetest.TestStore(t, func(t *testing.T) gatetest.Open {
		dsn := srv.NewDatabase(t)
		return func(t *testing.T) gate.Store { return open(t, dsn, nil) }
	})
}

// TestMigrationsConcurrentStart starts several instances at once on an
// empty database: each migration must be applied exactly once, and every
// instance must come up.
func TestMigrationsConcurrentStart(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	const instances = 8
	var wg sync.WaitGroup
	stores := make([]*GateStore, instances)
	errs := make([]error, instances)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = OpenGateStore(context.Background(), dsn, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var n int
	if err := stores[0].pool.QueryRow(context.Background(),
		`SELECT count(*) FROM satloop_migrations WHERE component = 'gate'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(gateMigrations) {
		t.Errorf("%d gate migrations recorded, want %d", n, len(gateMigrations))
	}
	// Reopening applies nothing and keeps the data.
	var id l402.TokenID
	if _, err := stores[0].UseQuota(context.Background(), id, 5); err != nil {
		t.Fatal(err)
	}
	again := open(t, dsn, nil)
	defer again.Close()
	if used, err := again.UseQuota(context.Background(), id, 5); err != nil || used != 2 {
		t.Errorf("after reopening: used = %d, err = %v; want 2, nil", used, err)
	}
}

// TestPasswordNeverLogged opens stores with a logger and with DSNs that
// fail in different ways: the password must appear in no log line and no
// error.
func TestPasswordNeverLogged(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	password := srv.Password()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	s := open(t, dsn, logger)
	s.Close()
	if !strings.Contains(logs.String(), "connected") {
		t.Errorf("no connection logged: %q", logs.String())
	}
	bad := []string{
		strings.Replace(dsn, "/test", "/nosuchdb", 1),              // server refuses the database
		strings.Replace(dsn, "127.0.0.1:", "127.0.0.1:1", 1) + "x", // unparsable port
		dsn + "&connect_timeout=notanumber",                        // bad parameter
		dsn + "&pool_max_conns=0",                                  // bad pool parameter
	}
	for _, d := range bad {
		_, err := OpenGateStore(context.Background(), d, logger)
		if err == nil {
			t.Errorf("OpenGateStore succeeded with a bad DSN")
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("error contains the password: %v", err)
		}
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("logs contain the password:\n%s", logs.String())
	}
}

func TestUseQuotaContextCancelled(t *testing.T) {
	srv := pgtest.Start(t)
	s := open(t, srv.NewDatabase(t), nil)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var id l402.TokenID
	_, err := s.UseQuota(ctx, id, 5)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if errors.Is(err, gate.ErrQuotaExhausted) || errors.Is(err, gate.ErrRevoked) {
		t.Errorf("a failed call reported as a gate answer: %v", err)
	}
}

func BenchmarkGateStoreUseQuota(b *testing.B) {
	srv := pgtest.Start(b)
	s := open(b, srv.NewDatabase(b)+"&pool_max_conns=16", nil)
	defer s.Close()
	ctx := context.Background()
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var id l402.TokenID
		copy(id[:], strconv.FormatInt(next.Add(1), 10))
		for pb.Next() {
			if _, err := s.UseQuota(ctx, id, 1<<62); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// TestLeastPrivilegeRole follows docs/stores.md: tables created once by
// their owner, instances run as a role that may only read and write them.
func TestLeastPrivilegeRole(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	owner := open(t, dsn, nil)
	defer owner.Close()
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE ROLE gate_instance LOGIN PASSWORD 'instance-secret'`,
		`GRANT USAGE ON SCHEMA public TO gate_instance`,
		`GRANT SELECT, INSERT, UPDATE ON gate_quota, gate_revocations, gate_sales, satloop_migrations TO gate_instance`,
		`GRANT USAGE ON SEQUENCE gate_revocations_seq_seq, gate_sales_seq_seq TO gate_instance`,
	} {
		if _, err := owner.pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("gate_instance", "instance-secret")
	s := open(t, u.String(), nil)
	defer s.Close()
	var id l402.TokenID
	if _, err := s.UseQuota(ctx, id, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.RefundQuota(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, id, "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RevokedSince(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordSale(ctx, gate.Sale{TokenID: id, Route: "r", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sales(ctx, time.Time{}, 10); err != nil {
		t.Fatal(err)
	}
	// And it really is unprivileged.
	if _, err := s.pool.Exec(ctx, `CREATE TABLE intruder (x int)`); err == nil {
		t.Error("the instance role could create a table")
	}
}
