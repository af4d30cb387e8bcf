package warehouse

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/quota"
)

// LabelRegion marks a quota ledger with its region.
const LabelRegion = "compute.serverlessplane.io/region"

// contention is the backoff between ledger writes that lost a race: jittered, so that many
// warehouses reconciling at once spread out, and long enough for every one of them to land.
var contention = wait.Backoff{Steps: 40, Duration: 5 * time.Millisecond, Factor: 1.5, Jitter: 1, Cap: time.Second}

// Ledger stores each region's quota ledger in a ConfigMap of the operator namespace. Every
// change is a read-modify-write guarded by the ConfigMap's resourceVersion: of two warehouses
// racing for the last capacity, one write fails with a conflict and is retried against the
// new ledger, where the capacity is gone.
type Ledger struct {
	Client client.Client
	// Reader reads the ledger fresh from the API server for every change.
	Reader    client.Reader
	Namespace string
}

// Read returns a region's ledger as the reader sees it (the cache, for estimates).
func (l *Ledger) Read(ctx context.Context, reader client.Reader, region string) (quota.Ledger, error) {
	cm := &corev1.ConfigMap{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: naming.QuotaLedger(region)}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return quota.Ledger{}, nil
		}
		return nil, err
	}
	held, _ := quota.Decode(cm.Data) // bad entries count for nothing until the repair drops them
	return held, nil
}

// Update sets key's allocation to what decide returns for the current ledger, retrying on
// conflicts, and returns the allocation it wrote (or found unchanged).
func (l *Ledger) Update(ctx context.Context, region, key string, decide func(quota.Ledger) int64) (int64, error) {
	var granted int64
	err := retry.RetryOnConflict(contention, func() error {
		cm := &corev1.ConfigMap{}
		name := client.ObjectKey{Namespace: l.Namespace, Name: naming.QuotaLedger(region)}
		err := l.Reader.Get(ctx, name, cm)
		if apierrors.IsNotFound(err) {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
				Namespace: name.Namespace, Name: name.Name,
				Labels: ledgerLabels(region),
			}}
			if err := l.Client.Create(ctx, cm); err != nil {
				if apierrors.IsAlreadyExists(err) {
					return apierrors.NewConflict(corev1.Resource("configmaps"), name.Name, err)
				}
				return err
			}
		} else if err != nil {
			return err
		}
		ledger, bad := quota.Decode(cm.Data)
		granted = decide(ledger)
		if ledger[key] == granted && len(bad) == 0 {
			return nil
		}
		ledger[key] = granted
		if granted == 0 {
			delete(ledger, key)
		}
		cm.Data = quota.Encode(ledger)
		return l.Client.Update(ctx, cm)
	})
	return granted, err
}

// ledgerLabels are the labels of a region's ledger: they put it in the operator's cache.
func ledgerLabels(region string) map[string]string {
	return map[string]string{computev1.LabelManagedBy: computev1.ManagedByValue, LabelRegion: region}
}
