package v1alpha1

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"text/template"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate checks a defaulted configuration and returns every problem, each naming its field.
func Validate(c *OperatorConfig) field.ErrorList {
	var errs field.ErrorList
	if c.APIVersion != GroupVersion.String() || c.Kind != Kind {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), c.APIVersion+"/"+c.Kind,
			fmt.Sprintf("must be apiVersion %s, kind %s", GroupVersion, Kind)))
	}
	for _, msg := range validation.IsDNS1123Label(c.OperatorNamespace) {
		errs = append(errs, field.Invalid(field.NewPath("operatorNamespace"), c.OperatorNamespace, msg))
	}
	if _, err := time.Parse(time.DateOnly, c.LegacyStableIPsDecommissionDate); err != nil {
		errs = append(errs, field.Invalid(field.NewPath("legacyStableIPsDecommissionDate"),
			c.LegacyStableIPsDecommissionDate, "must be a date as YYYY-MM-DD"))
	}
	errs = append(errs, validateRegions(c.Regions, field.NewPath("regions"))...)
	errs = append(errs, validatePrefixes(c.ControlPlane.ProtectedCIDRs, field.NewPath("controlPlane", "protectedCIDRs"))...)
	errs = append(errs, validateWarehouses(&c.Warehouses, field.NewPath("warehouses"))...)
	errs = append(errs, validateModelServing(&c.ModelServing, field.NewPath("modelServing"))...)
	errs = append(errs, validateAutoscaling(&c.Autoscaling, field.NewPath("autoscaling"))...)
	errs = append(errs, validateMetrics(&c.Metrics, field.NewPath("metrics"))...)
	certs := field.NewPath("certificates")
	if c.Certificates.RenewBefore.Duration >= c.Certificates.ServingValidity.Duration {
		errs = append(errs, field.Invalid(certs.Child("renewBefore"), c.Certificates.RenewBefore.Duration.String(),
			"must be shorter than certificates.servingValidity"))
	}
	if cc := c.Certificates; cc.CAValidity.Duration <= cc.ServingValidity.Duration+cc.RenewBefore.Duration+2*cc.CAOverlap.Duration {
		errs = append(errs, field.Invalid(certs.Child("caValidity"), cc.CAValidity.Duration.String(),
			"must be longer than certificates.servingValidity + renewBefore + 2 × caOverlap: the CA publishes its successor that long before it expires"))
	}
	if c.Certificates.CAOverlap.Duration <= 0 {
		errs = append(errs, field.Invalid(certs.Child("caOverlap"), c.Certificates.CAOverlap.Duration.String(), "must be positive"))
	}
	return errs
}

func validateRegions(regions []Region, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, r := range regions {
		p := path.Index(i)
		for _, msg := range validation.IsDNS1123Label(r.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), r.Name, msg))
		}
		if names.Has(r.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), r.Name))
		}
		names.Insert(r.Name)
		if r.ServerlessQuotaDBU < 0 {
			errs = append(errs, field.Invalid(p.Child("serverlessQuotaDBU"), r.ServerlessQuotaDBU, "must not be negative"))
		}
		errs = append(errs, validatePrefixes(r.StableEgressCIDRs, p.Child("stableEgressCIDRs"))...)
		errs = append(errs, validatePrefixes(r.LegacyStableIPs, p.Child("legacyStableIPs"))...)
		for svc, cidrs := range r.StorageGatewayCIDRs {
			errs = append(errs, validatePrefixes(cidrs, p.Child("storageGatewayCIDRs").Key(svc))...)
		}
	}
	if len(regions) == 0 {
		errs = append(errs, field.Required(path, "at least one region"))
	}
	return errs
}

func validatePrefixes(values []string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, v := range values {
		if _, err := ParsePrefix(v); err != nil {
			errs = append(errs, field.Invalid(path.Index(i), v, "must be an IP address or CIDR"))
		}
	}
	return errs
}

// ParsePrefix parses an IP address (as a single-address prefix) or a CIDR.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func validateWarehouses(w *Warehouses, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	sizes := path.Child("clusterSizes")
	for i, s := range w.ClusterSizes {
		p := sizes.Index(i)
		if s.Workers < 1 {
			errs = append(errs, field.Invalid(p.Child("workers"), s.Workers, "must be at least 1"))
		}
		if s.DBUPerHour < 1 {
			errs = append(errs, field.Invalid(p.Child("dbuPerHour"), s.DBUPerHour, "must be at least 1"))
		}
	}
	// A platform may offer a subset of the sizes (warehouses of the others are Stalled), but
	// only sizes the API knows.
	errs = append(errs, offered(sizes, names(w.ClusterSizes, func(s ClusterSizeSpec) string { return s.Name }),
		"2X-Small", "X-Small", "Small", "Medium", "Large", "X-Large", "2X-Large", "3X-Large", "4X-Large")...)
	for _, ch := range []string{"Current", "Preview"} {
		if w.Images[ch] == "" {
			errs = append(errs, field.Required(path.Child("images").Key(ch), "an engine image for the channel"))
		}
	}
	for _, pol := range []string{"CostOptimized", "ReliabilityOptimized"} {
		if _, ok := w.SpotPolicies[pol]; !ok {
			errs = append(errs, field.Required(path.Child("spotPolicies").Key(pol), "scheduling for the policy"))
		}
	}
	errs = append(errs, validatePort(w.Port, path.Child("port"))...)
	errs = append(errs, validatePort(w.MetricsPort, path.Child("metricsPort"))...)
	if w.Port == w.MetricsPort {
		errs = append(errs, field.Invalid(path.Child("metricsPort"), w.MetricsPort, "must differ from warehouses.port"))
	}
	if w.TargetQueriesPerCluster < 1 {
		errs = append(errs, field.Invalid(path.Child("targetQueriesPerCluster"), w.TargetQueriesPerCluster, "must be at least 1"))
	}
	if f, err := strconv.ParseFloat(w.TPCHScaleFactor, 64); err != nil || f < 0 || f > 10 {
		errs = append(errs, field.Invalid(path.Child("tpchScaleFactor"), w.TPCHScaleFactor, "must be a number from 0 (no TPC-H data) to 10, such as 0.01"))
	}
	return errs
}

func validateModelServing(m *ModelServing, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validatePort(m.Port, path.Child("port"))...)
	errs = append(errs, validatePort(m.ContainerPort, path.Child("containerPort"))...)
	errs = append(errs, validatePort(m.MetricsPort, path.Child("metricsPort"))...)
	// The proxy and the model container share the pod's network namespace: the proxy's two
	// ports, the model's port and the model's own metrics port (containerPort+1) must differ.
	if m.Port == m.MetricsPort {
		errs = append(errs, field.Invalid(path.Child("metricsPort"), m.MetricsPort, "must differ from modelServing.port"))
	}
	for _, other := range []int32{m.Port, m.MetricsPort} {
		if other == m.ContainerPort || other == m.ContainerPort+1 {
			errs = append(errs, field.Invalid(path.Child("containerPort"), m.ContainerPort,
				"the model container uses containerPort and containerPort+1 (its metrics): both must differ from modelServing.port and modelServing.metricsPort"))
			break
		}
	}
	if m.ConcurrencyPerReplica < 1 {
		errs = append(errs, field.Invalid(path.Child("concurrencyPerReplica"), m.ConcurrencyPerReplica, "must be at least 1"))
	}
	if m.SyncPeriod.Duration < 100*time.Millisecond {
		errs = append(errs, field.Invalid(path.Child("syncPeriod"), m.SyncPeriod.Duration.String(), "must be at least 100ms"))
	}
	if m.Sizing != SizingObserved && m.Sizing != SizingUtilization {
		errs = append(errs, field.NotSupported(path.Child("sizing"), m.Sizing, []AutoscalerSizing{SizingObserved, SizingUtilization}))
	}
	for i, s := range m.WorkloadSizes {
		p := path.Child("workloadSizes").Index(i)
		if s.MinConcurrency < 0 || s.MaxConcurrency < 1 || s.MinConcurrency > s.MaxConcurrency {
			errs = append(errs, field.Invalid(p, fmt.Sprintf("%d-%d", s.MinConcurrency, s.MaxConcurrency),
				"need 0 <= minConcurrency <= maxConcurrency and maxConcurrency >= 1"))
		}
	}
	// A platform may offer a subset (one without GPUs leaves the GPU types out; endpoints that
	// ask for them are Stalled), but only sizes and types the API knows.
	errs = append(errs, offered(path.Child("workloadSizes"), names(m.WorkloadSizes, func(s WorkloadSizeSpec) string { return s.Name }),
		"Small", "Medium", "Large")...)
	for i, t := range m.WorkloadTypes {
		if t.GPUs < 0 {
			errs = append(errs, field.Invalid(path.Child("workloadTypes").Index(i).Child("gpus"), t.GPUs, "must not be negative"))
		}
	}
	errs = append(errs, offered(path.Child("workloadTypes"), names(m.WorkloadTypes, func(t WorkloadTypeSpec) string { return t.Name }),
		"CPU", "GPU_SMALL", "GPU_MEDIUM", "GPU_LARGE", "MULTIGPU_MEDIUM")...)
	return errs
}

// offered checks the names of a table of offered sizes or types: each one the API knows, once.
func offered(path *field.Path, got []string, known ...string) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, n := range got {
		switch {
		case seen.Has(n):
			errs = append(errs, field.Duplicate(path.Index(i).Child("name"), n))
		case !slices.Contains(known, n):
			errs = append(errs, field.NotSupported(path.Index(i).Child("name"), n, known))
		}
		seen.Insert(n)
	}
	return errs
}

func validateAutoscaling(a *Autoscaling, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if a.Tolerance < 0 || a.Tolerance >= 1 {
		errs = append(errs, field.Invalid(path.Child("tolerance"), a.Tolerance, "must be in [0, 1)"))
	}
	if a.TargetUtilization <= 0 || a.TargetUtilization > 1 {
		errs = append(errs, field.Invalid(path.Child("targetUtilization"), a.TargetUtilization, "must be in (0, 1]"))
	}
	if a.PanicWindowPercent <= 0 || a.PanicWindowPercent > 100 {
		errs = append(errs, field.Invalid(path.Child("panicWindowPercent"), a.PanicWindowPercent, "must be in (0, 100]"))
	}
	if a.PanicThresholdPercent <= 100 {
		errs = append(errs, field.Invalid(path.Child("panicThresholdPercent"), a.PanicThresholdPercent, "must be above 100"))
	}
	if a.SyncPeriod.Duration < 100*time.Millisecond {
		errs = append(errs, field.Invalid(path.Child("syncPeriod"), a.SyncPeriod.Duration.String(), "must be at least 100ms"))
	}
	return errs
}

func validateMetrics(m *Metrics, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch m.Source {
	case MetricsScrape, MetricsNone:
	case MetricsGateway:
		errs = append(errs, validatePort(m.GatewayPort, path.Child("gatewayPort"))...)
	case MetricsPrometheus:
		if u, err := url.Parse(m.PrometheusURL); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, field.Invalid(path.Child("prometheusURL"), m.PrometheusURL,
				"must be an absolute URL such as http://prometheus.monitoring:9090 when metrics.source is Prometheus"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("source"), m.Source,
			[]MetricsSourceType{MetricsGateway, MetricsScrape, MetricsPrometheus, MetricsNone}))
	}
	q := path.Child("queries")
	for name, tmpl := range map[string]string{
		"runningQueries": m.Queries.RunningQueries, "queuedQueries": m.Queries.QueuedQueries,
		"queueWaitSeconds": m.Queries.QueueWaitSeconds, "inFlightRequests": m.Queries.InFlightRequests,
	} {
		if _, err := template.New(name).Option("missingkey=error").Parse(tmpl); err != nil {
			errs = append(errs, field.Invalid(q.Child(name), tmpl, err.Error()))
		}
	}
	return errs
}

func validatePort(port int32, path *field.Path) field.ErrorList {
	if port < 1 || port > 65535 {
		return field.ErrorList{field.Invalid(path, port, "must be a port number, 1 to 65535")}
	}
	return nil
}
