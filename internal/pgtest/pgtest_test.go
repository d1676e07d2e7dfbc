package pgtest

import (
	"context"
	"os"
	"strconv"
	"testing"

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
