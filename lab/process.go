package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/satloop/satloop/internal/tiedproc"
)

// process is one program the lab started. It is recorded in the state file
// as soon as it runs, so that Down can stop it even if Up crashed.
type process struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// Marker is an argument that only this lab's processes carry (their
	// data directory). Down signals a PID only while its command line
	// still holds the marker: after a reboot the PID may be another
	// program's.
	Marker string `json:"marker"`
	Log    string `json:"log"`
}

// startProcess starts bin with args, output appended to logPath. Detached
// processes get their own session, so that they outlive the command that
// started them and a Ctrl-C in its terminal does not reach them. Attached
// ones (tests) die with the process that started them, even if it is
// killed before it can clean up.
func startProcess(name, bin string, args []string, logPath, marker string, detach bool) (*process, *exec.Cmd, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %s log: %w", name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = filepath.Dir(logPath)
	if detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	start := cmd.Start
	if !detach {
		start = func() error { return tiedproc.Start(cmd) }
	}
	if err := start(); err != nil {
		return nil, nil, fmt.Errorf("lab: start %s: %w", name, err)
	}
	// Reap the child when it exits so that it does not linger as a zombie
	// that alive() would still see.
	go cmd.Wait() //nolint:errcheck // the exit status is read from the log
	p := &process{Name: name, PID: cmd.Process.Pid, Marker: marker, Log: logPath}
	// Start returns once the child has called exec, but for a moment
	// after that the kernel shows an empty command line: wait until the
	// marker shows, so that alive() is true from the moment this returns.
	for deadline := time.Now().Add(2 * time.Second); !p.alive() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	return p, cmd, nil
}

// alive reports whether the process still runs and is still ours.
func (p *process) alive() bool {
	if p == nil || p.PID <= 0 {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/cmdline")
	if err != nil {
		return false
	}
	if stat, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/stat"); err == nil {
		// A zombie has exited; only its parent's wait is missing.
		if fields := strings.Fields(string(stat)); len(fields) > 2 && fields[2] == "Z" {
			return false
		}
	}
	return strings.Contains(string(cmdline), p.Marker)
}

// stop asks the process to exit (SIGTERM) and kills it if it has not
// within grace. It is a no-op for a process that is gone or not ours.
func (p *process) stop(ctx context.Context, grace time.Duration) error {
	if !p.alive() {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("lab: stop %s (pid %d): %w", p.Name, p.PID, err)
	}
	deadline := time.Now().Add(grace)
	for p.alive() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("lab: kill %s (pid %d): %w", p.Name, p.PID, err)
			}
			// SIGKILL cannot be ignored; give the kernel a moment.
			for i := 0; i < 50 && p.alive(); i++ {
				time.Sleep(20 * time.Millisecond)
			}
			if p.alive() {
				return fmt.Errorf("lab: %s (pid %d) survived SIGKILL", p.Name, p.PID)
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// logTail is the end of the process's log, for errors about it.
func (p *process) logTail(n int) string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return lastLines(string(b), n)
}

// freePorts reserves n distinct loopback ports by listening on :0, then
// releases them all at once for the caller to use. Another program could
// take one in between; the lab then fails to start and says which.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("lab: find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// fatal marks an error that no amount of waiting cures (a process that
// died), so that waitFor returns it at once.
type fatal struct{ error }

func (f fatal) Unwrap() error { return f.error }

// waitFor polls check every interval until it returns true, returns a
// fatal error, or ctx ends; what names the wait in the error. Other errors
// are taken as "not yet" and the last one is reported on timeout.
func waitFor(ctx context.Context, what string, interval time.Duration, check func() (bool, error)) error {
	var last error
	for {
		ok, err := check()
		if ok {
			return nil
		}
		var f fatal
		if errors.As(err, &f) {
			return fmt.Errorf("lab: waiting for %s: %w", what, f.error)
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("lab: waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("lab: waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// listening reports whether something accepts connections on addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
