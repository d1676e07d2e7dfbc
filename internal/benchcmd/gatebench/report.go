package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// row is one target's figures: medians over the rounds.
type row struct {
	name          string
	rps           float64
	p50, p99      time.Duration
	cpuPerRequest time.Duration
	syscalls      float64
}

// table is the throughput figures, one row per target in run order.
type table []row

// latencyRow is one target's latency, one request at a time.
type latencyRow struct {
	name          string
	requests      int
	p50, p90, p99 time.Duration
}

// report is the summary of a run: throughput under load, and latency
// one request at a time.
type report struct {
	loaded table
	light  []latencyRow
}

func latencyTable(names []string, latencies map[string][]time.Duration) []latencyRow {
	var rows []latencyRow
	for _, name := range names {
		ds := latencies[name]
		if len(ds) == 0 {
			continue
		}
		rows = append(rows, latencyRow{name: name, requests: len(ds), p50: percentile(ds, 50), p90: percentile(ds, 90), p99: percentile(ds, 99)})
	}
	return rows
}

func findLatency(rows []latencyRow, name string) (latencyRow, bool) {
	for _, x := range rows {
		if x.name == name {
			return x, true
		}
	}
	return latencyRow{}, false
}

func summarize(names []string, results map[string][]measurement) table {
	var t table
	for _, name := range names {
		ms := results[name]
		if len(ms) == 0 {
			continue
		}
		t = append(t, row{
			name:          name,
			rps:           median(ms, func(m measurement) float64 { return m.RequestsSec }),
			p50:           time.Duration(median(ms, func(m measurement) float64 { return float64(m.P50) })),
			p99:           time.Duration(median(ms, func(m measurement) float64 { return float64(m.P99) })),
			cpuPerRequest: time.Duration(median(ms, func(m measurement) float64 { return float64(m.CPUPerRequest) })),
			syscalls:      median(ms, func(m measurement) float64 { return m.SyscallsPerRequest }),
		})
	}
	return t
}

// median of one figure over the rounds; with an even count, the mean of
// the middle two.
func median(ms []measurement, figure func(measurement) float64) float64 {
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = figure(m)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func (t table) find(name string) (row, bool) {
	for _, x := range t {
		if x.name == name {
			return x, true
		}
	}
	return row{}, false
}

// The gateway's targets from issue 5.
const (
	minRatioToProxy    = 0.90
	minRatioToAperture = 2.0
	maxAddedP99        = time.Millisecond
)

func (r report) write(w io.Writer) {
	proxy, haveProxy := r.loaded.find(nameProxy)
	tuned, haveTuned := r.loaded.find(nameTuned)
	pooled, havePooled := r.loaded.find(namePooled)
	aperture, haveAperture := r.loaded.find(nameAperture)
	fmt.Fprintln(w, "Throughput under load (wrk): medians over rounds; CPU/req and syscalls/req (reads and writes) are the process under test's;")
	fmt.Fprintln(w, "latency here is mostly queueing (Little's law: connections / throughput)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tp50\tp99\tCPU/req\tsyscalls/req\tx proxy\tx tuned\tx pooled\tx Aperture\t")
	for _, x := range r.loaded {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t\n", x.name, x.rps, us(x.p50), us(x.p99), us(x.cpuPerRequest), x.syscalls,
			ratio(x.rps, proxy.rps, haveProxy), ratio(x.rps, tuned.rps, haveTuned), ratio(x.rps, pooled.rps, havePooled),
			ratio(x.rps, aperture.rps, haveAperture))
	}
	tw.Flush()

	lightUpstream, haveLightUpstream := findLatency(r.light, nameUpstream)
	fmt.Fprintln(w, "\nOne request at a time, targets interleaved: the latency each path adds to the upstream's")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\trequests\tp50\tp90\tp99\tp50 added\tp99 added\t")
	for _, x := range r.light {
		other := haveLightUpstream && x.name != nameUpstream
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", x.name, x.requests, us(x.p50), us(x.p90), us(x.p99),
			added(x.p50, lightUpstream.p50, other), added(x.p99, lightUpstream.p99, other))
	}
	tw.Flush()
	fmt.Fprintln(w)

	gate, ok := r.loaded.find(nameGate)
	if !ok {
		fmt.Fprintln(w, "satloop gate: not measured")
		return
	}
	// The target is against a bare ReverseProxy; the tuned ones
	// are held to the same bar, for the record.
	for _, base := range []struct {
		row  row
		have bool
	}{{proxy, haveProxy}, {tuned, haveTuned}, {pooled, havePooled}} {
		if base.have {
			verdict(w, fmt.Sprintf("gate throughput >= %.0f%% of %s", minRatioToProxy*100, base.row.name),
				gate.rps >= minRatioToProxy*base.row.rps, fmt.Sprintf("%.2fx", gate.rps/base.row.rps))
		}
	}
	if haveAperture {
		verdict(w, fmt.Sprintf("gate throughput >= %.0fx Aperture", minRatioToAperture),
			gate.rps >= minRatioToAperture*aperture.rps, fmt.Sprintf("%.2fx", gate.rps/aperture.rps))
	}
	if lightGate, ok := findLatency(r.light, nameGate); ok && haveLightUpstream {
		verdict(w, "gate p99 added < "+maxAddedP99.String()+" (one request at a time)",
			lightGate.p99-lightUpstream.p99 < maxAddedP99, us(lightGate.p99-lightUpstream.p99))
	}
}

func verdict(w io.Writer, what string, ok bool, figure string) {
	word := "MET"
	if !ok {
		word = "MISSED"
	}
	fmt.Fprintf(w, "%-6s %s: %s\n", word, what, figure)
}

func ratio(a, b float64, have bool) string {
	if !have || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func added(d, base time.Duration, have bool) string {
	if !have {
		return "-"
	}
	return us(d - base)
}

// us prints a duration in microseconds, the unit these figures live in.
func us(d time.Duration) string {
	return fmt.Sprintf("%.0fus", float64(d)/float64(time.Microsecond))
}
