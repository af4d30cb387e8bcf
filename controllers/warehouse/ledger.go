package warehouse

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/quota"
)

// Labels of the ledger's ConfigMaps.
const (
	// LabelRegion marks a ledger object with its region.
	LabelRegion = "compute.serverlessplane.io/region"
	// LabelQuota says which part of a region's ledger an object is: LedgerTotal or
	// LedgerReservation.
	LabelQuota = "compute.serverlessplane.io/quota"
	// LedgerTotal is the ConfigMap with the DBU/h every warehouse of the region holds.
	LedgerTotal = "total"
	// LedgerReservation is the ConfigMap with the DBU/h one warehouse holds.
	LedgerReservation = "reservation"
)

// contention is the backoff between ledger writes that lost a race: jittered, so that many
// warehouses reconciling at once spread out, and long enough for every one of them to land.
var contention = wait.Backoff{Steps: 40, Duration: 5 * time.Millisecond, Factor: 1.5, Jitter: 1, Cap: time.Second}

// errNeedsRepair says that a region's total is missing or does not parse: no reservation is
// checked against it until it is rebuilt from the reservations and the live clusters.
var errNeedsRepair = errors.New("the region's quota total needs a repair")

// Ledger stores each region's quota ledger in the operator namespace as one ConfigMap per
// warehouse (its reservation, naming.QuotaReservation) and one for the region's total
// (naming.QuotaLedger). Every change writes the warehouse's reservation and the total, both a
// few bytes whatever the number of warehouses in the region. The total is the gate: a
// reservation that grows raises the total first. In this process those writes take turns; the
// total's resourceVersion guards against any other writer (a leader hand-over, an edit), so of
// two racing for the last capacity one fails with a conflict and is retried against the new
// total, where the capacity is gone. A total that grows is written
// before the reservation and one that shrinks after it, so a pass that stops between the two
// writes leaves the total above what the reservations hold (never below: the quota is never
// overshot), and the repair brings it back.
type Ledger struct {
	// Client writes the ledger and reads the cache (estimates, and the live clusters).
	Client client.Client
	// Reader reads the ledger fresh from the API server for every change.
	Reader    client.Reader
	Namespace string
	Config    *configv1.OperatorConfig

	mu      sync.Mutex
	regions map[string]*regionState
	mine    map[string]bool
	order   []string
}

// regionState serializes a region's repair against its changes in this process: changes take
// the read lock (the total's resourceVersion orders them), the repair the write lock, so the
// repair never sums reservations while a change is between its two writes.
type regionState struct {
	sync.RWMutex
	// total serializes this process's writes of the region's total: racing for it through the
	// API server would only turn each write but one into a conflict and a retry.
	total sync.Mutex
}

// mineKept is how many of its own latest writes the ledger remembers, so that their watch
// events are told from someone else's.
const mineKept = 4096

func (l *Ledger) region(name string) *regionState {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.regions == nil {
		l.regions = map[string]*regionState{}
	}
	if l.regions[name] == nil {
		l.regions[name] = &regionState{}
	}
	return l.regions[name]
}

// remember notes a write of this process: the resourceVersion it left, or the UID of what it
// deleted.
func (l *Ledger) remember(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mine == nil {
		l.mine = map[string]bool{}
	}
	l.mine[id] = true
	l.order = append(l.order, id)
	if len(l.order) > mineKept {
		delete(l.mine, l.order[0])
		l.order = l.order[1:]
	}
}

// Mine says whether this process wrote obj as it is (or deleted it): its watch event needs no
// repair. Any other change of a ledger object is someone else's, and its region is repaired.
func (l *Ledger) Mine(obj client.Object, deleted bool) bool {
	id := "rv:" + obj.GetResourceVersion()
	if deleted {
		id = "uid:" + string(obj.GetUID())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mine[id]
}

// Read returns, from the cache, what the region's warehouses hold and what key holds, for
// estimates; Update checks against the API server.
func (l *Ledger) Read(ctx context.Context, region, key string) (used, own int64, err error) {
	total := &corev1.ConfigMap{}
	if err := l.Client.Get(ctx, l.totalKey(region), total); client.IgnoreNotFound(err) != nil {
		return 0, 0, err
	}
	used, _ = quota.DecodeTotal(total.Data) // a damaged total counts nothing until it is repaired
	res := &corev1.ConfigMap{}
	if err := l.Client.Get(ctx, l.reservationKey(key), res); client.IgnoreNotFound(err) != nil {
		return 0, 0, err
	}
	if k, dbu, ok := quota.DecodeReservation(res.Data); ok && k == key {
		own = dbu
	}
	return used, own, nil
}

// Update sets key's reservation to what decide returns for what every other warehouse holds
// (others) and what key holds (own), retrying on conflicts, and returns what it wrote (or
// found unchanged). A total that is missing or damaged is rebuilt first.
func (l *Ledger) Update(ctx context.Context, region, key string, decide func(others, own int64) int64) (int64, error) {
	granted, err := l.update(ctx, region, key, decide)
	if errors.Is(err, errNeedsRepair) {
		if err := l.rebuild(ctx, region); err != nil {
			return 0, err
		}
		granted, err = l.update(ctx, region, key, decide)
	}
	return granted, err
}

func (l *Ledger) update(ctx context.Context, region, key string, decide func(others, own int64) int64) (int64, error) {
	s := l.region(region)
	s.RLock()
	defer s.RUnlock()
	res, own, damaged, err := l.reservation(ctx, key)
	if err != nil {
		return 0, err
	}
	var granted int64
	s.total.Lock()
	err = retry.RetryOnConflict(contention, func() error {
		total, used, err := l.total(ctx, region)
		if err != nil {
			return err
		}
		if used < own {
			return errNeedsRepair // the total lost what this warehouse holds
		}
		granted = decide(used-own, own)
		if granted <= own {
			return nil // a release writes the reservation first
		}
		_, err = l.putTotal(ctx, region, total, used+granted-own)
		return err
	})
	s.total.Unlock()
	if err != nil || (granted == own && !damaged) {
		return granted, err
	}
	if err := l.writeReservation(ctx, region, key, res, granted); err != nil {
		if granted > own {
			// Give back what the total took; the repair does it too if this fails.
			_ = l.addToTotal(ctx, region, own-granted)
		}
		return 0, err
	}
	if granted < own {
		return granted, l.addToTotal(ctx, region, granted-own)
	}
	return granted, nil
}

// reservation reads key's reservation from the API server: the object (nil if there is none),
// what it holds, and whether it is damaged (it then holds nothing and is overwritten).
func (l *Ledger) reservation(ctx context.Context, key string) (cm *corev1.ConfigMap, dbu int64, damaged bool, err error) {
	cm = &corev1.ConfigMap{}
	err = l.Reader.Get(ctx, l.reservationKey(key), cm)
	if apierrors.IsNotFound(err) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	k, dbu, ok := quota.DecodeReservation(cm.Data)
	if !ok || k != key {
		return cm, 0, true, nil
	}
	return cm, dbu, false, nil
}

// total reads the region's total from the API server; errNeedsRepair (with the object, if it
// exists) when it is missing or does not parse.
func (l *Ledger) total(ctx context.Context, region string) (*corev1.ConfigMap, int64, error) {
	cm := &corev1.ConfigMap{}
	err := l.Reader.Get(ctx, l.totalKey(region), cm)
	if apierrors.IsNotFound(err) {
		return nil, 0, errNeedsRepair
	}
	if err != nil {
		return nil, 0, err
	}
	used, ok := quota.DecodeTotal(cm.Data)
	if !ok {
		return cm, 0, errNeedsRepair
	}
	return cm, used, nil
}

// putTotal creates the total (cm nil) or updates it, guarded by its resourceVersion.
func (l *Ledger) putTotal(ctx context.Context, region string, cm *corev1.ConfigMap, dbu int64) (*corev1.ConfigMap, error) {
	create := cm == nil
	if create {
		key := l.totalKey(region)
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	}
	cm.Data = quota.EncodeTotal(dbu)
	err := l.put(ctx, cm, totalLabels(region), create)
	if apierrors.IsAlreadyExists(err) {
		err = apierrors.NewConflict(corev1.Resource("configmaps"), cm.Name, err)
	}
	return cm, err
}

// put creates or updates a ledger object with its labels, and remembers the write.
func (l *Ledger) put(ctx context.Context, cm *corev1.ConfigMap, want map[string]string, create bool) error {
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	maps.Copy(cm.Labels, want)
	var err error
	if create {
		err = l.Client.Create(ctx, cm)
	} else {
		err = l.Client.Update(ctx, cm)
	}
	if err == nil {
		l.remember("rv:" + cm.ResourceVersion)
	}
	return err
}

// addToTotal moves the total by delta, re-reading it on conflicts.
func (l *Ledger) addToTotal(ctx context.Context, region string, delta int64) error {
	s := l.region(region)
	s.total.Lock()
	defer s.total.Unlock()
	return retry.RetryOnConflict(contention, func() error {
		cm, used, err := l.total(ctx, region)
		if errors.Is(err, errNeedsRepair) {
			return nil // the repair rebuilds it from the reservations
		}
		if err != nil {
			return err
		}
		_, err = l.putTotal(ctx, region, cm, max(used+delta, 0))
		return err
	})
}

// writeReservation sets key's reservation to dbu over cm (nil: none yet), deleting it at 0.
func (l *Ledger) writeReservation(ctx context.Context, region, key string, cm *corev1.ConfigMap, dbu int64) error {
	if dbu == 0 {
		if cm == nil {
			return nil
		}
		l.remember("uid:" + string(cm.UID))
		err := l.Client.Delete(ctx, cm, client.Preconditions{UID: &cm.UID, ResourceVersion: &cm.ResourceVersion})
		return client.IgnoreNotFound(err)
	}
	create := cm == nil
	if create {
		name := l.reservationKey(key)
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name}}
	}
	cm.Data = quota.EncodeReservation(key, dbu)
	return l.put(ctx, cm, reservationLabels(region), create)
}

func (l *Ledger) totalKey(region string) client.ObjectKey {
	return client.ObjectKey{Namespace: l.Namespace, Name: naming.QuotaLedger(region)}
}

func (l *Ledger) reservationKey(key string) client.ObjectKey {
	return client.ObjectKey{Namespace: l.Namespace, Name: naming.QuotaReservation(quota.Split(key))}
}

// totalLabels and reservationLabels put the ledger in the operator's cache and tell its parts
// apart; an edit that removed them is undone.
func totalLabels(region string) map[string]string {
	return map[string]string{computev1.LabelManagedBy: computev1.ManagedByValue, LabelRegion: region, LabelQuota: LedgerTotal}
}

func reservationLabels(region string) map[string]string {
	return map[string]string{computev1.LabelManagedBy: computev1.ManagedByValue, LabelRegion: region, LabelQuota: LedgerReservation}
}

// hasLabels says whether cm carries every label of want.
func hasLabels(cm *corev1.ConfigMap, want map[string]string) bool {
	return labels.SelectorFromSet(want).Matches(labels.Set(cm.Labels))
}
