package warehouse

import (
	"context"
	"errors"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/quota"
)

// Repair checks the region's ledger against the cache and rebuilds it when the check fails
// (rebuild): it runs on a timer and when someone else changed a ledger object, and costs a
// walk of the cache, no request, while the ledger is consistent.
func (l *Ledger) Repair(ctx context.Context, region string) error {
	if ok, err := l.consistent(ctx, region); err != nil || ok {
		return err
	}
	return l.rebuild(ctx, region)
}

// consistent says, from the cache alone, whether the region's ledger needs no repair: its
// total parses and is the sum of its reservations, every reservation parses and is named
// for its warehouse, and quota.Repair changes nothing.
func (l *Ledger) consistent(ctx context.Context, region string) (bool, error) {
	total := &corev1.ConfigMap{}
	if err := l.Client.Get(ctx, l.totalKey(region), total); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	used, ok := quota.DecodeTotal(total.Data)
	if !ok || !hasLabels(total, totalLabels(region)) {
		return false, nil
	}
	rs, err := reservations(ctx, l.Client, l.Namespace, region, client.UnsafeDisableDeepCopy)
	if err != nil || len(rs.bad) > 0 || rs.held.Used("") != used {
		return false, err
	}
	live, exists, err := l.observe(ctx, region)
	if err != nil {
		return false, err
	}
	return maps.Equal(quota.Repair(rs.held, live, exists.Has), rs.held), nil
}

// regionReservations are a region's reservations as one list read them: what each warehouse
// holds, their objects, and the objects that do not parse or are not named for their
// warehouse.
type regionReservations struct {
	held    quota.Ledger
	objects map[string]*corev1.ConfigMap
	bad     []*corev1.ConfigMap
}

// reservations lists a region's reservations through reader.
func reservations(ctx context.Context, reader client.Reader, namespace, region string, opts ...client.ListOption) (regionReservations, error) {
	list := &corev1.ConfigMapList{}
	opts = append(opts, client.InNamespace(namespace), client.MatchingLabels{LabelRegion: region, LabelQuota: LedgerReservation})
	if err := reader.List(ctx, list, opts...); err != nil {
		return regionReservations{}, err
	}
	rs := regionReservations{held: quota.Ledger{}, objects: map[string]*corev1.ConfigMap{}}
	for i := range list.Items {
		cm := &list.Items[i]
		key, dbu, ok := quota.DecodeReservation(cm.Data)
		if !ok || cm.Name != naming.QuotaReservation(quota.Split(key)) {
			rs.bad = append(rs.bad, cm)
			continue
		}
		rs.held[key], rs.objects[key] = dbu, cm
	}
	return rs, nil
}

// rebuild rebuilds the region's ledger from its reservations, a total written in the old layout
// and the live clusters (quota.Repair), and sets the total to their sum: reservations of
// warehouses that no longer exist are released, ones that do not parse are dropped, and every
// warehouse holds at least what its clusters cost. It reads every reservation of the region,
// so it runs when Repair finds the cache inconsistent or a change finds the total missing,
// not for every change.
func (l *Ledger) rebuild(ctx context.Context, region string) error {
	s := l.region(region)
	s.Lock()
	defer s.Unlock()
	totalCM, used, err := l.total(ctx, region)
	damaged := errors.Is(err, errNeedsRepair)
	if err != nil && !damaged {
		return err
	}
	rs, err := reservations(ctx, l.Reader, l.Namespace, region)
	if err != nil {
		return err
	}
	held, objects := rs.held, rs.objects
	var bad []string
	for _, cm := range rs.bad {
		bad = append(bad, cm.Name)
		if err := l.writeReservation(ctx, region, "", cm, 0); err != nil {
			return err
		}
	}
	// A ledger of the old layout (one entry per warehouse in the region's ConfigMap) keeps its
	// reservations across the upgrade.
	if damaged && totalCM != nil {
		legacy, _ := quota.Decode(totalCM.Data)
		for k, v := range legacy {
			held[k] = max(held[k], v)
		}
	}
	// Observed after the reservations are read: a warehouse whose reservation the ledger holds
	// is already in the cache, since its reservation followed its appearance there.
	live, exists, err := l.observe(ctx, region)
	if err != nil {
		return err
	}
	repaired := quota.Repair(held, live, exists.Has)
	sum := repaired.Used("")
	if len(bad) > 0 || damaged || sum != used || !maps.Equal(held, repaired) {
		log.FromContext(ctx).Info("repairing the quota ledger", "region", region, "total", used, "totalDamaged", damaged,
			"held", held, "badReservations", bad, "repaired", repaired)
	}
	// Raise the total before any reservation grows, lower it after every one shrank.
	if damaged || used < sum {
		if totalCM, err = l.putTotal(ctx, region, totalCM, max(used, sum)); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(objects)) {
		if _, kept := repaired[k]; !kept {
			if err := l.writeReservation(ctx, region, k, objects[k], 0); err != nil {
				return err
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(repaired)) {
		if cm := objects[k]; cm == nil || held[k] != repaired[k] || !hasLabels(cm, reservationLabels(region)) {
			if err := l.writeReservation(ctx, region, k, cm, repaired[k]); err != nil {
				return err
			}
		}
	}
	if !maps.Equal(totalCM.Data, quota.EncodeTotal(sum)) || !hasLabels(totalCM, totalLabels(region)) {
		_, err = l.putTotal(ctx, region, totalCM, sum)
	}
	return err
}

// RepairWarehouse checks one warehouse's reservation against the cache: a warehouse that is
// gone and whose clusters are gone holds nothing, and one whose clusters cost more than it
// holds is raised to their cost. It is the repair for one deletion or edit, without reading
// the whole region.
func (l *Ledger) RepairWarehouse(ctx context.Context, namespace, name string) error {
	key := quota.Key(namespace, name)
	res := &corev1.ConfigMap{}
	if err := l.Client.Get(ctx, l.reservationKey(key), res); client.IgnoreNotFound(err) != nil {
		return err
	}
	region := res.Labels[LabelRegion]
	if region == "" {
		ws := &computev1.Workspace{}
		if err := l.Client.Get(ctx, client.ObjectKey{Name: namespace}, ws); err != nil {
			return client.IgnoreNotFound(err) // no reservation and no region: nothing is held
		}
		region = ws.Spec.Region
	}
	if _, ok := l.Config.Region(region); !ok {
		return nil
	}
	exists := true
	if err := l.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &computev1.ServerlessWarehouse{}); apierrors.IsNotFound(err) {
		exists = false
	} else if err != nil {
		return err
	}
	live, err := l.liveOf(ctx, namespace, name)
	if err != nil {
		return err
	}
	want := func(own int64) int64 {
		if !exists && live == 0 {
			return 0
		}
		return max(own, live)
	}
	if res.Name == "" && want(0) == 0 {
		return nil
	}
	if k, cached, ok := quota.DecodeReservation(res.Data); ok && k == key && cached > 0 && want(cached) == cached {
		return nil
	}
	_, err = l.Update(ctx, region, key, func(_, own int64) int64 { return want(own) })
	return err
}

// observe returns, from the cache, the DBU/h of the region's live clusters per warehouse and
// every warehouse that exists (in any region: the keys do not name one).
func (l *Ledger) observe(ctx context.Context, region string) (quota.Ledger, sets.Set[string], error) {
	// Read-only lists of the cache: no copies of every warehouse and cluster.
	whs := &computev1.ServerlessWarehouseList{}
	if err := l.Client.List(ctx, whs, client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, err
	}
	exists := sets.New[string]()
	for _, w := range whs.Items {
		exists.Insert(quota.Key(w.Namespace, w.Name))
	}
	deps := &appsv1.DeploymentList{}
	if err := l.Client.List(ctx, deps, client.HasLabels{computev1.LabelWarehouse, LabelClusterSize}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, err
	}
	live := quota.Ledger{}
	regions := map[string]string{} // namespace -> its workspace's region
	for _, d := range deps.Items {
		ns := d.Namespace
		if _, seen := regions[ns]; !seen {
			ws := &computev1.Workspace{}
			if err := l.Client.Get(ctx, client.ObjectKey{Name: ns}, ws); client.IgnoreNotFound(err) != nil {
				return nil, nil, err
			}
			regions[ns] = ws.Spec.Region
		}
		if regions[ns] == region {
			live[quota.Key(ns, d.Labels[computev1.LabelWarehouse])] += dbuOf(l.Config, []appsv1.Deployment{d})
		}
	}
	return live, exists, nil
}

// liveOf is the DBU/h of one warehouse's clusters, from the cache; clusters being deleted
// still count.
func (l *Ledger) liveOf(ctx context.Context, namespace, name string) (int64, error) {
	deps := &appsv1.DeploymentList{}
	if err := l.Client.List(ctx, deps, client.InNamespace(namespace), client.MatchingLabels{computev1.LabelWarehouse: name}, client.HasLabels{LabelClusterSize}, client.UnsafeDisableDeepCopy); err != nil {
		return 0, err
	}
	return dbuOf(l.Config, deps.Items), nil
}

// Snapshot reads a region's ledger as reader sees it: the total (ok false if it is missing or
// does not parse) and every reservation that parses and is named for its warehouse. Tests and the restart-safety check
// compare it with what runs.
func Snapshot(ctx context.Context, reader client.Reader, namespace, region string) (total int64, ok bool, held quota.Ledger, err error) {
	cm := &corev1.ConfigMap{}
	err = reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: naming.QuotaLedger(region)}, cm)
	if client.IgnoreNotFound(err) != nil {
		return 0, false, nil, err
	}
	total, ok = quota.DecodeTotal(cm.Data)
	rs, err := reservations(ctx, reader, namespace, region)
	return total, ok, rs.held, err
}
