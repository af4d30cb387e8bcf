package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/apierror"
	"github.com/serverlessplane/operator/internal/sqlwire"
	"github.com/serverlessplane/operator/pkg/netpolicy"
	"github.com/serverlessplane/operator/pkg/stmtqueue"
)

// Labels of warehouse pods the gateway reads (the warehouse controller sets them).
const (
	labelCluster = computev1.LabelCluster
	// labelServing is "false" on the pods of a draining cluster.
	labelServing = "compute.serverlessplane.io/serving"
)

// sqlStore holds the statements this gateway replica accepted and the warehouses' queues.
type sqlStore struct {
	queues   *stmtqueue.Queues
	ttl      time.Duration
	maxBytes int64

	// text is the bytes of the texts of statements not yet ended, bounded by maxText.
	text, maxText atomic.Int64

	mu    sync.Mutex
	byID  map[string]*statement
	bytes int64
	poked map[string]time.Time
}

func newSQLStore(o Options) *sqlStore {
	c := &sqlStore{
		queues: stmtqueue.New(o.StatementCapacity), ttl: o.ResultTTL, maxBytes: o.ResultBytes,
		byID: map[string]*statement{}, poked: map[string]time.Time{},
	}
	c.maxText.Store(o.StatementTextBytes)
	return c
}

// admitText charges a statement's text to the budget of texts kept until their statements
// end, or says the budget has no room for it.
func (c *sqlStore) admitText(n int64) bool {
	if c.text.Add(n) > c.maxText.Load() {
		c.text.Add(-n)
		return false
	}
	return true
}

func (c *sqlStore) releaseText(n int64) { c.text.Add(-n) }

func warehouseKey(namespace, name string) string { return namespace + "/" + name }

func (c *sqlStore) submit(st *statement) error {
	if err := c.queues.Enqueue(warehouseKey(st.namespace, st.warehouse), st.id, st.submitted); err != nil {
		return err
	}
	c.mu.Lock()
	c.byID[st.id] = st
	c.mu.Unlock()
	return nil
}

func (c *sqlStore) get(id string) *statement {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id]
}

// cancel ends a statement that has not finished: a queued one leaves its queue, a running one
// is interrupted on its engine.
func (c *sqlStore) cancel(st *statement, now time.Time) {
	st.mu.Lock()
	state := st.state
	st.mu.Unlock()
	if state == StatePending {
		// If it was dispatched meanwhile, its runner finds it final and frees the slot.
		c.queues.Remove(warehouseKey(st.namespace, st.warehouse), st.id)
	}
	// finish interrupts the engine of a running statement.
	st.finish(StateCanceled, nil, now)
}

// close ends a statement (cancels it if it still runs) and lets its result go now.
func (c *sqlStore) close(st *statement, now time.Time) {
	c.cancel(st, now)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.state, st.columns, st.chunks, st.bytes, st.finished = StateClosed, nil, nil, 0, now
}

// expire closes the results past the bounds:
// those older than the TTL, then the oldest while the total is over the byte budget. Records
// of closed statements go after a second TTL.
func (c *sqlStore) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var finished []*statement
	total := int64(0)
	for id, st := range c.byID {
		st.mu.Lock()
		switch {
		case st.state == StateClosed && now.Sub(st.finished) > c.ttl:
			delete(c.byID, id)
		case st.final() && st.state != StateClosed && now.Sub(st.finished) > c.ttl:
			st.state, st.columns, st.chunks, st.bytes, st.finished = StateClosed, nil, nil, 0, now
		case st.final() && st.state != StateClosed:
			finished = append(finished, st)
			total += st.bytes
		default:
			total += st.bytes
		}
		st.mu.Unlock()
	}
	sort.Slice(finished, func(i, j int) bool { return finished[i].finished.Before(finished[j].finished) })
	for _, st := range finished {
		if total <= c.maxBytes {
			break
		}
		st.mu.Lock()
		total -= st.bytes
		st.state, st.columns, st.chunks, st.bytes, st.finished = StateClosed, nil, nil, 0, now
		st.mu.Unlock()
	}
	c.bytes = total
	for key, at := range c.poked {
		if now.Sub(at) > time.Minute {
			delete(c.poked, key)
		}
	}
}

// warehousePods are a warehouse's engine addresses by cluster, and its clusters as the queue
// sees them: only clusters with a ready pod, draining when their pods are out of service.
func (s *Server) warehousePods(ctx context.Context, namespace, warehouse string) ([]stmtqueue.Cluster, map[string][]string, error) {
	var pods corev1.PodList
	if err := s.o.Reader.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{
		computev1.LabelWarehouse: warehouse, computev1.LabelManagedBy: computev1.ManagedByValue,
	}); err != nil {
		return nil, nil, err
	}
	addrs, draining := map[string][]string{}, map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		id := p.Labels[labelCluster]
		if id == "" || !p.DeletionTimestamp.IsZero() || p.Status.PodIP == "" || !podReady(p) {
			continue
		}
		if p.Labels[labelServing] != "true" {
			draining[id] = true
		}
		if port := sqlPort(p); port != 0 {
			addrs[id] = append(addrs[id], net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(port))))
		}
	}
	clusters := make([]stmtqueue.Cluster, 0, len(addrs))
	for id, a := range addrs {
		sort.Strings(a)
		clusters = append(clusters, stmtqueue.Cluster{ID: id, Draining: draining[id]})
	}
	return clusters, addrs, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func sqlPort(p *corev1.Pod) int32 {
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Name == netpolicy.PortSQL {
				return port.ContainerPort
			}
		}
	}
	return 0
}

// pump sends a warehouse's queued statements to the clusters that can take them, and tells
// the operator at once when statements wait for a warehouse with no serving cluster.
func (s *Server) pump(ctx context.Context, namespace, warehouse string) {
	key := warehouseKey(namespace, warehouse)
	clusters, addrs, err := s.warehousePods(ctx, namespace, warehouse)
	if err != nil {
		s.o.Log.Error(err, "reading the warehouse's pods", "warehouse", key)
		return
	}
	serving := 0
	for _, c := range clusters {
		if !c.Draining {
			serving++
		}
	}
	if serving == 0 && s.sql.queues.Stats(key, s.o.Clock.Now()).Queued > 0 {
		if gone := s.warehouseGone(ctx, namespace, warehouse); gone != "" {
			// Nothing will ever start: the statements fail rather than wait forever.
			for _, id := range s.sql.queues.Drain(key) {
				if st := s.sql.get(id); st != nil {
					st.finish(StateFailed, &sqlwire.StatementError{ErrorCode: sqlwire.CodeBadRequest, Message: gone}, s.o.Clock.Now())
				}
			}
			return
		}
		s.pokeWarehouse(ctx, namespace, warehouse)
	}
	for _, a := range s.sql.queues.Dispatch(key, clusters, perClusterShare(s.o.RunningPerCluster, s.replicas(ctx))) {
		st := s.sql.get(a.Statement)
		if st == nil {
			s.sql.queues.Done(key, a.Cluster)
			continue
		}
		go s.runStatement(st, a.Cluster, addrs[a.Cluster])
	}
}

// warehouseGone says why a warehouse will not run its statements (deleted, or being
// deleted), or "" while it exists.
func (s *Server) warehouseGone(ctx context.Context, namespace, warehouse string) string {
	wh := &computev1.ServerlessWarehouse{}
	err := s.o.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: warehouse}, wh)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("warehouse %q was deleted before the statement ran", warehouse)
	case err == nil && !wh.DeletionTimestamp.IsZero():
		return fmt.Sprintf("warehouse %q is being deleted: the statement did not run", warehouse)
	}
	return ""
}

// perClusterShare is this replica's share of the statements a cluster runs at once: each
// gateway replica dispatches on its own, so together they stay within the limit (rounded down,
// at least one each).
func perClusterShare(limit, replicas int) int {
	return max(1, limit/max(1, replicas))
}

// pumpAll pumps every warehouse with statements queued.
func (s *Server) pumpAll(ctx context.Context) {
	for _, key := range s.sql.queues.Keys() {
		if ns, wh, ok := strings.Cut(key, "/"); ok {
			s.pump(ctx, ns, wh)
		}
	}
}

// pokeWarehouse records on the warehouse that statements wait for it, so that the operator,
// which watches warehouses, starts a cluster now rather than at its next tick. At most once a
// second, and again every few seconds while they wait.
func (s *Server) pokeWarehouse(ctx context.Context, namespace, warehouse string) {
	key, now := warehouseKey(namespace, warehouse), s.o.Clock.Now()
	s.sql.mu.Lock()
	if now.Sub(s.sql.poked[key]) < repoke {
		s.sql.mu.Unlock()
		return
	}
	s.sql.poked[key] = now
	s.sql.mu.Unlock()
	value := "statements@" + now.UTC().Format(time.RFC3339Nano)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{computev1.AnnotationActivation: value}}})
	wh := &computev1.ServerlessWarehouse{}
	wh.Namespace, wh.Name = namespace, warehouse
	if err := s.o.Writer.Patch(ctx, wh, client.RawPatch(types.MergePatchType, patch)); err != nil {
		s.o.Log.Error(err, "telling the operator of queued statements", "warehouse", key)
	}
}

// runStatement runs a dispatched statement on the least-loaded engine of its cluster, keeps
// its result, then frees the cluster's slot and dispatches what waits.
func (s *Server) runStatement(st *statement, cluster string, addrs []string) {
	key := warehouseKey(st.namespace, st.warehouse)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		s.sql.queues.Done(key, cluster)
		s.o.Metrics.statements.WithLabelValues(st.namespace, st.warehouse, st.finalState()).Inc()
		s.o.Metrics.statementDuration.WithLabelValues(st.namespace, st.warehouse).Observe(s.o.Clock.Since(st.submitted).Seconds())
		s.pump(context.Background(), st.namespace, st.warehouse)
	}()
	st.mu.Lock()
	if st.final() {
		st.mu.Unlock()
		return
	}
	st.state, st.cancel = StateRunning, cancel
	wire := st.req // finish clears the text: what is sent is this copy
	st.mu.Unlock()
	if len(addrs) == 0 {
		st.finish(StateFailed, &sqlwire.StatementError{ErrorCode: sqlwire.CodeUnavailable, Message: "the warehouse cluster has no ready engine"}, s.o.Clock.Now())
		return
	}
	addr := s.pick(addrs)
	s.loads.Inc(addr)
	defer s.loads.Dec(addr)
	serverName := st.warehouse + "." + st.namespace + ".svc"
	fail := func(code, message string) {
		if ctx.Err() != nil {
			st.finish(StateCanceled, nil, s.o.Clock.Now())
			return
		}
		st.finish(StateFailed, &sqlwire.StatementError{ErrorCode: code, Message: message}, s.o.Clock.Now())
	}
	body, _ := json.Marshal(wire)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+sqlwire.Path, bytes.NewReader(body))
	req.Host = serverName
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.transport(serverName).RoundTrip(req)
	if err != nil {
		s.o.Log.V(1).Info("sending a statement failed", "warehouse", key, "pod", addr, "error", err.Error())
		fail(sqlwire.CodeUnavailable, fmt.Sprintf("cluster %s of warehouse %q did not answer", cluster, st.warehouse))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e apierror.Body
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		fail(sqlwire.CodeUnavailable, fmt.Sprintf("cluster %s of warehouse %q refused the statement (%d): %s", cluster, st.warehouse, resp.StatusCode, e.Message))
		return
	}
	s.readResult(ctx, st, resp.Body, fail)
}

// maxAnswer bounds the bytes of an engine's answer the gateway reads: a result kept whole is
// at most InlineLimit, and its JSON is no larger than what it costs to keep (rowsBytes), so an
// answer past twice that is refused before a frame of it is decoded whole.
const maxAnswer = 2 * InlineLimit

var errAnswerTooLarge = errors.New("answer too large")

// boundedReader reads at most left bytes, then fails with errAnswerTooLarge.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errAnswerTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// readResult keeps the frames of a statement's answer and finishes it.
func (s *Server) readResult(ctx context.Context, st *statement, body io.Reader, fail func(code, message string)) {
	s.readResultAt(ctx, st, body, fail, s.o.Clock.Now)
}

// readResultAt is readResult with the clock's now.
func (s *Server) readResultAt(ctx context.Context, st *statement, body io.Reader, fail func(code, message string), now func() time.Time) {
	dec := json.NewDecoder(&boundedReader{r: body, left: maxAnswer})
	for {
		var f sqlwire.Frame
		if err := dec.Decode(&f); err != nil {
			if errors.Is(err, errAnswerTooLarge) {
				fail(sqlwire.CodeBadRequest, fmt.Sprintf("the result exceeds the INLINE limit of %d MiB: add a LIMIT or set row_limit", InlineLimit>>20))
				return
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			fail(sqlwire.CodeUnavailable, "the engine stopped answering before the end of the result: "+err.Error())
			return
		}
		switch {
		case f.Error != nil:
			if ctx.Err() != nil {
				st.finish(StateCanceled, nil, now())
			} else {
				st.finish(StateFailed, f.Error, now())
			}
			return
		case f.End != nil:
			st.mu.Lock()
			st.rows, st.truncated = f.End.RowCount, f.End.Truncated
			st.mu.Unlock()
			st.finish(StateSucceeded, nil, now())
			return
		case f.Columns != nil:
			st.mu.Lock()
			st.columns = f.Columns
			st.mu.Unlock()
		case len(f.Rows) == 0:
			// An empty frame (or one of no known kind) holds nothing to keep.
		case f.Rows != nil:
			size := rowsBytes(f.Rows)
			st.mu.Lock()
			if st.final() {
				st.mu.Unlock()
				return
			}
			over := st.bytes+size > InlineLimit
			if !over {
				st.chunks, st.bytes = append(st.chunks, f.Rows), st.bytes+size
			}
			st.mu.Unlock()
			if over {
				st.finish(StateFailed, &sqlwire.StatementError{ErrorCode: sqlwire.CodeBadRequest, Message: fmt.Sprintf(
					"the result exceeds the INLINE limit of %d MiB: add a LIMIT or set row_limit", InlineLimit>>20)}, now())
				return
			}
		}
	}
}

// rowsBytes is about what rows cost to keep.
func rowsBytes(rows [][]*string) int64 {
	n := int64(0)
	for _, r := range rows {
		n += 24
		for _, v := range r {
			n += 8
			if v != nil {
				n += int64(len(*v)) + 16
			}
		}
	}
	return n
}

func (st *statement) finalState() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.state
}
