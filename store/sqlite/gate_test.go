package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/gate/gatetest"
	"github.com/satloop/satloop/l402"
)

func TestGateStore(t *testing.T) {
	gatetest.TestStore(t, func(t *testing.T) gatetest.Open {
		path := filepath.Join(t.TempDir(), "gate.db")
		return func(t *testing.T) gate.Store {
			s, err := OpenGateStore(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// The child half of TestGateStoreQuotaAcrossProcesses: with these set, the
// test binary spends a token's quota and writes how many requests it got to
// the result file.
const (
	envChildDB     = "SATLOOP_TEST_GATE_CHILD_DB"
	envChildToken  = "SATLOOP_TEST_GATE_CHILD_TOKEN"
	envChildResult = "SATLOOP_TEST_GATE_CHILD_RESULT"
	childQuota     = 150
)

// TestGateStoreQuotaAcrossProcesses runs several processes against one file
// at once: SQLite's locks, not a mutex in this process, must keep the count.
func TestGateStoreQuotaAcrossProcesses(t *testing.T) {
	if path := os.Getenv(envChildDB); path != "" {
		spendQuotaAsChild(t, path, os.Getenv(envChildToken), os.Getenv(envChildResult))
		return
	}
	const processes, limit = 4, childQuota
	path := filepath.Join(t.TempDir(), "gate.db")
	s, err := OpenGateStore(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var id l402.TokenID
	id[0] = 7
	total := sumOfChildren(t, "TestGateStoreQuotaAcrossProcesses", processes, envChildResult, func(int) []string {
		return []string{envChildDB + "=" + path, envChildToken + "=" + id.String()}
	})
	if total != limit {
		t.Errorf("%d processes spending a quota of %d: %d admitted", processes, limit, total)
	}
	if used, err := s.UseQuota(context.Background(), id, limit); !errors.Is(err, gate.ErrQuotaExhausted) {
		t.Errorf("after the children: used = %d, err = %v; want ErrQuotaExhausted", used, err)
	}
}

func spendQuotaAsChild(t *testing.T, path, token, result string) {
	id, err := l402.ParseTokenID(token)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenGateStore(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	admitted := 0
	for {
		_, err := s.UseQuota(context.Background(), id, childQuota)
		if errors.Is(err, gate.ErrQuotaExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		admitted++
	}
	if err := os.WriteFile(result, []byte(strconv.Itoa(admitted)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestGateStoreMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.db")
	ctx := context.Background()
	var id l402.TokenID
	for run := 0; run < 2; run++ {
		s, err := OpenGateStore(ctx, path)
		if err != nil {
			t.Fatalf("open #%d: %v", run+1, err)
		}
		// The count survives reopening: the tables were not recreated.
		used, err := s.UseQuota(ctx, id, 5)
		if err != nil || used != int64(run+1) {
			t.Fatalf("open #%d: used = %d, err = %v", run+1, used, err)
		}
		s.Close()
	}
}

func BenchmarkGateStoreUseQuota(b *testing.B) {
	s, err := OpenGateStore(context.Background(), filepath.Join(b.TempDir(), "gate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchUseQuota(b, s)
}

// benchUseQuota spends quota from parallel goroutines, each on its own
// token (distinct tokens are the common case: one buyer, one token).
func benchUseQuota(b *testing.B, s gate.Store) {
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
