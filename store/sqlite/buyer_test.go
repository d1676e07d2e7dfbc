package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/client/clienttest"
	"github.com/satloop/satloop/store/sqlite"
)

func openBuyer(t *testing.T, path string) *sqlite.BuyerStore {
	t.Helper()
	s, err := sqlite.OpenBuyerStore(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBuyerStoreConformance(t *testing.T) {
	clienttest.TestStore(t, func(t *testing.T) client.Store {
		return openBuyer(t, filepath.Join(t.TempDir(), "buyer.db"))
	})
}

// TestBuyerStoreTwoOpens runs the suite's lock test across two handles on
// one file, as two processes would hold them: flock excludes separate
// opens.
func TestBuyerStoreLockAcrossOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buyer.db")
	a, b := openBuyer(t, path), openBuyer(t, path)
	unlock, err := a.Lock(t.Context(), "scope")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		u, err := b.Lock(t.Context(), "scope")
		if err != nil {
			t.Error(err)
		} else {
			u()
		}
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("a second open took a held lock")
	default:
	}
	unlock()
	<-done
}

func TestBuyerStorePrivateFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buyer.db")
	s := openBuyer(t, path)
	unlock, err := s.Lock(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	entries, err := os.ReadDir(path + ".locks")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{path, path + ".locks"}, func() (out []string) {
		for _, e := range entries {
			out = append(out, filepath.Join(path+".locks", e.Name()))
		}
		return out
	}()...) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

// TestBuyerStoreReopen: a second start of the binary finds its tokens and
// applies no migration twice.
func TestBuyerStoreReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buyer.db")
	for range 3 {
		s, err := sqlite.OpenBuyerStore(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Tokens(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}
