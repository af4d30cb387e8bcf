// Package loadsim is a load simulator for the local cluster, whose pods are simulated and
// export no metrics: it answers the operator's queries as the Prometheus HTTP API would
// (/api/v1/query), with load that a person or a test sets over HTTP:
//
//	curl -X PUT localhost:9464/load/warehouse/analytics/bi -d '{"running": 4, "queued": 30}'
//	curl -X PUT localhost:9464/load/endpoint/ml-platform/churn/champion -d '{"inFlight": 12}'
//	curl localhost:9464/load
//
// The operator runs with metrics.source Prometheus pointed at it, so the autoscaler is driven
// through the same code path as against a real Prometheus.
package loadsim

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WarehouseLoad is a warehouse's simulated load.
type WarehouseLoad struct {
	Running          float64 `json:"running"`
	Queued           float64 `json:"queued"`
	QueueWaitSeconds float64 `json:"queueWaitSeconds"`
}

// EntityLoad is a served entity's simulated load.
type EntityLoad struct {
	InFlight float64 `json:"inFlight"`
}

// Server holds the simulated load and serves it.
type Server struct {
	mu         sync.Mutex
	warehouses map[string]WarehouseLoad
	entities   map[string]EntityLoad
	listener   net.Listener
	srv        *http.Server
}

// Start serves on addr (":0" picks a port) until Close.
func Start(addr string) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{warehouses: map[string]WarehouseLoad{}, entities: map[string]EntityLoad{}, listener: l}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/query", s.query)
	mux.HandleFunc("POST /api/v1/query", s.query)
	mux.HandleFunc("PUT /load/warehouse/{namespace}/{name}", s.setWarehouse)
	mux.HandleFunc("PUT /load/endpoint/{namespace}/{name}/{entity}", s.setEntity)
	mux.HandleFunc("GET /load", s.dump)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// URL is the base URL of the API.
func (s *Server) URL() string { return "http://" + s.listener.Addr().String() }

// Close stops serving.
func (s *Server) Close() error { return s.srv.Close() }

// SetWarehouse sets a warehouse's load.
func (s *Server) SetWarehouse(namespace, name string, l WarehouseLoad) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.warehouses[namespace+"/"+name] = l
}

// SetEntity sets a served entity's load.
func (s *Server) SetEntity(namespace, endpoint, entity string, l EntityLoad) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entities[namespace+"/"+endpoint+"/"+entity] = l
}

var labelMatcher = regexp.MustCompile(`(\w+)="([^"]*)"`)

// query answers an instant query by its metric name and label matchers; anything it does not
// know is an empty vector, which the operator reads as no load.
func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	q := r.FormValue("query")
	labels := map[string]string{}
	for _, m := range labelMatcher.FindAllStringSubmatch(q, -1) {
		labels[m[1]] = m[2]
	}
	s.mu.Lock()
	var value *float64
	switch {
	case labels["warehouse"] != "":
		if l, ok := s.warehouses[labels["namespace"]+"/"+labels["warehouse"]]; ok {
			switch {
			case strings.Contains(q, "running_queries"):
				value = &l.Running
			case strings.Contains(q, "queued_queries"):
				value = &l.Queued
			case strings.Contains(q, "queue_wait"):
				value = &l.QueueWaitSeconds
			}
		}
	case labels["served_entity"] != "":
		if l, ok := s.entities[labels["namespace"]+"/"+labels["endpoint"]+"/"+labels["served_entity"]]; ok {
			value = &l.InFlight
		}
	}
	s.mu.Unlock()
	result := []any{}
	if value != nil {
		result = append(result, map[string]any{
			"metric": map[string]string{},
			"value":  []any{float64(time.Now().Unix()), strconv.FormatFloat(*value, 'f', -1, 64)},
		})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
}

func (s *Server) setWarehouse(w http.ResponseWriter, r *http.Request) {
	var l WarehouseLoad
	if err := json.NewDecoder(r.Body).Decode(&l); err != nil {
		http.Error(w, fmt.Sprintf(`want {"running": N, "queued": N, "queueWaitSeconds": N}: %v`, err), http.StatusBadRequest)
		return
	}
	s.SetWarehouse(r.PathValue("namespace"), r.PathValue("name"), l)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) setEntity(w http.ResponseWriter, r *http.Request) {
	var l EntityLoad
	if err := json.NewDecoder(r.Body).Decode(&l); err != nil {
		http.Error(w, fmt.Sprintf(`want {"inFlight": N}: %v`, err), http.StatusBadRequest)
		return
	}
	s.SetEntity(r.PathValue("namespace"), r.PathValue("name"), r.PathValue("entity"), l)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) dump(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"warehouses": s.warehouses, "endpoints": s.entities})
}
