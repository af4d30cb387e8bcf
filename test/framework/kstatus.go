package framework

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// KStatus is what kstatus (the library Flux and the cli-utils applier use) says of obj.
func KStatus(obj runtime.Object) (status.Status, string, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return "", "", err
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: m})
	if err != nil {
		return "", "", err
	}
	return res.Status, res.Message, nil
}
