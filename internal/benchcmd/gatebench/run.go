package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/money"
)

// benchPath is the path every target is asked for.
const benchPath = "/bench"

// target is one thing wrk is pointed at.
type target struct {
	name string
	url  string
	// auth is the Authorization value of a paid token; a secret, sent to
	// wrk and never written anywhere.
	auth string
	// pid is the process under test, whose CPU time per request is
	// reported.
	pid int
}

// Names of the targets, as the summary shows them.
const (
	nameUpstream = "upstream (direct)"
	nameProxy    = "ReverseProxy (default transport)"
	nameTuned    = "ReverseProxy (tuned transport)"
	namePooled   = "ReverseProxy (tuned + BufferPool)"
	nameAperture = "Aperture " + lab.ApertureVersion
	nameGate     = "satloop gate"
)

func run(ctx context.Context, o options, stdout io.Writer) (err error) {
	network, err := lab.Open(o.labDir)
	if err != nil {
		return fmt.Errorf("%w: start one with 'satloop lab up'", err)
	}
	defer network.Close()

	workDir := o.workDir
	if workDir == "" {
		if workDir, err = os.MkdirTemp("", "gatebench-"); err != nil {
			return err
		}
		defer func() {
			if err == nil {
				os.RemoveAll(workDir)
			} else {
				fmt.Fprintf(os.Stderr, "gatebench: logs kept in %s\n", workDir)
			}
		}()
	} else if err := os.MkdirAll(workDir, 0o700); err != nil {
		return err
	}

	var procs children
	defer procs.stopAll()
	price := money.Sats(o.priceSats)

	upstreamCmd, upstreamURL, err := procs.start(ctx, "upstream", o.upstreamBin, nil, nil, workDir, true)
	if err != nil {
		return err
	}
	progressf("upstream at %s", upstreamURL)
	_, want, err := fetch(ctx, upstreamURL+benchPath, "")
	if err != nil {
		return err
	}
	targets := []target{{name: nameUpstream, url: upstreamURL, pid: upstreamCmd.Process.Pid}}

	proxyCmd, proxyURL, err := procs.start(ctx, "proxy", o.proxyBin, []string{"-upstream", upstreamURL}, nil, workDir, true)
	if err != nil {
		return err
	}
	targets = append(targets, target{name: nameProxy, url: proxyURL, pid: proxyCmd.Process.Pid})
	tunedCmd, tunedURL, err := procs.start(ctx, "proxy-tuned", o.proxyBin, []string{"-upstream", upstreamURL, "-tuned"}, nil, workDir, true)
	if err != nil {
		return err
	}
	targets = append(targets, target{name: nameTuned, url: tunedURL, pid: tunedCmd.Process.Pid})
	pooledCmd, pooledURL, err := procs.start(ctx, "proxy-pooled", o.proxyBin, []string{"-upstream", upstreamURL, "-tuned", "-buffer-pool"}, nil, workDir, true)
	if err != nil {
		return err
	}
	targets = append(targets, target{name: namePooled, url: pooledURL, pid: pooledCmd.Process.Pid})

	agent, err := network.Conn(ctx, lab.Agent)
	if err != nil {
		return err
	}
	progressf("starting Aperture %s (built on first use, about 3 minutes)", lab.ApertureVersion)
	ap, err := lab.StartAperture(ctx, lab.ApertureConfig{
		Dir:      filepath.Join(workDir, "aperture"),
		Seller:   network.Node(lab.Seller),
		Upstream: upstreamURL,
		Price:    price,
		Binary:   o.apertureBin,
		Progress: os.Stderr,
	})
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		ap.Stop(stopCtx) //nolint:errcheck // a benchmark's result does not depend on a clean stop
	}()
	apAuth, err := buyToken(ctx, ap.URL()+benchPath, price, agent)
	if err != nil {
		return fmt.Errorf("aperture: %w", err)
	}
	targets = append(targets, target{name: nameAperture, url: ap.URL(), auth: apAuth, pid: ap.PID()})

	if o.satloopBin != "" {
		gateCmd, gateURL, err := startGate(ctx, &procs, o, upstreamURL, workDir)
		if err != nil {
			return err
		}
		gateAuth, err := buyToken(ctx, gateURL+benchPath, price, agent)
		if err != nil {
			return fmt.Errorf("gate: %w", err)
		}
		targets = append(targets, target{name: nameGate, url: gateURL, auth: gateAuth, pid: gateCmd.Process.Pid})
	} else {
		progressf("no -satloop-bin: satloop gate left out")
	}

	for _, t := range targets {
		if err := checkAnswers(ctx, t.url+benchPath, t.auth, want); err != nil {
			return err
		}
	}

	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	raw, err := os.Create(o.out)
	if err != nil {
		return err
	}
	defer raw.Close()
	writeHeader(raw, o)

	results := make(map[string][]measurement)
	latencies := make(map[string][]time.Duration)
	var failures []string
	for round := range o.rounds {
		// Each round starts one target further, so that no target always
		// runs first or right after the same neighbour.
		for i := range targets {
			t := targets[(i+round)%len(targets)]
			progressf("round %d/%d: wrk, %s", round+1, o.rounds, t.name)
			load := loadAverage()
			m, out, err := measure(ctx, o, t)
			fmt.Fprintf(raw, "### round %d, wrk: %s (load average before: %s)\n$ %s\n%s\n", round+1, t.name, load, wrkCommandLine(o, t), out)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if m.Non2xx > 0 || m.SocketErrors > 0 {
				failures = append(failures, fmt.Sprintf("round %d, %s: %d non-2xx responses, %d socket errors", round+1, t.name, m.Non2xx, m.SocketErrors))
			}
			results[t.name] = append(results[t.name], m)
		}
		progressf("round %d/%d: one request at a time, targets interleaved, %s", round+1, o.rounds, o.probeDuration)
		load := loadAverage()
		got, err := probe(ctx, targets, o.probeDuration)
		if err != nil {
			return err
		}
		fmt.Fprintf(raw, "### round %d, one request at a time, targets interleaved, %s (load average before: %s)\n", round+1, o.probeDuration, load)
		for _, t := range targets {
			ds := got[t.name]
			latencies[t.name] = append(latencies[t.name], ds...)
			fmt.Fprintf(raw, "%s: %d requests, p50 %s, p90 %s, p99 %s\n", t.name, len(ds), us(percentile(ds, 50)), us(percentile(ds, 90)), us(percentile(ds, 99)))
		}
		fmt.Fprintln(raw)
	}

	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.name
	}
	report := report{loaded: summarize(names, results), light: latencyTable(names, latencies)}
	fmt.Fprintf(raw, "### summary (load average at the end: %s)\n", loadAverage())
	report.write(raw)
	report.write(stdout)
	if len(failures) > 0 {
		return fmt.Errorf("%w:\n  %s", errRunFailed, strings.Join(failures, "\n  "))
	}
	return nil
}

// errRunFailed marks a benchmark whose figures cannot be trusted: some
// requests failed.
var errRunFailed = errors.New("some wrk runs saw failed requests; their figures are not comparable")

// startGate runs `satloop gate` in its one-line form in front of
// upstream, with plain HTTP on a free loopback port, invoices from the
// lab's seller node and its state in workDir.
func startGate(ctx context.Context, procs *children, o options, upstream, workDir string) (*exec.Cmd, string, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	dataDir := filepath.Join(workDir, "gate")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", err
	}
	// The lab's seller with its admin macaroon: the gate asks the node for
	// GetInfo at start, which lnd's invoice macaroon may not call.
	args := []string{"gate",
		"--upstream", upstream,
		"--price", fmt.Sprint(o.priceSats),
		"--listen", listen,
		"--admin-listen", admin,
		"--tls", "off",
		"--data-dir", dataDir,
		"--lab-dir", o.labDir,
	}
	cmd, _, err := procs.start(ctx, "gate", o.satloopBin, args, nil, workDir, false)
	if err != nil {
		return nil, "", err
	}
	if err := waitListening(ctx, "satloop gate", listen, cmd, 30*time.Second); err != nil {
		logPath := filepath.Join(workDir, "gate.log")
		return nil, "", fmt.Errorf("%w; %s ends:\n%s", err, logPath, logTail(logPath, 10))
	}
	return cmd, "http://" + listen, nil
}

// measurement is one wrk run of one target, with the CPU time and the
// read and write system calls of the process under test per request.
type measurement struct {
	wrkResult
	CPUPerRequest      time.Duration
	SyscallsPerRequest float64
}

// measure runs wrk against t once.
func measure(ctx context.Context, o options, t target) (measurement, string, error) {
	cpuBefore, err := cpuTime(t.pid)
	if err != nil {
		return measurement{}, "", err
	}
	syscallsBefore, err := ioSyscalls(t.pid)
	if err != nil {
		return measurement{}, "", err
	}
	cmd := exec.CommandContext(ctx, o.wrkBin, wrkArgs(o, t, t.auth)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return measurement{}, string(out), fmt.Errorf("wrk: %w", err)
	}
	cpuAfter, err := cpuTime(t.pid)
	if err != nil {
		return measurement{}, string(out), err
	}
	syscallsAfter, err := ioSyscalls(t.pid)
	if err != nil {
		return measurement{}, string(out), err
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return measurement{}, string(out), err
	}
	m := measurement{wrkResult: r}
	if r.Requests > 0 {
		m.CPUPerRequest = (cpuAfter - cpuBefore) / time.Duration(r.Requests)
		m.SyscallsPerRequest = float64(syscallsAfter-syscallsBefore) / float64(r.Requests)
	}
	return m, string(out), nil
}

func wrkArgs(o options, t target, auth string) []string {
	args := []string{
		"-t", fmt.Sprint(o.threads),
		"-c", fmt.Sprint(o.connections),
		"-d", fmt.Sprintf("%ds", int(o.duration.Seconds())),
		"--latency",
	}
	if auth != "" {
		args = append(args, "-H", "Authorization: "+auth)
	}
	return append(args, t.url+benchPath)
}

// wrkCommandLine is the wrk command for the record, the token redacted.
func wrkCommandLine(o options, t target) string {
	auth := ""
	if t.auth != "" {
		auth = "L402 <token>:<preimage>"
	}
	args := wrkArgs(o, t, auth)
	for i, a := range args {
		if strings.ContainsAny(a, " <>") {
			args[i] = "'" + a + "'"
		}
	}
	return o.wrkBin + " " + strings.Join(args, " ")
}

// writeHeader records the machine and the settings above the raw output.
func writeHeader(w io.Writer, o options) {
	fmt.Fprintf(w, "# satloop gateway benchmark (scripts/bench-gate.sh), %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "# machine: %d CPUs (%s), %s, load average %s\n", runtime.NumCPU(), cpuModel(), runtime.Version(), loadAverage())
	fmt.Fprintf(w, "# throughput: wrk -t%d -c%d -d%s --latency per target, targets rotated each round, medians over %d rounds\n",
		o.threads, o.connections, o.duration, o.rounds)
	fmt.Fprintf(w, "# latency: one request at a time, targets interleaved request by request, %s per round, percentiles over all rounds\n", o.probeDuration)
	fmt.Fprintf(w, "# paid targets reuse one token bought from the lab's seller (price %d sats), sent as Authorization: L402 ...\n\n", o.priceSats)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return "unknown CPU"
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// logTail is the last n lines of a log file, for errors about a program
// that failed.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
