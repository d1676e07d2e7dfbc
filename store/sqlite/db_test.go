package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenCreatesPrivateFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "satloop.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range []string{path, path + "-wal", filepath.Dir(path)} {
		fi, err := os.Stat(p)
		if err != nil {
			if p == path+"-wal" && os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
}

// TestMigrationsApplyOnce guards against lnget's bug: re-applying migrations
// at every start broke its event log after the first run.
func TestMigrationsApplyOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "satloop.db")
	migrations := []string{
		`CREATE TABLE things (id INTEGER PRIMARY KEY)`,
		`ALTER TABLE things ADD COLUMN name TEXT`,
	}
	for run := 0; run < 3; run++ {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.migrate(ctx, "test", migrations[:1+min(run, 1)]); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		var n int
		if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE component = 'test'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := 1 + min(run, 1); n != want {
			t.Errorf("run %d: %d migrations recorded, want %d", run, n, want)
		}
		db.Close()
	}
}

func TestOpenRefusesEmptyPath(t *testing.T) {
	if _, err := Open(context.Background(), ""); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
}
