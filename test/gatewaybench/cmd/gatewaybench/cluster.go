package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
)

// The endpoint the benchmark scores against: one served entity with one ready pod.
const (
	workspace = "bench"
	endpoint  = "iris"
	entity    = "blue"
	// podIP is a TEST-NET-1 address that the gateway's dialer maps to the proxy's listener.
	podIP   = "192.0.2.10"
	podPort = 8443
)

// servingName is the DNS name the gateway verifies on the model pod's certificate.
var servingName = naming.ServedEntity(endpoint, entity) + "." + workspace + ".svc"

// objects are what the gateway's informer cache would hold: the ModelEndpoint and the
// EndpointSlice Kubernetes derives from the entity's Service.
func objects() (*computev1.ModelEndpoint, *discoveryv1.EndpointSlice) {
	ep := &computev1.ModelEndpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: workspace, Name: endpoint},
		Spec: computev1.ModelEndpointSpec{ServedEntities: []computev1.ServedEntity{{
			Name: entity, Model: computev1.ModelRef{Name: "main.default.iris", Version: "1"},
		}}},
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: workspace, Name: naming.ServedEntity(endpoint, entity) + "-x7k2p", Labels: map[string]string{
			discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
			discoveryv1.LabelServiceName: naming.ServedEntity(endpoint, entity),
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{podIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(podPort)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	return ep, slice
}

// newFakeClient is controller-runtime's fake client holding objects(). Its reads round-trip
// every object through JSON, which costs the gateway far more per request than its informer
// cache does.
func newFakeClient() (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := computev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	ep, slice := objects()
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(ep, slice).Build(), nil
}

// cacheReader reads objects() as controller-runtime's informer cache reads its store: a lookup,
// a label match and a deep copy of what it returns. It knows only the two kinds the gateway
// reads.
type cacheReader struct {
	endpoint *computev1.ModelEndpoint
	slice    *discoveryv1.EndpointSlice
}

func newCacheReader() *cacheReader {
	ep, slice := objects()
	return &cacheReader{endpoint: ep, slice: slice}
}

func (c *cacheReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	ep, ok := obj.(*computev1.ModelEndpoint)
	if !ok {
		return fmt.Errorf("cacheReader holds no %T", obj)
	}
	if key.Namespace != c.endpoint.Namespace || key.Name != c.endpoint.Name {
		return apierrors.NewNotFound(computev1.GroupVersion.WithResource("modelendpoints").GroupResource(), key.Name)
	}
	c.endpoint.DeepCopyInto(ep)
	return nil
}

func (c *cacheReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	slices, ok := list.(*discoveryv1.EndpointSliceList)
	if !ok {
		return fmt.Errorf("cacheReader holds no %T", list)
	}
	o := (&client.ListOptions{}).ApplyOptions(opts)
	slices.Items = nil
	if (o.Namespace == "" || o.Namespace == c.slice.Namespace) && (o.LabelSelector == nil || o.LabelSelector.Matches(labels.Set(c.slice.Labels))) {
		slices.Items = append(slices.Items, *c.slice.DeepCopy())
	}
	return nil
}

// readerCost is the mean time of the reads the gateway makes per request (the endpoint and the
// entity's slices), on r.
func readerCost(ctx context.Context, r client.Reader, n int) (time.Duration, error) {
	start := time.Now()
	for range n {
		if err := r.Get(ctx, client.ObjectKey{Namespace: workspace, Name: endpoint}, &computev1.ModelEndpoint{}); err != nil {
			return 0, err
		}
		var list discoveryv1.EndpointSliceList
		if err := r.List(ctx, &list, client.InNamespace(workspace), client.MatchingLabels{
			discoveryv1.LabelServiceName: naming.ServedEntity(endpoint, entity), discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io",
		}); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}
