// Package podsecurity holds the security contexts that make the operator's pods pass the Pod
// Security "restricted" profile its workspace namespaces enforce.
package podsecurity

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// NonRootUID is the user and group workload containers run as.
const NonRootUID = 65532

// Pod is the pod-level security context: non-root, the runtime's default seccomp profile.
func Pod() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](NonRootUID),
		RunAsGroup:     ptr.To[int64](NonRootUID),
		FSGroup:        ptr.To[int64](NonRootUID),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// Container is the container-level security context: no privilege escalation, no
// capabilities, a read-only root filesystem.
func Container() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
	}
}
