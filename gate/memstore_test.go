package gate_test

import (
	"context"
	"testing"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/gate/gatetest"
)

func TestMemoryStore(t *testing.T) {
	gatetest.TestStore(t, func(t *testing.T) gatetest.Open {
		s := gate.NewMemoryStore()
		// Every handle is the same store: it lives in this process.
		return func(t *testing.T) gate.Store { return s }
	})
}

func TestMemoryStoreRefusesForeignCursor(t *testing.T) {
	s := gate.NewMemoryStore()
	for _, cursor := range []int64{-1, 1} {
		if _, _, err := s.RevokedSince(context.Background(), cursor); err == nil {
			t.Errorf("RevokedSince(%d) on an empty store succeeded", cursor)
		}
	}
}
