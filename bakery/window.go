package bakery

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/satloop/satloop/money"
)

// Period is a calendar budget window.
type Period string

// Calendar periods. They run in UTC: a day from 00:00 UTC, a week from
// Monday 00:00 UTC, a month from the 1st 00:00 UTC.
const (
	Day   Period = "day"
	Week  Period = "week"
	Month Period = "month"
)

// Window is the span a budget counts spending over: a calendar Period,
// which empties at once when the next one begins, or a Rolling duration,
// which counts the spending of the last Rolling before now and frees room
// as old payments leave it. Exactly one is set.
type Window struct {
	Period  Period
	Rolling time.Duration
}

// ParseWindow reads "day", "week", "month" (calendar, UTC) or a rolling
// duration: Go's syntax ("24h", "90m") or whole days ("7d", "30d").
func ParseWindow(s string) (Window, error) {
	switch p := Period(s); p {
	case Day, Week, Month:
		return Window{Period: p}, nil
	}
	d, err := parseDuration(s)
	// The cap holds for every spelling, so that String, which writes
	// whole days as "Nd", always writes something ParseWindow reads.
	if err != nil || d < time.Minute || d > maxRolling {
		return Window{}, fmt.Errorf("bakery: budget window %q: use day, week or month (calendar, UTC), or a rolling duration from 1m to %dd such as 24h or 7d", printable(s), maxRollingDays)
	}
	return Window{Rolling: d}, nil
}

// maxRollingDays caps a rolling window at about ten years.
const (
	maxRollingDays = 3660
	maxRolling     = maxRollingDays * 24 * time.Hour
)

// parseDuration reads Go durations and whole days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 32)
		if err != nil || n <= 0 || n > maxRollingDays {
			return 0, fmt.Errorf("bakery: %q is not a whole number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// String writes the window as ParseWindow reads it.
func (w Window) String() string {
	if w.Period != "" {
		return string(w.Period)
	}
	if w.Rolling%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(w.Rolling/(24*time.Hour)), 10) + "d"
	}
	return w.Rolling.String()
}

// Start returns when the window that holds now began: the start of the
// calendar period, or now minus the rolling duration.
func (w Window) Start(now time.Time) time.Time {
	now = now.UTC()
	y, m, d := now.Date()
	switch w.Period {
	case Day:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case Week:
		back := (int(now.Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, m, d-back, 0, 0, 0, 0, time.UTC)
	case Month:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	}
	return now.Add(-w.Rolling)
}

// ResetsAt returns when the window next frees room: the start of the next
// calendar period, or, for a rolling window, when oldest (the oldest
// payment it still counts) leaves it. With nothing counted it is now.
func (w Window) ResetsAt(now, oldest time.Time) time.Time {
	start := w.Start(now)
	switch w.Period {
	case Day:
		return start.AddDate(0, 0, 1)
	case Week:
		return start.AddDate(0, 0, 7)
	case Month:
		return start.AddDate(0, 1, 0)
	}
	if oldest.IsZero() {
		return now
	}
	return oldest.Add(w.Rolling)
}

// Budget is a most-spent over a window: Limit counts invoice amounts and
// routing fees.
type Budget struct {
	Limit  money.MilliSat
	Window Window
}

// ParseBudget reads a budget as the CLI takes it: "SATS/WINDOW", such as
// "5000/day" or "20000/30d".
func ParseBudget(s string) (Budget, error) {
	amount, window, ok := strings.Cut(s, "/")
	if !ok {
		return Budget{}, fmt.Errorf("bakery: budget %q: write SATS/WINDOW, such as 5000/day or 20000/30d", printable(s))
	}
	limit, err := money.ParseSats(amount)
	if err != nil || limit <= 0 {
		return Budget{}, fmt.Errorf("bakery: budget %q: %q is not a positive number of sats", printable(s), printable(amount))
	}
	w, err := ParseWindow(window)
	if err != nil {
		return Budget{}, err
	}
	return Budget{Limit: limit, Window: w}, nil
}

// String describes the budget for people: "5000 sat/day".
func (b Budget) String() string {
	return b.Limit.String() + "/" + b.Window.String()
}
