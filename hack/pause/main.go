// Command pause is the local cluster's pod sandbox image: it holds a pod's namespaces and
// sleeps until it is told to stop. The real node cannot pull registry.k8s.io/pause, so the
// project builds this one with `make images`, like every other image it runs.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	// As a sandbox's PID 1 it may inherit orphans: reap them so none stays a zombie.
	reap := make(chan os.Signal, 1)
	signal.Notify(reap, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			return
		case <-reap:
			for {
				pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
