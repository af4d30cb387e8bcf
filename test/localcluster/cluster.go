// Package localcluster runs the local cluster: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler, and either one real node (kubelet, containerd, runc, CNI, kube-proxy and
// kube-router, in network and mount namespaces of its own: realnode.go) or kwok, which simulates
// nodes and the kubelets that run pods on them. It is the embedded default for trying the
// operator and the cluster the end-to-end tests run against.
package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1"
	podCIDR     = "10.244.0.0/16"
	// startTimeout bounds how long each component may take to become healthy.
	startTimeout = 2 * time.Minute
	// stopGrace is how long each component gets to exit after SIGTERM.
	stopGrace = 10 * time.Second
)

// Options configure a local cluster.
type Options struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and the
	// kwok-stages directory (hack/kubebins/build.sh prints it).
	BinDir string
	// Dir keeps the cluster's data, certificates, logs and kubeconfig. It is created if missing.
	Dir string
	// Nodes are the fake nodes to create; DefaultNodes if empty. Ignored with RealNode.
	Nodes []Node
	// RealNode starts one real node instead of kwok's fake ones (RealNodeSupport says whether
	// this machine can). BinDir must then hold the node's binaries (build.sh --node).
	RealNode bool
	// Images are OCI archives the real node imports before its kubelet starts; they must include
	// the pause image (PauseImage).
	Images []string
}

// Cluster is a running local cluster.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig for the cluster.
	Kubeconfig string
	// Dir is the cluster's state directory; Dir/logs has each component's log.
	Dir string
	// Config is the admin REST config.
	Config *rest.Config

	procs []*process
	node  *realNode
}

// Start brings a cluster up and returns when every component is healthy and every node Ready.
// On error, whatever was started is stopped again.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Dir == "" {
		return nil, errors.New("localcluster: Options.Dir is required")
	}
	if len(opts.Nodes) == 0 {
		opts.Nodes = DefaultNodes()
	}
	if opts.RealNode {
		if err := RealNodeSupport(opts.BinDir); err != nil {
			return nil, fmt.Errorf("localcluster: this machine cannot run a real node: %w", err)
		}
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, b)); err != nil {
			return nil, fmt.Errorf("localcluster: %s not found in %q; run hack/kubebins/build.sh", b, opts.BinDir)
		}
	}
	logs := filepath.Join(opts.Dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}
	c = &Cluster{Dir: opts.Dir, Kubeconfig: filepath.Join(opts.Dir, "kubeconfig")}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	// The API server listens on loopback, or with a real node on this machine's end of the
	// node's link, where the node and its pods reach it.
	apiAddress := "127.0.0.1"
	var extraIPs []net.IP
	if opts.RealNode {
		if c.node, err = prepareRealNode(opts.Dir, opts.BinDir); err != nil {
			return c, err
		}
		apiAddress, extraIPs = hostAddress, []net.IP{net.ParseIP(hostAddress)}
	}
	certs, err := writePKI(filepath.Join(opts.Dir, "pki"), extraIPs...)
	if err != nil {
		return c, fmt.Errorf("localcluster: certificates: %w", err)
	}
	ports, err := freePorts(6)
	if err != nil {
		return c, err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	bin := func(name string) string { return filepath.Join(opts.BinDir, name) }

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	if err := c.run(ctx, "etcd", bin("etcd"), []string{
		"--name=local", "--data-dir=" + filepath.Join(opts.Dir, "etcd"),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=local=" + peerURL, "--unsafe-no-fsync=true",
	}, etcdURL+"/health", http.DefaultClient); err != nil {
		return c, err
	}

	server := "https://" + apiAddress + ":" + strconv.Itoa(apiPort)
	admin, err := adminClient(certs)
	if err != nil {
		return c, err
	}
	apiserverArgs := []string{
		"--bind-address=" + apiAddress, "--advertise-address=" + apiAddress,
	}
	if opts.RealNode {
		// The API server reaches the kubelet (logs, exec) at its InternalIP, never by resolving
		// the node's name through this machine's resolver.
		kubeletCert, kubeletKey, err := certs.clientCert("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
		if err != nil {
			return c, err
		}
		apiserverArgs = append(apiserverArgs, "--kubelet-preferred-address-types=InternalIP",
			"--kubelet-client-certificate="+kubeletCert, "--kubelet-client-key="+kubeletKey)
	}
	if err := c.run(ctx, "kube-apiserver", bin("kube-apiserver"), append(apiserverArgs,
		"--etcd-servers="+etcdURL, "--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+filepath.Join(opts.Dir, "pki"),
		"--tls-cert-file="+certs.servingCert, "--tls-private-key-file="+certs.servingKey,
		"--client-ca-file="+certs.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+certs.saPublic, "--service-account-signing-key-file="+certs.saPrivate,
		"--service-cluster-ip-range="+serviceCIDR,
		"--authorization-mode=Node,RBAC", "--allow-privileged=true",
	), server+"/readyz", admin); err != nil {
		return c, err
	}
	if err := writeKubeconfig(c.Kubeconfig, server, certs); err != nil {
		return c, err
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return c, err
	}

	kubeconfigFlags := []string{
		"--kubeconfig=" + c.Kubeconfig, "--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig, "--leader-elect=false", "--bind-address=127.0.0.1",
	}
	kcmArgs := kubeconfigFlags
	if opts.RealNode { // kube-router and the CNI config need the node's pod range
		kcmArgs = append(kcmArgs, "--allocate-node-cidrs", "--cluster-cidr="+podCIDR)
	}
	if err := c.run(ctx, "kube-controller-manager", bin("kube-controller-manager"), append(kcmArgs,
		"--secure-port="+strconv.Itoa(kcmPort),
		"--service-account-private-key-file="+certs.saPrivate, "--root-ca-file="+certs.caCert,
		"--cluster-signing-cert-file="+certs.caCert, "--cluster-signing-key-file="+certs.caKey,
		"--service-cluster-ip-range="+serviceCIDR, "--use-service-account-credentials=true",
	), "https://127.0.0.1:"+strconv.Itoa(kcmPort)+"/healthz", insecureClient()); err != nil {
		return c, err
	}
	if err := c.run(ctx, "kube-scheduler", bin("kube-scheduler"), append(kubeconfigFlags,
		"--secure-port="+strconv.Itoa(schedPort),
	), "https://127.0.0.1:"+strconv.Itoa(schedPort)+"/healthz", insecureClient()); err != nil {
		return c, err
	}

	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return c, err
	}
	if opts.RealNode {
		return c, c.node.start(ctx, cs, certs, server, opts.Images)
	}
	stages, err := writeStages(opts.BinDir, opts.Dir)
	if err != nil {
		return c, err
	}
	kwokAddr := "127.0.0.1:" + strconv.Itoa(kwokPort)
	if err := c.run(ctx, "kwok", bin("kwok"), []string{
		"--kubeconfig=" + c.Kubeconfig, "--config=" + stages,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		"--cidr=" + podCIDR, "--node-ip=10.250.0.1", "--server-address=" + kwokAddr,
		// kwok renews each node's lease, so the node lifecycle controller keeps nodes Ready and
		// their pods Ready.
		"--node-lease-duration-seconds=40",
	}, "http://"+kwokAddr+"/healthz", http.DefaultClient); err != nil {
		return c, err
	}
	if err := createNodes(ctx, cs, opts.Nodes); err != nil {
		return c, err
	}
	return c, waitNodesReady(ctx, cs, len(opts.Nodes), startTimeout)
}

// run starts a component and waits until its health endpoint answers.
func (c *Cluster) run(ctx context.Context, name, bin string, args []string, health string, client *http.Client) error {
	p, err := startProcess(name, bin, args, filepath.Join(c.Dir, "logs"))
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return waitHealthy(ctx, p, health, client, startTimeout)
}

// RealNode reports whether the cluster runs a real node (rather than kwok's).
func (c *Cluster) RealNode() bool { return c.node != nil }

// Stop stops the real node, if any, undoing every change it made to the machine, then every
// control-plane component, last started first. It is safe to call more than once; it returns
// what could not be undone.
func (c *Cluster) Stop() error {
	var err error
	if c.node != nil {
		err = c.node.stop()
		c.node = nil
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(stopGrace)
	}
	c.procs = nil
	return err
}

// Kubectl returns a kubectl command against the cluster, from BinDir when it has one.
func (c *Cluster) Kubectl(binDir string, args ...string) *exec.Cmd {
	kubectl := filepath.Join(binDir, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		kubectl = "kubectl"
	}
	return exec.Command(kubectl, append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...)
}

func adminClient(certs *pki) (*http.Client, error) {
	pair, err := tls.LoadX509KeyPair(certs.adminCert, certs.adminKey)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(certs.caCert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}, nil
}

func writeKubeconfig(path, server string, certs *pki) error {
	return writeClientKubeconfig(path, server, certs.caCert, "admin", certs.adminCert, certs.adminKey)
}
