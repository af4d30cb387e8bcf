package v1alpha1

import (
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/yaml"
)

// Load reads, defaults and validates the configuration file at path. An empty path loads the
// defaults. Unknown fields are errors, so a misspelt key is not silently ignored.
func Load(path string) (*OperatorConfig, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading operator config: %w", err)
	}
	return Parse(data)
}

// Parse decodes, defaults and validates a configuration document.
func Parse(data []byte) (*OperatorConfig, error) {
	c := &OperatorConfig{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("decoding operator config: %w", err)
	}
	if c.APIVersion == "" && c.Kind == "" {
		return nil, fmt.Errorf("operator config: apiVersion: Required value: must be %s with kind %s", GroupVersion, Kind)
	}
	if c.APIVersion != GroupVersion.String() || c.Kind != Kind {
		return nil, fmt.Errorf("operator config: apiVersion: Invalid value: %q: must be %s with kind %s",
			c.APIVersion+", kind "+c.Kind, GroupVersion, Kind)
	}
	SetDefaults(c)
	if errs := Validate(c); len(errs) > 0 {
		return nil, fmt.Errorf("invalid operator config: %w", errs.ToAggregate())
	}
	return c, nil
}

// Region returns the named region.
func (c *OperatorConfig) Region(name string) (*Region, bool) {
	for i := range c.Regions {
		if c.Regions[i].Name == name {
			return &c.Regions[i], true
		}
	}
	return nil, false
}

// RegionNames lists the configured regions, in configuration order.
func (c *OperatorConfig) RegionNames() []string {
	names := make([]string, 0, len(c.Regions))
	for _, r := range c.Regions {
		names = append(names, r.Name)
	}
	return names
}

// ClusterSizeNames lists the offered cluster sizes, in configuration order.
func (c *OperatorConfig) ClusterSizeNames() []string {
	return names(c.Warehouses.ClusterSizes, func(s ClusterSizeSpec) string { return s.Name })
}

// WorkloadSizeNames lists the offered workload sizes, in configuration order.
func (c *OperatorConfig) WorkloadSizeNames() []string {
	return names(c.ModelServing.WorkloadSizes, func(s WorkloadSizeSpec) string { return s.Name })
}

// WorkloadTypeNames lists the offered workload types, in configuration order.
func (c *OperatorConfig) WorkloadTypeNames() []string {
	return names(c.ModelServing.WorkloadTypes, func(t WorkloadTypeSpec) string { return t.Name })
}

func names[T any](entries []T, name func(T) string) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, name(e))
	}
	return out
}

// ClusterSize returns the table entry of a warehouse cluster size.
func (c *OperatorConfig) ClusterSize(name string) (*ClusterSizeSpec, bool) {
	for i := range c.Warehouses.ClusterSizes {
		if c.Warehouses.ClusterSizes[i].Name == name {
			return &c.Warehouses.ClusterSizes[i], true
		}
	}
	return nil, false
}

// WorkloadSize returns the table entry of a served entity's workload size.
func (c *OperatorConfig) WorkloadSize(name string) (*WorkloadSizeSpec, bool) {
	for i := range c.ModelServing.WorkloadSizes {
		if c.ModelServing.WorkloadSizes[i].Name == name {
			return &c.ModelServing.WorkloadSizes[i], true
		}
	}
	return nil, false
}

// WorkloadType returns the table entry of a served entity's workload type.
func (c *OperatorConfig) WorkloadType(name string) (*WorkloadTypeSpec, bool) {
	for i := range c.ModelServing.WorkloadTypes {
		if c.ModelServing.WorkloadTypes[i].Name == name {
			return &c.ModelServing.WorkloadTypes[i], true
		}
	}
	return nil, false
}

// DecommissionTime is the instant legacy stable IPs stop being published: the start of the
// decommission date, UTC (customers must migrate before that day). Load validates the date.
func (c *OperatorConfig) DecommissionTime() time.Time {
	d, err := time.Parse(time.DateOnly, c.LegacyStableIPsDecommissionDate)
	if err != nil {
		return time.Time{}
	}
	return d
}
