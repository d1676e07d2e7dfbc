// Command gatebench measures `satloop gate` side by side with the
// alternatives, in one run on loopback: wrk against a trivial upstream
// directly, through a bare httputil.ReverseProxy (Go's default transport,
// one tuned for the concurrency, and that one reusing its copy buffers),
// through Aperture v0.4.2, and through satloop gate, the last two with one
// paid token reused; then the latency of one request at a time, the
// targets interleaved. It writes wrk's raw output and a summary table.
// scripts/bench-gate.sh builds what it needs and runs it; see
// docs/benchmarks.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() {
	// Children are started from this goroutine, locked to the main
	// thread, so that their parent-death signal fires when this process
	// ends, not when the Go runtime retires some other thread.
	runtime.LockOSThread()
	var o options
	flag.StringVar(&o.labDir, "lab-dir", "", "state directory of a running lab (satloop lab up); required")
	flag.StringVar(&o.upstreamBin, "upstream-bin", "", "benchupstream program; required")
	flag.StringVar(&o.proxyBin, "proxy-bin", "", "benchproxy program; required")
	flag.StringVar(&o.satloopBin, "satloop-bin", "", "satloop program, for the gate; empty leaves the gate out")
	flag.StringVar(&o.apertureBin, "aperture-bin", "", "aperture program; empty builds Aperture v0.4.2 into the lab cache if needed")
	flag.StringVar(&o.wrkBin, "wrk", "wrk", "wrk program")
	flag.StringVar(&o.out, "out", "docs/bench/gate-bench.txt", "file for wrk's raw output and the summary")
	flag.StringVar(&o.workDir, "work-dir", "", "directory for the programs' state and logs (default: a new temporary one, removed after a clean run)")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds over all targets; figures are medians over rounds")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "wrk -d of the loaded runs")
	flag.IntVar(&o.threads, "threads", 2, "wrk -t of the loaded runs")
	flag.IntVar(&o.connections, "connections", 32, "wrk -c of the loaded runs")
	flag.DurationVar(&o.probeDuration, "probe-duration", 5*time.Second, "per round, how long to measure latency one request at a time, the targets interleaved")
	flag.Int64Var(&o.priceSats, "price", 10, "price of a token, in sats, for Aperture and the gate")
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "gatebench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatebench:", err)
		os.Exit(1)
	}
}

type options struct {
	labDir, upstreamBin, proxyBin, satloopBin, apertureBin, wrkBin string
	out, workDir                                                   string
	rounds, threads, connections                                   int
	duration, probeDuration                                        time.Duration
	priceSats                                                      int64
}

func (o options) validate() error {
	switch {
	case o.labDir == "":
		return errors.New("-lab-dir is required: start a lab with 'satloop lab up' and pass its directory")
	case o.upstreamBin == "" || o.proxyBin == "":
		return errors.New("-upstream-bin and -proxy-bin are required (scripts/bench-gate.sh builds them)")
	case o.rounds < 1 || o.threads < 1 || o.connections < o.threads:
		return errors.New("-rounds and -threads must be at least 1, and -connections at least -threads")
	case o.duration < time.Second || o.probeDuration < time.Second:
		return errors.New("-duration and -probe-duration must be at least 1s")
	case o.priceSats < 1:
		return errors.New("-price must be at least 1 sat")
	}
	return nil
}

// progressf writes a progress line to stderr; data goes to stdout.
func progressf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gatebench: "+format+"\n", args...)
}
