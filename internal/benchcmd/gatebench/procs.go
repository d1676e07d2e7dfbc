package main

import (
	"bufio"
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
)

// children are the programs the benchmark started; stopAll ends them.
type children struct {
	cmds []*exec.Cmd
}

// start runs bin with args, its stderr in logDir/name.log, and with
// announce returns the URL it prints on its first stdout line.
func (c *children) start(ctx context.Context, name, bin string, args, env []string, logDir string, announce bool) (*exec.Cmd, string, error) {
	logFile, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, "", fmt.Errorf("%s log: %w", name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logFile
	// The children die with the benchmark even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout *bufio.Reader
	if announce {
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", name, err)
		}
		stdout = bufio.NewReader(pipe)
	} else {
		cmd.Stdout = logFile
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s: %w", name, err)
	}
	c.cmds = append(c.cmds, cmd)
	if !announce {
		return cmd, "", nil
	}
	type line struct {
		s   string
		err error
	}
	got := make(chan line, 1)
	go func() {
		s, err := stdout.ReadString('\n')
		got <- line{strings.TrimSpace(s), err}
	}()
	select {
	case l := <-got:
		if l.err != nil || !strings.HasPrefix(l.s, "http://") {
			return nil, "", fmt.Errorf("%s printed no URL (%v); see %s", name, l.err, logFile.Name())
		}
		return cmd, l.s, nil
	case <-time.After(10 * time.Second):
		return nil, "", fmt.Errorf("%s printed no URL within 10s; see %s", name, logFile.Name())
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

// stopAll asks every child to exit and waits for it.
func (c *children) stopAll() {
	for _, cmd := range c.cmds {
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // already gone is fine
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }() //nolint:errcheck // the exit status of a stopped child says nothing
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill() //nolint:errcheck // already gone is fine
			<-done
		}
	}
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitListening waits until something accepts connections on addr, or
// cmd exits.
func waitListening(ctx context.Context, name, addr string, cmd *exec.Cmd, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if processGone(cmd.Process.Pid) {
			return fmt.Errorf("%s exited before listening on %s", name, addr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not listen on %s after %s", name, addr, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// processGone reports whether pid has exited (a zombie waiting for its
// parent counts as gone).
func processGone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses and may
	// hold spaces.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	f := strings.Fields(rest)
	return len(f) == 0 || f[0] == "Z"
}

// clockTicksPerSecond is Linux's USER_HZ, the unit of the CPU times in
// /proc/PID/stat: 100 on every architecture Linux exposes to user space.
const clockTicksPerSecond = 100

// cpuTime is the user plus system CPU time pid has used so far.
func cpuTime(pid int) (time.Duration, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// After the name: state(0) ppid pgrp session tty tpgid flags minflt
	// cminflt majflt cmajflt utime(11) stime(12).
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicksPerSecond, nil
}

// ioSyscalls is the number of read and write system calls pid has made
// so far (syscr and syscw in /proc/PID/io), socket reads and writes
// included.
func ioSyscalls(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return 0, err
	}
	var n int64
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "syscr" && name != "syscw") {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/io: %s: %w", pid, name, err)
		}
		n += v
		found++
	}
	if found != 2 {
		return 0, fmt.Errorf("/proc/%d/io: no syscr and syscw", pid)
	}
	return n, nil
}
