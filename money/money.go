// Package money holds satloop's one type for amounts of bitcoin: MilliSat.
// Lightning settles in millisatoshis, so every amount in satloop is one;
// satoshis appear only at the edges (flags, display), through the
// conversions here. A bare integer never stands for money.
package money

import (
	"fmt"
	"strconv"
	"strings"
)

// MilliSat is an amount in millisatoshis (1 sat = 1000 msat).
type MilliSat int64

// MaxMilliSat is 21 million bitcoin, the most any amount can be; parsing
// refuses more so that sums of valid amounts cannot overflow int64.
const MaxMilliSat MilliSat = 21_000_000 * 100_000_000 * 1000

// Sats returns n satoshis as a MilliSat. It panics when n is negative or
// above 21 million BTC: use ParseSats for amounts that come from outside.
func Sats(n int64) MilliSat {
	if n < 0 || n > int64(MaxMilliSat/1000) {
		panic(fmt.Sprintf("money: %d sat is out of range", n))
	}
	return MilliSat(n * 1000)
}

// ParseSats parses a whole, non-negative number of satoshis, as typed on a
// command line ("10", "1_000"). Commas are refused rather than dropped:
// "1,5" may mean one and a half, and guessing wrong multiplies a price by ten.
func ParseSats(s string) (MilliSat, error) {
	clean := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	n, err := strconv.ParseInt(clean, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("money: %q is not a whole, non-negative number of sats", s)
	}
	if n > int64(MaxMilliSat/1000) {
		return 0, fmt.Errorf("money: %s sat is more than 21 million bitcoin", clean)
	}
	return MilliSat(n * 1000), nil
}

// Sats returns the whole satoshis in m, rounding down.
func (m MilliSat) Sats() int64 { return int64(m) / 1000 }

// SatsCeil returns the satoshis in m rounded up: the figure to compare with a
// cap, since 10.001 sat costs more than 10 sat.
func (m MilliSat) SatsCeil() int64 {
	if m <= 0 {
		return int64(m) / 1000 // division truncates toward zero: up, here
	}
	return (int64(m) + 999) / 1000
}

// Valid reports whether m is between 0 and MaxMilliSat.
func (m MilliSat) Valid() bool { return m >= 0 && m <= MaxMilliSat }

// String renders the amount in sats, with the msat fraction only when there
// is one: "10 sat", "10.5 sat", "0.001 sat".
func (m MilliSat) String() string {
	sign := ""
	v := uint64(m)
	if m < 0 {
		// Negate in uint64 so that the most negative int64 survives.
		sign, v = "-", -v
	}
	whole, frac := v/1000, v%1000
	if frac == 0 {
		return fmt.Sprintf("%s%d sat", sign, whole)
	}
	return fmt.Sprintf("%s%d.%s sat", sign, whole, strings.TrimRight(fmt.Sprintf("%03d", frac), "0"))
}
