package labtest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/money"
)

// apertureBuildTimeout bounds the first build of Aperture, module
// downloads included.
const apertureBuildTimeout = 10 * time.Minute

var (
	apertureOnce sync.Once
	apertureBin  string
	apertureErr  error
)

// Aperture starts Lightning Labs' Aperture v0.4.2 in front of upstream
// (an http URL with host and port, no path), selling tokens at price
// with invoices from the lab's seller node, and stops it when the test
// ends. The binary is built once per machine and looked up once per test
// binary.
func Aperture(t testing.TB, upstream string, price money.MilliSat) *lab.Aperture {
	t.Helper()
	apertureOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), apertureBuildTimeout)
		defer cancel()
		cacheDir, err := lab.DefaultCacheDir()
		if err != nil {
			apertureErr = err
			return
		}
		apertureBin, apertureErr = lab.EnsureAperture(ctx, cacheDir, os.Stderr)
	})
	if apertureErr != nil {
		t.Fatalf("labtest: aperture: %v", apertureErr)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := lab.StartAperture(ctx, lab.ApertureConfig{
		Dir:      dir,
		Seller:   Network(t).Node(lab.Seller),
		Upstream: upstream,
		Price:    price,
		Binary:   apertureBin,
	})
	if err != nil {
		t.Fatalf("labtest: start aperture: %v", err)
	}
	// Registered after TempDir's cleanup, so it runs before the
	// directory is removed.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("labtest: stop aperture: %v", err)
		}
	})
	return a
}
