package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// The real node lives in a network namespace and a mount namespace of its own, joined to this
// machine by one veth pair; its pods are on a bridge inside that namespace. Its addresses:
const (
	// RealNodeName is the real node's Node name.
	RealNodeName = "serverlessplane-node"
	// hostVeth is this machine's end of the veth pair; the other end is eth0 in nodeNetns.
	hostVeth = "spl-node0"
	// hostAddress is this machine's address on the link: the API server listens there.
	hostAddress = "10.254.0.1"
	// NodeAddress is the node's InternalIP (its end of the link).
	NodeAddress = "10.254.0.2"
	linkPrefix  = 30
	linkCIDR    = "10.254.0.0/30"
	// nodeCgroup holds every process of the node (containerd, its shims, the kubelet, kube-proxy,
	// kube-router) and, below it, every pod: teardown kills what is in it and removes it.
	nodeCgroup = "serverlessplane-node"
	// machineStateDir keeps the journal of machine changes and the mount namespace, outside the
	// cluster's own directory so that a crashed run is found and undone by the next start.
	machineStateDir = "/run/serverlessplane-node"
	iptablesLegacy  = "iptables-legacy"
	guardComment    = "serverlessplane-node guard: nothing leaves this machine"
)

// kernelSysctls are the machine-wide sysctls the kubelet sets (REAL-NODE.md); the node's
// network sysctls (ip_forward and the like) belong to its network namespace and go with it.
var kernelSysctls = []string{"vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops", "net.ipv4.ip_forward"}

// realNode is a running real node: the machine changes it made (its journal) and its daemons.
type realNode struct {
	dir     string // the node's directory in the cluster's: configs, containerd and kubelet state
	binDir  string
	journal *journal
	procs   []*process
	netNS   string // the node's network namespace, a file in machineStateDir
	mountNS string // the node's mount namespace, likewise
	env     []string
}

// RealNodeSupport says why this machine cannot run a real node, or nil when it can.
func RealNodeSupport(binDir string) error {
	if os.Geteuid() != 0 {
		return errors.New("a real node needs root (network and mount namespaces, cgroups, iptables)")
	}
	for _, b := range []string{"kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "runc", "bridge", "host-local", "loopback", "portmap", "kube-router"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return fmt.Errorf("%s is not in %s (hack/kubebins/build.sh --node builds it)", b, binDir)
		}
	}
	for _, tool := range []string{"ip", "nsenter", "unshare", iptablesLegacy, "ipset", "conntrack", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (hack/kubebins/node-deps.sh installs the Debian packages)", tool)
		}
	}
	if len(cgroupHierarchies()) == 0 {
		return errors.New("no cgroup hierarchy is mounted")
	}
	fs, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(fs), "overlay") {
		return errors.New("the kernel has no overlay filesystem (containerd's snapshotter needs it)")
	}
	return nil
}

// RecoverMachine undoes what a real-node run that did not stop cleanly left on the machine
// (Start does it too); a test calls it before taking the machine's state to compare with.
func RecoverMachine() error { return recoverMachine() }

// recoverMachine undoes what a real-node run that did not stop cleanly left on the machine.
func recoverMachine() error {
	j, err := openJournal(filepath.Join(machineStateDir, "journal.json"))
	if err != nil || len(j.Steps) == 0 {
		return err
	}
	fmt.Fprintf(os.Stderr, "localcluster: undoing the %d machine changes of a real node that did not stop cleanly\n", len(j.Steps))
	return j.undo()
}

// startRealNode prepares the machine (journaled) and the node's network, before the control plane
// starts: the API server listens on hostAddress, which the veth pair brings up.
func prepareRealNode(clusterDir, binDir string) (*realNode, error) {
	if err := recoverMachine(); err != nil {
		return nil, fmt.Errorf("localcluster: cleaning up after an earlier real node: %w", err)
	}
	n := &realNode{dir: filepath.Join(clusterDir, "node"), binDir: binDir}
	j, err := openJournal(filepath.Join(machineStateDir, "journal.json"))
	if err != nil {
		return nil, err
	}
	n.journal = j
	if err := n.prepare(); err != nil {
		return n, errors.Join(err, n.stop())
	}
	return n, nil
}

func (n *realNode) prepare() error {
	j := n.journal
	if err := j.record(undoRemoveAll, machineStateDir); err != nil {
		return err
	}
	for _, key := range kernelSysctls {
		v, err := readSysctl(key)
		if err != nil {
			return err
		}
		if err := j.record(undoSysctl, key, v); err != nil {
			return err
		}
	}
	for _, d := range []string{"bin", "cni/net.d", "cni/data", "containerd", "kubelet", "logs"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := n.linkTools(); err != nil {
		return err
	}
	if err := n.mountNamespace(); err != nil {
		return err
	}
	if err := n.network(); err != nil {
		return err
	}
	if err := n.guard(); err != nil {
		return err
	}
	return n.cgroup()
}

// linkTools puts the node's binaries, and the legacy iptables backend under the plain iptables
// names (the one kube-proxy, kube-router and portmap were verified with), first on its PATH.
func (n *realNode) linkTools() error {
	bin := filepath.Join(n.dir, "bin")
	links := map[string]string{}
	for _, tool := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		legacy := strings.Replace(tool, "tables", "tables-legacy", 1)
		p, err := exec.LookPath(legacy)
		if err != nil {
			return fmt.Errorf("%s is not installed: %w", legacy, err)
		}
		links[tool] = p
	}
	for _, b := range []string{"containerd-shim-runc-v2", "runc"} {
		links[b] = filepath.Join(n.binDir, b)
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	n.env = append(os.Environ(), "PATH="+bin+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	return nil
}

// network makes the node's network namespace (persistent: a bind mount of its nsfs file in
// machineStateDir, so nothing is added to /run/netns) and the veth pair that joins it to this
// machine, with a route to the pods through it. Releasing the namespace deletes the pair, its
// addresses and the route.
func (n *realNode) network() error {
	j := n.journal
	n.netNS = filepath.Join(machineStateDir, "net")
	if err := j.record(undoUnmount, n.netNS); err != nil {
		return err
	}
	if err := os.WriteFile(n.netNS, nil, 0o600); err != nil {
		return err
	}
	if err := runQuiet("unshare", "--net="+n.netNS, "true"); err != nil {
		return err
	}
	// Deleting one end of a veth pair deletes both, at once; the namespace's own teardown is lazy.
	if err := j.record(undoDeleteLink, hostVeth); err != nil {
		return err
	}
	inNode := func(args ...string) error {
		return runQuiet("nsenter", append([]string{"--net=" + n.netNS, "ip"}, args...)...)
	}
	link := strconv.Itoa(linkPrefix)
	// The pair is made inside the node's namespace, its peer sent to this process's namespace.
	if err := inNode("link", "add", "eth0", "type", "veth", "peer", "name", hostVeth, "netns", strconv.Itoa(os.Getpid())); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"addr", "add", hostAddress + "/" + link, "dev", hostVeth},
		{"link", "set", hostVeth, "up"},
		{"route", "add", podCIDR, "via", NodeAddress, "dev", hostVeth},
	} {
		if err := runQuiet("ip", args...); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", NodeAddress + "/" + link, "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		// The node reaches this machine only: the API server. Service addresses are translated
		// by kube-proxy before routing; nothing else has a route.
		{"route", "add", serviceCIDR, "via", hostAddress, "dev", "eth0"},
	} {
		if err := inNode(args...); err != nil {
			return err
		}
	}
	return nil
}

// guard drops, at the node's uplink (its end of the veth pair), every packet that would leave
// for anything but this machine's end of the link, where the API server listens: pods, Services
// and the node itself cannot reach past this machine, even where it forwards packets. mangle
// POSTROUTING matches after any address translation. The rule lives in the node's namespaces
// and goes with them.
func (n *realNode) guard() error {
	return runQuiet("nsenter", "--net="+n.netNS, "--mount="+n.mountNS, iptablesLegacy, "-w", "-t", "mangle",
		"-I", "POSTROUTING", "1", "-o", "eth0", "!", "-d", hostAddress+"/32",
		"-m", "comment", "--comment", guardComment, "-j", "DROP")
}

// mountNamespace makes a persistent mount namespace for the node's daemons, a slave of this
// machine's: what they mount (volumes, overlay snapshots, netns handles) stays inside it, and
// fresh tmpfs over /run, /var/lib and /var/log take what the kubelet and the CNI library write
// to fixed paths there.
func (n *realNode) mountNamespace() error {
	j := n.journal
	if err := os.MkdirAll(machineStateDir, 0o700); err != nil {
		return err
	}
	// A persistent namespace is a bind mount of its nsfs file, which needs a private parent mount.
	if err := j.record(undoUnmount, machineStateDir); err != nil {
		return err
	}
	// mount(2) itself, not mount(8): util-linux would record the mounts in /run/mount.
	if err := syscall.Mount(machineStateDir, machineStateDir, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s: %w", machineStateDir, err)
	}
	if err := syscall.Mount("", machineStateDir, "", syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making %s private: %w", machineStateDir, err)
	}
	n.mountNS = filepath.Join(machineStateDir, "mnt")
	if err := os.WriteFile(n.mountNS, nil, 0o600); err != nil {
		return err
	}
	if err := j.record(undoUnmount, n.mountNS); err != nil {
		return err
	}
	setup := "mount -t tmpfs -o mode=0755 serverlessplane-node-run /run && " +
		"mount -t tmpfs -o mode=0755 serverlessplane-node-var-lib /var/lib && " +
		"mount -t tmpfs -o mode=0755 serverlessplane-node-var-log /var/log"
	// mount(8) keeps a table of its mounts in /run/mount (utab), which it would create on this
	// machine's /run before the tmpfs covers it: it goes to the node's directory instead.
	cmd := exec.Command("unshare", "--mount="+n.mountNS, "--propagation", "slave", "sh", "-c", setup)
	cmd.Env = append(os.Environ(), "LIBMOUNT_UTAB="+filepath.Join(n.dir, "utab"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("making the node's mount namespace: %v: %s", err, out)
	}
	return nil
}

// cgroup makes the node's cgroup in every hierarchy; its daemons join it as they start.
func (n *realNode) cgroup() error {
	if err := n.journal.record(undoCgroup, nodeCgroup); err != nil {
		return err
	}
	for _, h := range cgroupHierarchies() {
		dir := filepath.Join(h, nodeCgroup)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if filepath.Base(h) == "cpuset" { // a v1 cpuset takes no task before it has cpus and mems
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(h, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// joinCgroup moves pid into the node's cgroup in every hierarchy.
func joinCgroup(pid int) error {
	for _, h := range cgroupHierarchies() {
		if err := os.WriteFile(filepath.Join(h, nodeCgroup, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("moving %d into %s: %w", pid, filepath.Join(h, nodeCgroup), err)
		}
	}
	return nil
}

// startDaemon runs a node daemon inside the node's namespaces and cgroup.
func (n *realNode) startDaemon(name string, args ...string) (*process, error) {
	nsArgs := append([]string{"--net=" + n.netNS, "--mount=" + n.mountNS, "--"}, args...)
	p, err := startProcessEnv(name, "nsenter", nsArgs, filepath.Join(n.dir, "logs"), n.env)
	if err != nil {
		return nil, err
	}
	n.procs = append(n.procs, p)
	if err := joinCgroup(p.cmd.Process.Pid); err != nil {
		return p, err
	}
	return p, nil
}

func (n *realNode) bin(name string) string { return filepath.Join(n.binDir, name) }

// containerdSocket is the CRI endpoint of the node.
func (n *realNode) containerdSocket() string {
	return filepath.Join(n.dir, "containerd", "containerd.sock")
}

// start starts containerd, imports the images, then the kubelet, kube-proxy and kube-router, and
// returns when the node is Ready.
func (n *realNode) start(ctx context.Context, cs kubernetes.Interface, p *pki, server string, images []string) error {
	if err := n.writeConfigs(p, server); err != nil {
		return err
	}
	if _, err := n.startDaemon("containerd", n.bin("containerd"), "--config", filepath.Join(n.dir, "containerd.toml")); err != nil {
		return err
	}
	if err := n.waitContainerd(ctx); err != nil {
		return err
	}
	if err := n.importImages(ctx, images); err != nil {
		return err
	}
	kubelet, err := n.startDaemon("kubelet", n.bin("kubelet"),
		"--config="+filepath.Join(n.dir, "kubelet.yaml"), "--kubeconfig="+filepath.Join(n.dir, "kubelet.kubeconfig"),
		"--root-dir="+filepath.Join(n.dir, "kubelet"), "--cert-dir="+filepath.Join(n.dir, "kubelet", "pki"),
		"--hostname-override="+RealNodeName, "--node-ip="+NodeAddress,
		"--node-labels=serverlessplane.io/capacity-type=on-demand,serverlessplane.io/node=real")
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, kubelet, "http://"+NodeAddress+":10248/healthz", http.DefaultClient, startTimeout); err != nil {
		return err
	}
	podSubnet, err := waitPodCIDR(ctx, cs)
	if err != nil {
		return err
	}
	if err := n.writeCNIConfig(podSubnet); err != nil {
		return err
	}
	proxy, err := n.startDaemon("kube-proxy", n.bin("kube-proxy"), "--config="+filepath.Join(n.dir, "kube-proxy.yaml"))
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, proxy, "http://"+NodeAddress+":10256/healthz", http.DefaultClient, startTimeout); err != nil {
		return err
	}
	router, err := n.startDaemon("kube-router", n.bin("kube-router"),
		"--kubeconfig="+filepath.Join(n.dir, "kube-router.kubeconfig"), "--hostname-override="+RealNodeName,
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
		"--enable-pod-egress=false", "--enable-ipv6=false", "--service-cluster-ip-range="+serviceCIDR,
		"--health-port=20244", "--metrics-port=0")
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, router, "http://"+NodeAddress+":20244/healthz", http.DefaultClient, startTimeout); err != nil {
		return err
	}
	return waitNodesReady(ctx, cs, 1, startTimeout)
}

func (n *realNode) ctr(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, n.bin("ctr"), append([]string{"--address", n.containerdSocket(), "--namespace", "k8s.io"}, args...)...)
}

func (n *realNode) waitContainerd(ctx context.Context) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, startTimeout, true, func(ctx context.Context) (bool, error) {
		out, err := n.ctr(ctx, "version").CombinedOutput()
		last = fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("containerd did not answer: %v; see %s", last, filepath.Join(n.dir, "logs", "containerd.log"))
	}
	return nil
}

// importImages loads OCI archives into the node's image store, where the kubelet finds them.
func (n *realNode) importImages(ctx context.Context, archives []string) error {
	for _, a := range archives {
		if out, err := n.ctr(ctx, "images", "import", "--no-unpack=false", a).CombinedOutput(); err != nil {
			return fmt.Errorf("importing %s: %v: %s", a, err, out)
		}
	}
	return nil
}

// waitPodCIDR waits for the controller manager to give the node its pod range.
func waitPodCIDR(ctx context.Context, cs kubernetes.Interface) (string, error) {
	var cidr string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, startTimeout, true, func(ctx context.Context) (bool, error) {
		node, err := cs.CoreV1().Nodes().Get(ctx, RealNodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		cidr = node.Spec.PodCIDR
		return cidr != "", nil
	})
	if err != nil {
		return "", fmt.Errorf("node %s got no pod CIDR: %w", RealNodeName, err)
	}
	return cidr, nil
}

// stop stops the daemons, kills whatever else runs in the node's cgroup (shims, pods), and
// undoes every machine change. It is safe to call more than once.
func (n *realNode) stop() error {
	for i := len(n.procs) - 1; i >= 0; i-- {
		n.procs[i].stop(stopGrace)
	}
	n.procs = nil
	if n.journal == nil {
		return nil
	}
	return n.journal.undo()
}
