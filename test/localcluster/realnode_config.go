package localcluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// PauseImage is the pod sandbox image, built by `make images` and pinned in containerd.
const PauseImage = "serverlessplane-pause:dev"

// nodeConfig is what the node's configuration files are made of.
type nodeConfig struct {
	Dir, BinDir, Socket   string
	PauseImage            string
	NodeName, NodeAddress string
	// HostAddress is this machine's end of the node's link: pods route to it, so that what
	// runs here (a test, a user's curl) reaches pod addresses and gets answers.
	HostAddress          string
	ClientCA             string
	PodCIDR, ServiceCIDR string
	PodSubnet            string
	Cgroup               string
}

var containerdTemplate = template.Must(template.New("containerd").Parse(`# The real node's containerd (config version 4, containerd 2.4): every path is under the
# cluster's directory, and nothing is pulled (images are imported, the sandbox image is pinned).
version = 4
root = "{{.Dir}}/containerd/root"
state = "{{.Dir}}/containerd/state"
imports = []
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.differ.v1.erofs",
  "io.containerd.mount-handler.v1.erofs",
]

[plugins]
  [plugins."io.containerd.server.v1.grpc"]
    address = "{{.Socket}}"
  [plugins."io.containerd.server.v1.ttrpc"]
    address = "{{.Socket}}.ttrpc"
  [plugins."io.containerd.internal.v1.opt"]
    path = "{{.Dir}}/containerd/opt"

  [plugins."io.containerd.cri.v1.images"]
    snapshotter = "overlayfs"
    [plugins."io.containerd.cri.v1.images".pinned_images]
      sandbox = "{{.PauseImage}}"

  [plugins."io.containerd.cri.v1.runtime"]
    # This machine lacks CAP_SYS_RESOURCE in the bounding set: sandboxes may not lower it.
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.cri.v1.runtime".containerd]
      default_runtime_name = "runc"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        disable_pause_image_pull = true
        [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
          BinaryName = "{{.BinDir}}/runc"
          Root = "{{.Dir}}/containerd/runc"
          SystemdCgroup = false
    [plugins."io.containerd.cri.v1.runtime".cni]
      bin_dirs = ["{{.BinDir}}"]
      conf_dir = "{{.Dir}}/cni/net.d"
      max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri"]
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
`))

var kubeletTemplate = template.Must(template.New("kubelet").Parse(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 is what this machine has; 1.35+ refuses it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /{{.Cgroup}}
# This machine lacks CAP_SYS_RESOURCE: the kubelet cannot lower its own OOM score.
oomScoreAdj: 0
# Pods must not get this machine's resolver.
resolvConf: ""
readOnlyPort: 0
failSwapOn: false
address: {{.NodeAddress}}
healthzBindAddress: {{.NodeAddress}}
healthzPort: 10248
containerRuntimeEndpoint: unix://{{.Socket}}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {{.ClientCA}}
authorization:
  mode: Webhook
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
clusterDomain: cluster.local
maxPods: 110
`))

var kubeProxyTemplate = template.Must(template.New("kube-proxy").Parse(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: {{.NodeName}}
clientConnection:
  kubeconfig: {{.Dir}}/kube-proxy.kubeconfig
clusterCIDR: {{.PodCIDR}}
bindAddress: {{.NodeAddress}}
healthzBindAddress: {{.NodeAddress}}:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["{{.NodeAddress}}/32"]
iptables:
  localhostNodePorts: false
# No conntrack sysctl is changed.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`))

var cniTemplate = template.Must(template.New("cni").Parse(`{
  "cniVersion": "1.0.0",
  "name": "serverlessplane",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "{{.Dir}}/cni/data",
        "ranges": [[{"subnet": "{{.PodSubnet}}"}]],
        "routes": [{"dst": "{{.ServiceCIDR}}"}, {"dst": "{{.HostAddress}}/32"}]
      }
    },
    {"type": "portmap", "backend": "iptables", "capabilities": {"portMappings": true}}
  ]
}
`))

func (n *realNode) config() nodeConfig {
	return nodeConfig{
		Dir: n.dir, BinDir: n.binDir, Socket: n.containerdSocket(), PauseImage: PauseImage,
		NodeName: RealNodeName, NodeAddress: NodeAddress, HostAddress: hostAddress, PodCIDR: podCIDR, ServiceCIDR: serviceCIDR,
		Cgroup: nodeCgroup,
	}
}

func writeTemplate(path string, t *template.Template, data any) error {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

// writeConfigs writes containerd's, the kubelet's and kube-proxy's configuration and a
// kubeconfig per component, each with a client certificate for its own identity.
func (n *realNode) writeConfigs(p *pki, server string) error {
	cfg := n.config()
	cfg.ClientCA = p.caCert
	for file, t := range map[string]*template.Template{
		"containerd.toml": containerdTemplate, "kubelet.yaml": kubeletTemplate, "kube-proxy.yaml": kubeProxyTemplate,
	} {
		if err := writeTemplate(filepath.Join(n.dir, file), t, cfg); err != nil {
			return err
		}
	}
	for _, id := range []struct{ file, user, group string }{
		{"kubelet", "system:node:" + RealNodeName, "system:nodes"},
		{"kube-proxy", "system:kube-proxy", ""},
		// kube-router watches pods, namespaces and policies cluster-wide; a local test cluster
		// gives it the admin group rather than a role of its own.
		{"kube-router", "kube-router", "system:masters"},
	} {
		var groups []string
		if id.group != "" {
			groups = append(groups, id.group)
		}
		cert, key, err := p.clientCert(id.file, id.user, groups...)
		if err != nil {
			return err
		}
		if err := writeClientKubeconfig(filepath.Join(n.dir, id.file+".kubeconfig"), server, p.caCert, id.file, cert, key); err != nil {
			return err
		}
	}
	return nil
}

// writeCNIConfig writes the bridge network on the node's pod range; containerd picks it up.
func (n *realNode) writeCNIConfig(podSubnet string) error {
	cfg := n.config()
	cfg.PodSubnet = podSubnet
	return writeTemplate(filepath.Join(n.dir, "cni", "net.d", "10-serverlessplane.conflist"), cniTemplate, cfg)
}

// writeClientKubeconfig writes a kubeconfig for the cluster at server that authenticates as
// user with a client certificate.
func writeClientKubeconfig(path, server, ca, user, cert, key string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["serverlessplane-local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificate: cert, ClientKey: key}
	cfg.Contexts["serverlessplane-local"] = &clientcmdapi.Context{Cluster: "serverlessplane-local", AuthInfo: user}
	cfg.CurrentContext = "serverlessplane-local"
	return clientcmd.WriteToFile(*cfg, path)
}
