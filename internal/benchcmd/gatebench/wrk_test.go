package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Real output of wrk 4.1.0 (Debian), once with every response a 404.
const wrkNon2xx = `Running 1s test @ http://127.0.0.1:18777/nonexistent
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.92ms    1.72ms   8.48ms   83.22%
    Req/Sec     1.18k   411.38     1.97k    70.00%
  Latency Distribution
     50%    1.11ms
     75%    2.64ms
     90%    4.29ms
     99%    7.78ms
  1175 requests in 1.01s, 596.68KB read
  Non-2xx or 3xx responses: 1175
Requests/sec:   1169.05
Transfer/sec:    593.66KB
`

const wrkSocketErrors = `Running 10s test @ http://127.0.0.1:40000/bench
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   412.00us  120.50us   9.10ms   91.00%
    Req/Sec    38.10k     1.20k   41.00k    72.00%
  Latency Distribution
     50%  390.00us
     75%  450.00us
     90%  520.00us
     99%    1.02ms
  758000 requests in 10.00s, 95.00MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
Requests/sec:  75800.12
Transfer/sec:      9.50MB
`

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want wrkResult
	}{
		{"non-2xx", wrkNon2xx, wrkResult{Requests: 1175, RequestsSec: 1169.05, P50: 1110 * time.Microsecond, P99: 7780 * time.Microsecond, Non2xx: 1175}},
		{"socket errors", wrkSocketErrors, wrkResult{Requests: 758000, RequestsSec: 75800.12, P50: 390 * time.Microsecond, P99: 1020 * time.Microsecond, SocketErrors: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("parseWrk = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseWrkRefuses(t *testing.T) {
	tests := []struct{ name, out string }{
		{"empty", ""},
		{"no latency distribution", strings.ReplaceAll(wrkSocketErrors, "99%", "98%")},
		{"no rate", strings.ReplaceAll(wrkSocketErrors, "Requests/sec:", "Rate:")},
		{"bad latency", strings.ReplaceAll(wrkSocketErrors, "1.02ms", "1.02xs")},
		{"negative latency", strings.ReplaceAll(wrkSocketErrors, "1.02ms", "-1.02ms")},
		{"bad rate", strings.ReplaceAll(wrkSocketErrors, "75800.12", "many")},
		{"NaN rate", strings.ReplaceAll(wrkSocketErrors, "75800.12", "NaN")},
		{"infinite rate", strings.ReplaceAll(wrkSocketErrors, "75800.12", "+Inf")},
		{"bad socket errors", strings.ReplaceAll(wrkSocketErrors, "read 3,", "read x,")},
		{"bad non-2xx", strings.ReplaceAll(wrkNon2xx, "responses: 1175", "responses: -1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseWrk(tt.out); !errors.Is(err, errWrkOutput) {
				t.Fatalf("parseWrk = %v, want errWrkOutput", err)
			}
		})
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkNon2xx)
	f.Add(wrkSocketErrors)
	f.Fuzz(func(t *testing.T, out string) {
		r, err := parseWrk(out)
		if err != nil {
			if !errors.Is(err, errWrkOutput) {
				t.Fatalf("error %v does not wrap errWrkOutput", err)
			}
			return
		}
		if r.P50 < 0 || r.P99 < 0 || r.RequestsSec < 0 || r.Requests < 0 || r.Non2xx < 0 || r.SocketErrors < 0 {
			t.Fatalf("negative figure in %+v", r)
		}
	})
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		ds := make([]time.Duration, len(ns))
		for i, n := range ns {
			ds[i] = time.Duration(n) * time.Millisecond
		}
		return ds
	}
	tests := []struct {
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(5, 1, 3, 2, 4), 50, 3 * time.Millisecond},
		{ms(5, 1, 3, 2, 4), 100, 5 * time.Millisecond},
		{ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 90, 9 * time.Millisecond},
		{ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 1, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.ds, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.ds, tt.p, got, tt.want)
		}
	}
}
