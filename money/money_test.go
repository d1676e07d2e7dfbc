package money

import (
	"math"
	"strings"
	"testing"
)

func TestParseSats(t *testing.T) {
	tests := []struct {
		in   string
		want MilliSat
		ok   bool
	}{
		{"0", 0, true},
		{"10", 10_000, true},
		{" 1_000 ", 1_000_000, true},
		{"1,000", 0, false},
		{"1,5", 0, false},
		{"1.5", 0, false},
		{"2100000000000000", MaxMilliSat, true},
		{"2100000000000001", 0, false},
		{"-1", 0, false},
		{"", 0, false},
		{"ten", 0, false},
		{"9223372036854775808", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSats(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSats(%q) = %d, %v", tt.in, got, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "money: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

func TestConversions(t *testing.T) {
	tests := []struct {
		m          MilliSat
		sats, ceil int64
		str        string
		valid      bool
	}{
		{0, 0, 0, "0 sat", true},
		{1, 0, 1, "0.001 sat", true},
		{999, 0, 1, "0.999 sat", true},
		{1000, 1, 1, "1 sat", true},
		{10_500, 10, 11, "10.5 sat", true},
		{10_010, 10, 11, "10.01 sat", true},
		{Sats(21), 21, 21, "21 sat", true},
		{-1500, -1, -1, "-1.5 sat", false},
		{math.MinInt64, -9223372036854775, -9223372036854775, "-9223372036854775.808 sat", false},
		{MaxMilliSat + 1, 2_100_000_000_000_000, 2_100_000_000_000_001, "2100000000000000.001 sat", false},
	}
	for _, tt := range tests {
		if got := tt.m.Sats(); got != tt.sats {
			t.Errorf("%d.Sats() = %d, want %d", tt.m, got, tt.sats)
		}
		if got := tt.m.SatsCeil(); got != tt.ceil {
			t.Errorf("%d.SatsCeil() = %d, want %d", tt.m, got, tt.ceil)
		}
		if got := tt.m.String(); got != tt.str {
			t.Errorf("%d.String() = %q, want %q", tt.m, got, tt.str)
		}
		if got := tt.m.Valid(); got != tt.valid {
			t.Errorf("%d.Valid() = %v", tt.m, got)
		}
	}
}

func TestSatsPanicsOutOfRange(t *testing.T) {
	for _, n := range []int64{-1, MaxMilliSat.Sats() + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Sats(%d) did not panic", n)
				}
			}()
			Sats(n)
		}()
	}
}

func FuzzParseSats(f *testing.F) {
	for _, s := range []string{"0", "10", "1_000", "-5", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseSats(in)
		if err != nil {
			return
		}
		if !m.Valid() || m%1000 != 0 {
			t.Fatalf("ParseSats(%q) = %d", in, m)
		}
		if back, err := ParseSats(strings.TrimSuffix(m.String(), " sat")); err != nil || back != m {
			t.Fatalf("%d does not round-trip through String: %v", m, err)
		}
	})
}
