// Package tiedproc starts child processes that die with their parent:
// the lab's btcd and lnd under a test binary, a test's PostgreSQL server.
// A killed test must not leave servers behind holding ports and disk.
package tiedproc

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// Start starts cmd with a parent-death SIGKILL, keeping whatever else
// cmd.SysProcAttr asks for.
//
// Pdeathsig fires when the OS thread that forked the child exits, not the
// process, and Go may end threads at will: every child is forked from one
// goroutine locked to its thread forever.
func Start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	starterOnce.Do(func() {
		starts = make(chan startRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must outlive the children
			for req := range starts {
				req.done <- req.cmd.Start()
			}
		}()
	})
	req := startRequest{cmd: cmd, done: make(chan error, 1)}
	starts <- req
	return <-req.done
}

var (
	starterOnce sync.Once
	starts      chan startRequest
)

type startRequest struct {
	cmd  *exec.Cmd
	done chan error
}
