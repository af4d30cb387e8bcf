package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Write is one write the operator sent to the API server.
type Write struct {
	Verb, Type, Namespace, Name string
}

func (w Write) String() string {
	return fmt.Sprintf("%s %s %s/%s", w.Verb, w.Type, w.Namespace, w.Name)
}

// WriteLog records every write the operator's client makes.
type WriteLog struct {
	mu     sync.Mutex
	writes []Write
}

// Since returns the writes after the first n, for which filter is true.
func (l *WriteLog) Since(n int, filter func(Write) bool) []Write {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Write
	for _, w := range l.writes[n:] {
		if filter(w) {
			out = append(out, w)
		}
	}
	return out
}

// Len is the number of writes so far.
func (l *WriteLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.writes)
}

func (l *WriteLog) record(verb string, obj any) {
	w := Write{Verb: verb, Type: fmt.Sprintf("%T", obj)}
	if o, ok := obj.(client.Object); ok {
		w.Namespace, w.Name = o.GetNamespace(), o.GetName()
		if gvk := o.GetObjectKind().GroupVersionKind(); gvk.Kind != "" {
			w.Type = gvk.Kind
		}
	} else if data, err := json.Marshal(obj); err == nil {
		var m struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Namespace, Name string
			} `json:"metadata"`
		}
		if json.Unmarshal(data, &m) == nil {
			w.Type, w.Namespace, w.Name = m.Kind, m.Metadata.Namespace, m.Metadata.Name
		}
	}
	l.mu.Lock()
	l.writes = append(l.writes, w)
	l.mu.Unlock()
}

// newClientFunc builds the manager's client so that every write lands in log.
func newClientFunc(log *WriteLog) client.NewClientFunc {
	return func(config *rest.Config, options client.Options) (client.Client, error) {
		c, err := client.New(config, options)
		if err != nil {
			return nil, err
		}
		return &loggingClient{Client: c, log: log}, nil
	}
}

type loggingClient struct {
	client.Client
	log *WriteLog
}

func (c *loggingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.log.record("create", obj)
	return c.Client.Create(ctx, obj, opts...)
}

func (c *loggingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.log.record("update", obj)
	return c.Client.Update(ctx, obj, opts...)
}

func (c *loggingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.log.record("patch", obj)
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *loggingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c.log.record("apply", obj)
	return c.Client.Apply(ctx, obj, opts...)
}

func (c *loggingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.log.record("delete", obj)
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *loggingClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	c.log.record("deleteallof", obj)
	return c.Client.DeleteAllOf(ctx, obj, opts...)
}

func (c *loggingClient) Status() client.SubResourceWriter {
	return &loggingSubResource{SubResourceClient: c.Client.SubResource("status"), log: c.log, name: "status"}
}

func (c *loggingClient) SubResource(name string) client.SubResourceClient {
	return &loggingSubResource{SubResourceClient: c.Client.SubResource(name), log: c.log, name: name}
}

type loggingSubResource struct {
	client.SubResourceClient
	log  *WriteLog
	name string
}

func (s *loggingSubResource) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	s.log.record(s.name+"/create", obj)
	return s.SubResourceClient.Create(ctx, obj, sub, opts...)
}

func (s *loggingSubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.log.record(s.name+"/update", obj)
	return s.SubResourceClient.Update(ctx, obj, opts...)
}

func (s *loggingSubResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.log.record(s.name+"/patch", obj)
	return s.SubResourceClient.Patch(ctx, obj, patch, opts...)
}

func (s *loggingSubResource) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	s.log.record(s.name+"/apply", obj)
	return s.SubResourceClient.Apply(ctx, obj, opts...)
}
