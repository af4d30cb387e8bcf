package framework

import (
	"os/exec"
	"syscall"
	"time"
)

// StopProcess ends a started command with SIGTERM and reaps it, with SIGKILL if it is still
// running after grace.
func StopProcess(cmd *exec.Cmd, grace time.Duration) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}
