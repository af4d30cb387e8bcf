// Package gateway is the control plane's front door: it authenticates and authorizes every
// request against the Kubernetes API (TokenReview, SubjectAccessReview), enforces an endpoint's
// rate limits, picks the served entity by the endpoint's active traffic and the least-loaded
// ready pod, holds requests for an entity at zero until a pod is ready (telling the operator at
// once), and forwards them over mTLS with the gateway's client certificate, verifying each model
// pod's serving certificate against the operator CA and its Service's name.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/apierror"
	"github.com/serverlessplane/operator/internal/hs2"
	"github.com/serverlessplane/operator/internal/tlsfiles"
	"github.com/serverlessplane/operator/pkg/balance"
	"github.com/serverlessplane/operator/pkg/budget"
	"github.com/serverlessplane/operator/pkg/holdqueue"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/ratelimit"
)

// Options configure a Server.
type Options struct {
	// Reader reads ModelEndpoints and EndpointSlices, normally from an informer cache.
	Reader client.Reader
	// Writer records activation requests on ModelEndpoints.
	Writer client.Writer
	Auth   *Authorizer
	// Upstream is the gateway's client certificate and the operator CA, for model pods.
	Upstream *tlsfiles.Files
	// Domain is the gateway's host name; <workspace>.<Domain> names a workspace.
	Domain string
	// Namespace and Service are the gateway's own, to count the replicas that share a rate
	// limit; empty: one replica.
	Namespace, Service string
	HoldCapacity       int
	HoldTimeout        time.Duration
	// HoldBytes bounds the bodies of every held request together (a held request's body is
	// read, so that a client that leaves is noticed); past it 503. Default 256 MiB.
	HoldBytes int64
	// HoldBytesPerWorkspace is one workspace's share of HoldBytes (default a quarter), so that
	// one workspace holding requests for its own entities cannot keep another's from being
	// held. Each held request is charged its body and heldOverhead.
	HoldBytesPerWorkspace int64
	// ReleasePerPod bounds the requests this replica sends one pod at once while its entity
	// has held requests (default 4, the default modelServing.concurrencyPerReplica): a backlog
	// leaves oldest first at the pace the pods answer, and new requests queue behind it,
	// instead of all landing at once on a pod that just started and overflowing its model
	// proxy's queue.
	ReleasePerPod int
	Clock         clock.WithTicker
	Metrics       *Metrics
	// MaxBody bounds a request body. Default 16 MiB.
	MaxBody int64
	// DialContext dials model pods; tests point pod addresses at loopback with it. Default a
	// net.Dialer with a 5s timeout.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	Log         logr.Logger

	// StatementCapacity bounds each warehouse's statement queue (default 1000; past it 429);
	// RunningPerCluster bounds the statements sent to one cluster at once (default 10).
	StatementCapacity, RunningPerCluster int
	// ResultTTL is how long a finished statement's result is kept (default 1h); ResultBytes
	// bounds every kept result together (default 1 GiB): past either, the oldest are CLOSED.
	ResultTTL   time.Duration
	ResultBytes int64
	// ChunkRows is the rows of one result chunk (default 10000).
	ChunkRows int
	// StatementTextBytes bounds the texts of statements queued or running, all together
	// (default 64 MiB): past it a statement is refused with 503.
	StatementTextBytes int64
}

// Server serves the gateway's API.
type Server struct {
	o       Options
	limiter *ratelimit.Limiter
	hold    *holdqueue.Queue
	loads   balance.Tracker
	// releasing serializes handing held requests to pods, so that two releases never both
	// fill a pod's last place.
	releasing sync.Mutex

	mu         sync.Mutex
	transports map[string]*http.Transport
	poked      map[string]time.Time
	rnd        *rand.Rand
	next       int
	held       *budget.Budget
	wake       chan struct{}
	sql        *sqlStore
	// thrift serves SQL drivers (HiveServer2) on the same statements.
	thrift *hs2.Server
}

// heldOverhead is about what a held request costs besides its body: its request, context and
// goroutine (measured at ~17 KiB of heap). Charging it bounds the number held too.
const heldOverhead = 16 << 10

// repoke is how often a held entity is named again while its requests wait.
const repoke = 5 * time.Second

// New returns a Server.
func New(o Options) *Server {
	if o.MaxBody <= 0 {
		o.MaxBody = 16 << 20
	}
	if o.HoldBytes <= 0 {
		o.HoldBytes = 256 << 20
	}
	if o.HoldBytesPerWorkspace <= 0 {
		o.HoldBytesPerWorkspace = o.HoldBytes / 4
	}
	if o.ReleasePerPod <= 0 {
		o.ReleasePerPod = 4
	}
	if o.StatementCapacity <= 0 {
		o.StatementCapacity = 1000
	}
	if o.RunningPerCluster <= 0 {
		o.RunningPerCluster = 10
	}
	if o.ResultTTL <= 0 {
		o.ResultTTL = time.Hour
	}
	if o.ResultBytes <= 0 {
		o.ResultBytes = 1 << 30
	}
	if o.ChunkRows <= 0 {
		o.ChunkRows = 10000
	}
	if o.StatementTextBytes <= 0 {
		o.StatementTextBytes = 64 << 20
	}
	if o.DialContext == nil {
		o.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	s := &Server{
		o: o, limiter: ratelimit.New(o.Clock), hold: holdqueue.New(o.HoldCapacity, o.HoldTimeout, o.Clock),
		transports: map[string]*http.Transport{}, poked: map[string]time.Time{}, wake: make(chan struct{}, 1),
		rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5e7e)), sql: newSQLStore(o),
		held: budget.New(o.HoldBytes, o.HoldBytesPerWorkspace),
	}
	s.thrift = hs2.New(hs2.Options{Statements: s.Statements(), Clock: o.Clock, Log: o.Log.WithName("thrift")})
	if o.Metrics != nil {
		o.Metrics.Registry.MustRegister(&sqlCollector{s: s})
	}
	return s
}

// Handler routes the gateway's API, under the workspace's host name or the /workspaces/{ws}
// prefix.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, prefix := range []string{"", "/workspaces/{workspace}"} {
		mux.HandleFunc("POST "+prefix+"/serving-endpoints/{endpoint}/invocations", s.invoke)
		mux.HandleFunc("POST "+prefix+"/serving-endpoints/{endpoint}/served-models/{entity}/invocations", s.invoke)
		mux.HandleFunc("POST "+prefix+"/api/2.0/sql/statements", s.execute)
		mux.HandleFunc("POST "+prefix+"/api/2.0/sql/statements/{$}", s.execute)
		mux.HandleFunc("GET "+prefix+"/api/2.0/sql/statements/{id}", s.getStatement)
		mux.HandleFunc("POST "+prefix+"/api/2.0/sql/statements/{id}/cancel", s.cancelStatement)
		mux.HandleFunc("GET "+prefix+"/api/2.0/sql/statements/{id}/result/chunks/{chunk}", s.getChunk)
		mux.Handle("POST "+prefix+"/sql/1.0/warehouses/{warehouse}", s.withStatementCaller(s.thrift.Handler()))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apierror.Write(w, http.StatusNotFound, apierror.EndpointNotFound, "no API at "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// workspace is the request's workspace: the path prefix, or the first label of the host.
func (s *Server) workspace(r *http.Request) string {
	if ws := r.PathValue("workspace"); ws != "" {
		return ws
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if ws, ok := strings.CutSuffix(host, "."+s.o.Domain); ok && !strings.Contains(ws, ".") {
		return ws
	}
	return ""
}

// invoke serves a scoring request.
func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	ctx, start := r.Context(), s.o.Clock.Now()
	ws, name, pinned := s.workspace(r), r.PathValue("endpoint"), r.PathValue("entity")
	if ws == "" {
		apierror.Write(w, http.StatusNotFound, apierror.ResourceDoesNotExist, "no workspace in the request: use the host <workspace>."+s.o.Domain+" or the path prefix /workspaces/<workspace>")
		return
	}
	user, ok := s.authorize(w, r, Resource{Namespace: ws, Resource: "modelendpoints", Subresource: "invocations", Name: name})
	if !ok {
		return
	}
	ep := &computev1.ModelEndpoint{}
	if err := s.o.Reader.Get(ctx, client.ObjectKey{Namespace: ws, Name: name}, ep); err != nil {
		if apierrors.IsNotFound(err) {
			apierror.Write(w, http.StatusNotFound, apierror.ResourceDoesNotExist, fmt.Sprintf("serving endpoint %q does not exist in workspace %q", name, ws))
			return
		}
		apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable, "reading the serving endpoint: "+err.Error())
		return
	}
	if !s.allowRate(w, ep, user) {
		return
	}
	entity := pinned
	if entity == "" {
		entity = balance.PickWeighted(activeRoutes(ep), s.random())
	} else if !hasEntity(ep, entity) {
		apierror.Write(w, http.StatusNotFound, apierror.ResourceDoesNotExist, fmt.Sprintf("serving endpoint %q has no served model %q", name, entity))
		return
	}
	if entity == "" {
		apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable, fmt.Sprintf("serving endpoint %q routes no traffic", name))
		return
	}
	labels := []string{ws, name, entity}
	code := s.forward(w, r, ep, entity)
	s.o.Metrics.requests.WithLabelValues(append(labels, strconv.Itoa(code))...).Inc()
	s.o.Metrics.duration.WithLabelValues(labels...).Observe(s.o.Clock.Since(start).Seconds())
}

// authenticate answers 401 (or 429 for a source with too many failed tokens) itself and returns false when the request bears no valid token.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (authnv1.UserInfo, bool) {
	user, err := s.o.Auth.AuthenticateFrom(r.Context(), r.RemoteAddr, r.Header.Get("Authorization"))
	if err != nil {
		writeAuthError(w, err)
		return user, false
	}
	return user, true
}

// authorize answers 401 or 403 itself and returns false when the request may not go on.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, res Resource) (authnv1.UserInfo, bool) {
	user, ok := s.authenticate(w, r)
	if !ok {
		return user, false
	}
	allowed, err := s.o.Auth.Allowed(r.Context(), user, res)
	if err != nil {
		apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable, err.Error())
		return user, false
	}
	if !allowed {
		apierror.Write(w, http.StatusForbidden, apierror.PermissionDenied, fmt.Sprintf(
			"%s may not create %s/%s %q in workspace %q: bind the serverlessplane-workspace-user role in the workspace",
			user.Username, res.Resource, res.Subresource, res.Name, res.Namespace))
		return user, false
	}
	return user, true
}

// allowRate takes a token from each of the endpoint's rate limits, this replica's share of it.
func (s *Server) allowRate(w http.ResponseWriter, ep *computev1.ModelEndpoint, user authnv1.UserInfo) bool {
	if len(ep.Spec.RateLimits) == 0 {
		return true
	}
	replicas := s.replicas(context.Background())
	for _, l := range ep.Spec.RateLimits {
		key := "endpoint/" + ep.Namespace + "/" + ep.Name
		if l.Key == computev1.RateLimitUser {
			key = "user/" + ep.Namespace + "/" + ep.Name + "/" + user.Username
		}
		ok, retry := s.limiter.Allow(key, ratelimit.Share(int64(l.Calls), replicas), time.Minute)
		if !ok {
			s.o.Metrics.rateLimited.WithLabelValues(ep.Namespace, ep.Name, string(l.Key)).Inc()
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int((retry+time.Second-1)/time.Second))))
			apierror.Write(w, http.StatusTooManyRequests, apierror.RequestLimitExceeded, fmt.Sprintf(
				"serving endpoint %q allows %d calls per minute per %s; retry after %s", ep.Name, l.Calls, strings.ToLower(string(l.Key)), retry.Round(time.Millisecond)))
			return false
		}
	}
	return true
}

// replicas is how many ready gateway pods share the rate limits.
func (s *Server) replicas(ctx context.Context) int {
	if s.o.Service == "" {
		return 1
	}
	addrs, err := readyAddresses(ctx, s.o.Reader, s.o.Namespace, s.o.Service, "https")
	if err != nil || len(addrs) == 0 {
		return 1
	}
	return len(addrs)
}

func (s *Server) random() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rnd.Float64()
}

// activeRoutes is the traffic being served: during a rollout, the config that serves.
func activeRoutes(ep *computev1.ModelEndpoint) []balance.Route {
	var routes []computev1.TrafficRoute
	switch {
	case ep.Status.ActiveTraffic != nil:
		routes = ep.Status.ActiveTraffic.Routes
	case ep.Spec.Traffic != nil:
		routes = ep.Spec.Traffic.Routes
	case len(ep.Spec.ServedEntities) == 1:
		return []balance.Route{{Name: ep.Spec.ServedEntities[0].Name, Percent: 100}}
	}
	out := make([]balance.Route, 0, len(routes))
	for _, r := range routes {
		out = append(out, balance.Route{Name: r.ServedEntity, Percent: r.Percent})
	}
	return out
}

func hasEntity(ep *computev1.ModelEndpoint, name string) bool {
	for _, e := range ep.Spec.ServedEntities {
		if e.Name == name {
			return true
		}
	}
	return false
}

func holdKey(namespace, endpoint, entity string) string {
	return namespace + "/" + endpoint + "/" + entity
}

// forward sends the request to a ready pod of the entity, holding it while there is none or
// while older requests for the entity are held, and returns the status code answered.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, ep *computev1.ModelEndpoint, entity string) int {
	ctx := r.Context()
	service := naming.ServedEntity(ep.Name, entity)
	key := holdKey(ep.Namespace, ep.Name, entity)
	addrs, err := readyAddresses(ctx, s.o.Reader, ep.Namespace, service, modelPort)
	if err != nil {
		apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable, "reading the served model's pods: "+err.Error())
		return http.StatusServiceUnavailable
	}
	var addr string
	if len(addrs) > 0 && s.hold.Held(key) == 0 {
		addr = s.pick(addrs)
		s.loads.Inc(addr)
	} else {
		var code int
		if addr, code = s.holdRequest(w, r, ep, entity, len(addrs) == 0); code != 0 {
			return code
		}
	}
	// The pod's place was taken above, or by the release that handed it over.
	defer func() {
		s.loads.Dec(addr)
		if s.hold.Held(key) > 0 {
			s.releaseHeld(context.WithoutCancel(ctx), ep.Namespace, ep.Name, entity)
		}
	}()
	inFlight := s.o.Metrics.inFlight.WithLabelValues(ep.Namespace, ep.Name, entity)
	inFlight.Inc()
	defer inFlight.Dec()

	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	rp := &httputil.ReverseProxy{
		Transport: s.transport(service + "." + ep.Namespace + ".svc"),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.URL.Path, pr.Out.URL.RawPath = "https", addr, "/invocations", ""
			pr.Out.Host = service + "." + ep.Namespace + ".svc"
			// The token authorized this request here; the model never sees it.
			pr.Out.Header.Del("Authorization")
			pr.SetXForwarded()
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set("served-model-name", entity)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			s.o.Log.V(1).Info("forwarding failed", "endpoint", ep.Namespace+"/"+ep.Name, "entity", entity, "pod", addr, "error", err.Error())
			apierror.Write(w, http.StatusBadGateway, apierror.TemporarilyUnavailable, fmt.Sprintf("served model %q did not answer", entity))
		},
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.o.MaxBody)
	rp.ServeHTTP(rec, r)
	return rec.code
}

// holdRequest holds the request until a release hands it a pod, and returns the pod's
// address (whose place in s.loads the release took); or it answers the request and returns
// its status code. atZero says the entity has no ready pod: the operator is told it waits.
func (s *Server) holdRequest(w http.ResponseWriter, r *http.Request, ep *computev1.ModelEndpoint, entity string, atZero bool) (string, int) {
	ctx := r.Context()
	// net/http cancels an HTTP/1.1 request's context when its client leaves only once the
	// body has been read to its end: read it now, so that a client that gives up while held
	// leaves the queue at once rather than at the hold timeout.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		apierror.Write(w, http.StatusRequestEntityTooLarge, apierror.BadRequest, fmt.Sprintf("the body exceeds %d bytes", tooLarge.Limit))
		return "", http.StatusRequestEntityTooLarge
	case err != nil:
		return "", 499 // the client went away
	}
	cost := int64(len(body)) + heldOverhead
	if err := s.held.Take(ep.Namespace, cost); err != nil {
		apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable, fmt.Sprintf(
			"served model %q is starting and the gateway holds as many requests as it may (%s bytes); retry later", entity, err))
		return "", http.StatusServiceUnavailable
	}
	defer s.held.Give(ep.Namespace, cost)
	r.Body = io.NopCloser(bytes.NewReader(body))
	held := s.o.Metrics.held.WithLabelValues(ep.Namespace, ep.Name, entity)
	held.Inc()
	addr, err := s.hold.WaitToken(ctx, holdKey(ep.Namespace, ep.Name, entity), func(string) {
		if atZero {
			go s.poke(context.WithoutCancel(ctx), ep.Namespace, ep.Name)
		}
		// The entity may have a ready pod by now, or had one all along and its backlog left
		// just before this request queued: the hold loop releases it then.
		s.Wake()
	})
	held.Dec()
	switch {
	case errors.Is(err, holdqueue.ErrFull):
		apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable, fmt.Sprintf(
			"served model %q is starting and already holds %d requests; retry later", entity, s.o.HoldCapacity))
		return "", http.StatusServiceUnavailable
	case errors.Is(err, holdqueue.ErrTimeout):
		apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable, fmt.Sprintf(
			"served model %q did not become ready within %s; retry later", entity, s.o.HoldTimeout))
		return "", http.StatusServiceUnavailable
	case err != nil:
		return "", 499 // the client went away
	}
	return addr, 0
}

// releaseHeld hands the entity's held requests, oldest first, to its ready pods while a pod
// has a free place (fewer than ReleasePerPod requests from this replica), and returns how many
// it released.
func (s *Server) releaseHeld(ctx context.Context, ns, endpoint, entity string) int {
	addrs, err := readyAddresses(ctx, s.o.Reader, ns, naming.ServedEntity(endpoint, entity), modelPort)
	if err != nil || len(addrs) == 0 {
		return 0
	}
	s.releasing.Lock()
	defer s.releasing.Unlock()
	return s.hold.ReleaseEach(holdKey(ns, endpoint, entity), func() (string, bool) {
		addr := s.pick(addrs)
		if s.loads.Get(addr) >= s.o.ReleasePerPod {
			return "", false // the least loaded pod is full: so is every pod
		}
		s.loads.Inc(addr)
		return addr, true
	})
}

// pick is the least-loaded address, round robin among equals.
func (s *Server) pick(addrs []string) string {
	s.mu.Lock()
	s.next++
	start := s.next
	s.mu.Unlock()
	return addrs[balance.LeastLoaded(s.loads.Backends(addrs), start)]
}

// transport is the connection pool to one served entity's pods, verifying their certificate
// for the entity's Service name.
func (s *Server) transport(serverName string) *http.Transport {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.transports[serverName]
	if t == nil {
		t = &http.Transport{
			TLSClientConfig: s.o.Upstream.ClientConfig(serverName), ForceAttemptHTTP2: true,
			DialContext:         s.o.DialContext,
			MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 5 * time.Second,
		}
		s.transports[serverName] = t
	}
	return t
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
