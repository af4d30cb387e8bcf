package framework

import (
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
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

// Parallel runs do on every object with workers at once and returns the first error, naming
// its object.
func Parallel(workers int, objs []client.Object, do func(client.Object) error) error {
	work := make(chan client.Object)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var first error
			for o := range work {
				if err := do(o); err != nil && first == nil {
					first = fmt.Errorf("%s %s/%s: %w", strings.ToLower(o.GetObjectKind().GroupVersionKind().Kind), o.GetNamespace(), o.GetName(), err)
				}
			}
			errs <- first
		}()
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
