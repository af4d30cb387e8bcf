package localcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// A journal records, before each change a real node makes to the machine, how to undo it. Undo
// replays it backwards. It is written to disk after every step, so that a run that crashed is
// undone by the next start (recoverMachine) exactly as a clean stop would have been.
type journal struct {
	path  string
	Steps []undoStep `json:"steps"`
}

// undoStep is one undo action: Kind says what, Args with what.
type undoStep struct {
	Kind string   `json:"kind"`
	Args []string `json:"args"`
}

// The kinds of undo step.
const (
	undoRemoveAll  = "remove-all"  // Args: path
	undoSysctl     = "sysctl"      // Args: key, value to restore
	undoCgroup     = "cgroup"      // Args: cgroup name: kill what runs in it, then remove it
	undoDeleteLink = "delete-link" // Args: interface name
	undoUnmount    = "unmount"     // Args: path
)

func openJournal(path string) (*journal, error) {
	j := &journal{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, j); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return j, nil
}

// record appends an undo step and persists the journal before the caller makes the change.
func (j *journal) record(kind string, args ...string) error {
	j.Steps = append(j.Steps, undoStep{Kind: kind, Args: args})
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(j.path), 0o700); err != nil {
		return err
	}
	tmp := j.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, j.path)
}

// undo replays the journal backwards. Every step is idempotent and tolerates a change that was
// never made (the run may have stopped between recording a step and making the change). It goes
// on past a failed step, and returns every failure.
func (j *journal) undo() error {
	var errs []error
	for i := len(j.Steps) - 1; i >= 0; i-- {
		if err := j.Steps[i].run(); err != nil {
			errs = append(errs, fmt.Errorf("undo %s %v: %w", j.Steps[i].Kind, j.Steps[i].Args, err))
		}
	}
	if len(errs) == 0 {
		j.Steps = nil
		if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s undoStep) run() error {
	arg := func(i int) string {
		if i < len(s.Args) {
			return s.Args[i]
		}
		return ""
	}
	switch s.Kind {
	case undoRemoveAll:
		return os.RemoveAll(arg(0))
	case undoSysctl:
		return writeSysctl(arg(0), arg(1))
	case undoCgroup:
		return removeCgroup(arg(0))
	case undoDeleteLink:
		if _, err := net.InterfaceByName(arg(0)); err != nil {
			return nil //nolint:nilerr // not there: nothing to delete
		}
		return runQuiet("ip", "link", "delete", arg(0))
	case undoUnmount:
		if !mounted(arg(0)) {
			return nil
		}
		return syscall.Unmount(arg(0), syscall.MNT_DETACH)
	default:
		return fmt.Errorf("unknown undo step %q", s.Kind)
	}
}

func runQuiet(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// sysctlPath is the /proc/sys file of a dotted key.
func sysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

func readSysctl(key string) (string, error) {
	data, err := os.ReadFile(sysctlPath(key))
	return strings.TrimSpace(string(data)), err
}

func writeSysctl(key, value string) error {
	if cur, err := readSysctl(key); err == nil && cur == value {
		return nil
	}
	return os.WriteFile(sysctlPath(key), []byte(value+"\n"), 0o644)
}

// mounted reports whether path is a mount point of this mount namespace.
func mounted(path string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && unescapeMountPath(f[4]) == path {
			return true
		}
	}
	return false
}

func unescapeMountPath(p string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(p)
}

// cgroupHierarchies are the mounted cgroup hierarchies: every v1 controller's and the unified
// (v2) one, as directories.
func cgroupHierarchies() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var dirs []string
	for _, line := range strings.Split(string(data), "\n") {
		left, right, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		lf, rf := strings.Fields(left), strings.Fields(right)
		if len(lf) > 4 && len(rf) > 0 && (rf[0] == "cgroup" || rf[0] == "cgroup2") {
			dirs = append(dirs, unescapeMountPath(lf[4]))
		}
	}
	sort.Strings(dirs)
	return dirs
}

// cgroupPIDs lists every process in cgroup name, in any hierarchy, its children included.
func cgroupPIDs(name string) []string {
	seen := map[string]bool{}
	var pids []string
	for _, h := range cgroupHierarchies() {
		_ = filepath.WalkDir(filepath.Join(h, name), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(path)
			for _, pid := range strings.Fields(string(data)) {
				if !seen[pid] {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// removeCgroup kills every process in cgroup name, then removes it, deepest first, from every
// hierarchy.
func removeCgroup(name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		pids := cgroupPIDs(name)
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v of cgroup %s do not exit", pids, name)
		}
		for _, pid := range pids {
			var n int
			if _, err := fmt.Sscan(pid, &n); err == nil && n > 1 {
				_ = syscall.Kill(n, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond) // the kernel needs a moment to reap killed processes
	}
	var errs []error
	for _, h := range cgroupHierarchies() {
		root := filepath.Join(h, name)
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- { // children before parents
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}
