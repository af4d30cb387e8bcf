package localcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// counters are the packet and byte counts of iptables-save, which change on their own.
var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// MachineState renders what a real-node run must leave as it found it: interfaces, addresses
// and routes, iptables (both backends) and ipset state, mount points, the sysctls the kubelet and
// the bridge plugin change, cgroups, and what is in /run, /var/lib and /var/log. Two renderings
// of an untouched machine are equal.
func MachineState() (string, error) {
	var b strings.Builder
	section := func(title, text string) { fmt.Fprintf(&b, "== %s\n%s\n", title, strings.TrimSpace(text)) }
	for _, c := range [][]string{
		{"ip", "-br", "link"}, {"ip", "-br", "addr"}, {"ip", "route"}, {"ip", "-6", "route"},
		{"iptables-legacy-save"}, {"ip6tables-legacy-save"}, {"iptables-nft-save"}, {"ip6tables-nft-save"},
		{"ipset", "list", "-n"},
	} {
		if _, err := exec.LookPath(c[0]); err != nil {
			section(strings.Join(c, " "), "(not installed)")
			continue
		}
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(l, "#") { // iptables-save's dated comments
				lines = append(lines, counters.ReplaceAllString(l, ""))
			}
		}
		section(strings.Join(c, " "), strings.Join(lines, "\n"))
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	var mounts []string
	for _, l := range strings.Split(string(mountinfo), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			mounts = append(mounts, unescapeMountPath(f[4]))
		}
	}
	sort.Strings(mounts)
	section("mounts", strings.Join(mounts, "\n"))
	var sysctls []string
	for _, k := range kernelSysctls {
		v, err := readSysctl(k)
		if err != nil {
			return "", err
		}
		sysctls = append(sysctls, k+" = "+v)
	}
	section("sysctls", strings.Join(sysctls, "\n"))
	var cgroups []string
	for _, h := range cgroupHierarchies() {
		entries, _ := os.ReadDir(h)
		for _, e := range entries {
			if e.IsDir() {
				cgroups = append(cgroups, filepath.Join(h, e.Name()))
			}
		}
	}
	section("cgroups", strings.Join(cgroups, "\n"))
	for _, dir := range []string{"/run", "/var/lib", "/var/log"} {
		entries, _ := os.ReadDir(dir)
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		section(dir, strings.Join(names, "\n"))
	}
	return b.String(), nil
}
