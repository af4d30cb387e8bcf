package gateway

import (
	"context"
	"net"
	"slices"
	"strconv"

	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serverlessplane/operator/pkg/netpolicy"
)

// endpointSliceController is the manager label of the slices Kubernetes derives from a
// Service's selector. Only those count: a slice anyone else wrote (the operator's private
// endpoints, or a tenant's) never receives requests.
const endpointSliceController = "endpointslice-controller.k8s.io"

// readyAddresses returns host:port of the ready endpoints behind a Service's named port, sorted.
func readyAddresses(ctx context.Context, c client.Reader, namespace, service, port string) ([]string, error) {
	var list discoveryv1.EndpointSliceList
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabels{
		discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: endpointSliceController,
	}); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range list.Items {
		var number int32
		for _, p := range s.Ports {
			if p.Name != nil && *p.Name == port && p.Port != nil {
				number = *p.Port
			}
		}
		if number == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if e.Conditions.Terminating != nil && *e.Conditions.Terminating {
				continue
			}
			for _, a := range e.Addresses {
				out = append(out, net.JoinHostPort(a, strconv.Itoa(int(number))))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// modelPort is the port name model Services and their slices use.
const modelPort = netpolicy.PortHTTPS
