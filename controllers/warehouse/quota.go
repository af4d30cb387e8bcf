package warehouse

import (
	"context"
	"errors"

	appsv1 "k8s.io/api/apps/v1"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/pkg/quota"
)

// ledger is where the regional quota is accounted: Ledger, or a map in tests.
type ledger interface {
	// Read returns what the region's warehouses hold and what key holds, from the cache.
	Read(ctx context.Context, region, key string) (used, own int64, err error)
	// Update sets key's share to what decide returns for what the others and key hold.
	Update(ctx context.Context, region, key string, decide func(others, own int64) int64) (int64, error)
}

// Quota is a warehouse's accounting against its region's quota, in four steps: Estimate what
// fits before deciding, Reserve capacity before creating clusters, Settle on what the
// clusters cost after a pass, and Release everything when the warehouse goes.
type Quota struct {
	Ledger ledger
	Config *configv1.OperatorConfig
}

// Estimate is what the cached ledger says before a decision.
type Estimate struct {
	// Fit is how many of the wanted clusters fit.
	Fit int32
	// Used is what the region's warehouses hold; Others, what every other warehouse holds.
	Used, Others int64
}

// Estimate says how many of want more clusters of cost step fit next to base (what the
// warehouse's clusters cost now).
func (q *Quota) Estimate(ctx context.Context, region *configv1.Region, key string, base, step int64, want int32) (Estimate, error) {
	used, own, err := q.Ledger.Read(ctx, region.Name, key)
	if err != nil {
		return Estimate{}, err
	}
	return Estimate{Fit: quota.Fit(region.ServerlessQuotaDBU, used-own, base, step, want), Used: used, Others: used - own}, nil
}

// Reserve raises key's share for up to n more clusters of cost step next to base, as far as
// the quota allows but at least atLeast or none, and returns how many it got and what the
// region's warehouses hold then. A share above what it needs (clusters about to be created)
// is kept.
func (q *Quota) Reserve(ctx context.Context, region *configv1.Region, key string, base, step int64, n, atLeast int32) (granted int32, used int64, err error) {
	var others int64
	share, err := q.Ledger.Update(ctx, region.Name, key, func(o, own int64) int64 {
		others, granted = o, quota.Fit(region.ServerlessQuotaDBU, o, base, step, n)
		if granted < atLeast {
			granted = 0
		}
		return max(own, base+int64(granted)*step)
	})
	return granted, others + share, err
}

// Settle sets key's share to what its clusters cost after the pass, writing nothing when the
// cached ledger already says so.
func (q *Quota) Settle(ctx context.Context, region *configv1.Region, key string, dbu int64) error {
	_, own, err := q.Ledger.Read(ctx, region.Name, key)
	if err != nil || own == dbu {
		return err
	}
	_, err = q.Ledger.Update(ctx, region.Name, key, func(int64, int64) int64 { return dbu })
	return err
}

// Release gives back key's share in region, or in every configured region when region is
// empty (the warehouse's workspace, and so its region, is gone).
func (q *Quota) Release(ctx context.Context, region, key string) error {
	regions := []string{region}
	if region == "" {
		regions = q.Config.RegionNames()
	}
	var errs []error
	for _, r := range regions {
		_, err := q.Ledger.Update(ctx, r, key, func(int64, int64) int64 { return 0 })
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// dbuOf is what the given clusters consume, by the size each was created with.
func dbuOf(cfg *configv1.OperatorConfig, deployments []appsv1.Deployment) int64 {
	var total int64
	for _, d := range deployments {
		if s, ok := cfg.ClusterSize(d.Labels[LabelClusterSize]); ok {
			total += s.DBUPerHour
		}
	}
	return total
}
