package localcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// kwokNodeAnnotation marks the nodes kwok manages.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// Node is a fake node: kwok keeps it Ready and runs the pods scheduled on it.
type Node struct {
	Name     string
	Labels   map[string]string
	Taints   []corev1.Taint
	Capacity corev1.ResourceList
}

// DefaultNodes are three on-demand nodes, one spot node (tainted, as cloud spot pools are) and
// one GPU node, labelled the way the operator's default configuration schedules onto them.
func DefaultNodes() []Node {
	capacity := func(extra corev1.ResourceList) corev1.ResourceList {
		c := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("64"),
			corev1.ResourceMemory: resource.MustParse("512Gi"),
			corev1.ResourcePods:   resource.MustParse("250"),
		}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	var nodes []Node
	for i := range 3 {
		nodes = append(nodes, Node{
			Name:     fmt.Sprintf("kwok-node-%d", i),
			Labels:   map[string]string{"serverlessplane.io/capacity-type": "on-demand"},
			Capacity: capacity(nil),
		})
	}
	nodes = append(nodes, Node{
		Name:     "kwok-spot-0",
		Labels:   map[string]string{"serverlessplane.io/capacity-type": "spot"},
		Taints:   []corev1.Taint{{Key: "serverlessplane.io/capacity-type", Value: "spot", Effect: corev1.TaintEffectNoSchedule}},
		Capacity: capacity(nil),
	}, Node{
		Name:     "kwok-gpu-0",
		Labels:   map[string]string{"serverlessplane.io/capacity-type": "on-demand", "serverlessplane.io/gpu": "a10g"},
		Taints:   []corev1.Taint{{Key: "nvidia.com/gpu", Effect: corev1.TaintEffectNoSchedule}},
		Capacity: capacity(corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}),
	})
	return nodes
}

func createNodes(ctx context.Context, cs kubernetes.Interface, nodes []Node) error {
	for _, n := range nodes {
		labels := map[string]string{
			"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"type": "kwok",
		}
		for k, v := range n.Labels {
			labels[k] = v
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels, Annotations: map[string]string{kwokNodeAnnotation: "fake"}},
			Spec:       corev1.NodeSpec{Taints: n.Taints},
			Status:     corev1.NodeStatus{Capacity: n.Capacity, Allocatable: n.Capacity},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", n.Name, err)
		}
	}
	return nil
}

func waitNodesReady(ctx context.Context, cs kubernetes.Interface, want int, timeout time.Duration) error {
	var ready int
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // retried until the timeout
		}
		ready = 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= want, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %d nodes to be Ready (%d are): %w", want, ready, err)
	}
	return nil
}

// writeStages writes kwok's Stage configuration: nodes become Ready and keep a heartbeat
// lease; pods become Running and Ready, Jobs' pods complete, deleted pods go away. The Stage
// files ship in kwok's module (binDir/kwok-stages is a link to its kustomize/stage).
func writeStages(binDir, dir string) (string, error) {
	stages := filepath.Join(binDir, "kwok-stages")
	files := []string{
		"node/fast/node-initialize.yaml",
		"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
		"pod/fast/pod-ready.yaml",
		"pod/fast/pod-complete.yaml",
		"pod/fast/pod-delete.yaml",
	}
	var out bytes.Buffer
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(stages, f))
		if err != nil {
			return "", fmt.Errorf("reading kwok stage %s: %w", f, err)
		}
		out.WriteString("---\n")
		out.Write(data)
		out.WriteString("\n")
	}
	path := filepath.Join(dir, "kwok-stages.yaml")
	return path, os.WriteFile(path, out.Bytes(), 0o644)
}
