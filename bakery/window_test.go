package bakery

import (
	"testing"
	"time"

	"github.com/satloop/satloop/money"
)

func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

func TestWindowStartAndResetsAt(t *testing.T) {
	tokyo := time.FixedZone("UTC+9", 9*3600)
	newYork := time.FixedZone("UTC-5", -5*3600)
	day, week, month := Window{Period: Day}, Window{Period: Week}, Window{Period: Month}
	tests := []struct {
		name        string
		w           Window
		now         time.Time
		start, next time.Time
	}{
		{"day midday", day, utc(2026, 11, 25, 12, 0), utc(2026, 11, 25, 0, 0), utc(2026, 11, 26, 0, 0)},
		{"day at midnight", day, utc(2026, 11, 25, 0, 0), utc(2026, 11, 25, 0, 0), utc(2026, 11, 26, 0, 0)},
		{"day a nanosecond before midnight", day, utc(2026, 11, 26, 0, 0).Add(-1), utc(2026, 11, 25, 0, 0), utc(2026, 11, 26, 0, 0)},
		{"day at year end", day, utc(2026, 12, 31, 23, 59), utc(2026, 12, 31, 0, 0), utc(2027, 1, 1, 0, 0)},
		{"day in Tokyo is the UTC day", day, time.Date(2026, 11, 26, 8, 0, 0, 0, tokyo), utc(2026, 11, 25, 0, 0), utc(2026, 11, 26, 0, 0)},
		{"day in New York is the UTC day", day, time.Date(2026, 11, 25, 20, 0, 0, 0, newYork), utc(2026, 11, 26, 0, 0), utc(2026, 11, 27, 0, 0)},
		{"week on Wednesday", week, utc(2026, 11, 25, 12, 0), utc(2026, 11, 23, 0, 0), utc(2026, 11, 30, 0, 0)},
		{"week at Monday 00:00", week, utc(2026, 11, 23, 0, 0), utc(2026, 11, 23, 0, 0), utc(2026, 11, 30, 0, 0)},
		{"week on Sunday night", week, utc(2026, 11, 29, 23, 59), utc(2026, 11, 23, 0, 0), utc(2026, 11, 30, 0, 0)},
		{"week across the new year", week, utc(2027, 1, 1, 10, 0), utc(2026, 12, 28, 0, 0), utc(2027, 1, 4, 0, 0)},
		{"week: Monday in Tokyo is Sunday in UTC", week, time.Date(2026, 11, 30, 5, 0, 0, 0, tokyo), utc(2026, 11, 23, 0, 0), utc(2026, 11, 30, 0, 0)},
		{"week: Sunday in New York is Monday in UTC", week, time.Date(2026, 11, 29, 21, 0, 0, 0, newYork), utc(2026, 11, 30, 0, 0), utc(2026, 12, 7, 0, 0)},
		{"month on the 1st", month, utc(2026, 11, 1, 0, 0), utc(2026, 11, 1, 0, 0), utc(2026, 12, 1, 0, 0)},
		{"month on the 31st", month, utc(2027, 1, 31, 23, 0), utc(2027, 1, 1, 0, 0), utc(2027, 2, 1, 0, 0)},
		{"February", month, utc(2027, 2, 28, 23, 59), utc(2027, 2, 1, 0, 0), utc(2027, 3, 1, 0, 0)},
		{"February of a leap year", month, utc(2028, 2, 29, 12, 0), utc(2028, 2, 1, 0, 0), utc(2028, 3, 1, 0, 0)},
		{"December to January", month, utc(2026, 12, 31, 23, 59), utc(2026, 12, 1, 0, 0), utc(2027, 1, 1, 0, 0)},
		{"month in Tokyo on the 1st is the previous UTC month", month, time.Date(2026, 12, 1, 3, 0, 0, 0, tokyo), utc(2026, 11, 1, 0, 0), utc(2026, 12, 1, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := tt.w.Start(tt.now)
			if !start.Equal(tt.start) || start.Location() != time.UTC {
				t.Errorf("Start(%v) = %v, want %v (UTC)", tt.now, start, tt.start)
			}
			if next := tt.w.ResetsAt(tt.now, time.Time{}); !next.Equal(tt.next) {
				t.Errorf("ResetsAt(%v) = %v, want %v", tt.now, next, tt.next)
			}
			// The oldest payment does not matter to a calendar window.
			if next := tt.w.ResetsAt(tt.now, tt.start); !next.Equal(tt.next) {
				t.Errorf("ResetsAt with a payment = %v, want %v", next, tt.next)
			}
			if start.After(tt.now) || !tt.next.After(tt.now) {
				t.Errorf("now %v is not within [%v, %v)", tt.now, start, tt.next)
			}
		})
	}
}

func TestRollingWindow(t *testing.T) {
	w := Window{Rolling: 24 * time.Hour}
	now := time.Date(2026, 11, 25, 12, 30, 0, 0, time.FixedZone("UTC+2", 7200))
	if got, want := w.Start(now), now.Add(-24*time.Hour); !got.Equal(want) {
		t.Errorf("Start = %v, want %v", got, want)
	}
	if got := w.ResetsAt(now, time.Time{}); !got.Equal(now) {
		t.Errorf("ResetsAt with nothing counted = %v, want now %v", got, now)
	}
	oldest := now.Add(-3 * time.Hour)
	if got, want := w.ResetsAt(now, oldest), now.Add(21*time.Hour); !got.Equal(want) {
		t.Errorf("ResetsAt = %v, want %v (when the oldest payment leaves)", got, want)
	}
}

func TestParseWindow(t *testing.T) {
	good := map[string]Window{
		"day":   {Period: Day},
		"week":  {Period: Week},
		"month": {Period: Month},
		"24h":   {Rolling: 24 * time.Hour},
		"90m":   {Rolling: 90 * time.Minute},
		"1m":    {Rolling: time.Minute},
		"7d":    {Rolling: 7 * 24 * time.Hour},
		"30d":   {Rolling: 30 * 24 * time.Hour},
		"3660d": {Rolling: maxRolling},
		"1h30m": {Rolling: 90 * time.Minute},
	}
	for s, want := range good {
		got, err := ParseWindow(s)
		if err != nil || got != want {
			t.Errorf("ParseWindow(%q) = %+v, %v; want %+v", s, got, err, want)
			continue
		}
		again, err := ParseWindow(got.String())
		if err != nil || again != got {
			t.Errorf("ParseWindow(%q.String() = %q) = %+v, %v; want %+v", s, got.String(), again, err, got)
		}
	}
	for _, s := range []string{
		"", "Day", " day", "fortnight", "year", "0d", "-1d", "1.5d", "d", "7 d", "3661d",
		"30s", "59s", "0", "0h", "-24h", "1x", "24", "87864h", "9999999999d", "2562048h",
	} {
		if w, err := ParseWindow(s); err == nil {
			t.Errorf("ParseWindow(%q) = %+v, want an error", s, w)
		}
	}
}

func TestWindowStringRoundTrips(t *testing.T) {
	for _, d := range []time.Duration{
		time.Minute, 61 * time.Second, 90 * time.Minute, 24 * time.Hour, 25 * time.Hour,
		7 * 24 * time.Hour, 30*24*time.Hour + time.Nanosecond, maxRolling,
	} {
		w := Window{Rolling: d}
		got, err := ParseWindow(w.String())
		if err != nil || got != w {
			t.Errorf("ParseWindow(%q) = %+v, %v; want %+v", w.String(), got, err, w)
		}
	}
}

func TestParseBudget(t *testing.T) {
	good := map[string]Budget{
		"5000/day":  {Limit: money.Sats(5000), Window: Window{Period: Day}},
		"20000/30d": {Limit: money.Sats(20000), Window: Window{Rolling: 30 * 24 * time.Hour}},
		"1/week":    {Limit: money.Sats(1), Window: Window{Period: Week}},
		"1_000/24h": {Limit: money.Sats(1000), Window: Window{Rolling: 24 * time.Hour}},
		"10/month":  {Limit: money.Sats(10), Window: Window{Period: Month}},
	}
	for s, want := range good {
		got, err := ParseBudget(s)
		if err != nil || got != want {
			t.Errorf("ParseBudget(%q) = %+v, %v; want %+v", s, got, err, want)
		}
		// A parsed budget mints: the caveat reads back the same.
		mac, err := Mint(agentA, keyA, Limits{Budgets: []Budget{got}})
		if err != nil {
			t.Errorf("Mint with %q: %v", s, err)
			continue
		}
		g, err := Inspect(mac)
		if err != nil || len(g.Budgets) != 1 || g.Budgets[0].Budget != want {
			t.Errorf("minted %q reads back as %+v, %v", s, g.Budgets, err)
		}
	}
	for _, s := range []string{
		"", "5000", "0/day", "-5/day", "5000/fortnight", "5000/0d", "5000/30s", "/day", "5000/",
		"1.5/day", "1,000/day", "5000/day/week", "abc/day", "99999999999999999999/day", "2100000000000001/day",
	} {
		if b, err := ParseBudget(s); err == nil {
			t.Errorf("ParseBudget(%q) = %+v, want an error", s, b)
		}
	}
}
