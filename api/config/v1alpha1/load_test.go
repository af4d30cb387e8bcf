package v1alpha1

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const header = "apiVersion: config.serverlessplane.io/v1alpha1\nkind: OperatorConfig\n"

func TestParseDefaults(t *testing.T) {
	got, err := Parse([]byte(header))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Default(), got); diff != "" {
		t.Fatalf("an empty config is not the defaults (-want +got):\n%s", diff)
	}
	size, ok := got.ClusterSize("Small")
	if !ok || size.Workers != 4 || size.DBUPerHour != 12 {
		t.Fatalf("Small = %+v, want 4 workers at 12 DBU/h", size)
	}
	if d := got.DecommissionTime(); !d.Equal(time.Date(2026, time.May, 25, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("decommission = %s", d)
	}
	if got.Autoscaling.ScaleDownStabilization.Duration != 5*time.Minute || got.Autoscaling.Tolerance != 0.1 {
		t.Fatal("autoscaling defaults are not the HPA's")
	}
}

func TestParseOverridesKeepOtherDefaults(t *testing.T) {
	got, err := Parse([]byte(header + "operatorNamespace: platform-sp\nmetrics:\n  source: Prometheus\n  prometheusURL: http://prom:9090\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got.OperatorNamespace != "platform-sp" || got.ControlPlane.Gateway.Namespace != "platform-sp" {
		t.Fatalf("operator namespace %q, gateway namespace %q", got.OperatorNamespace, got.ControlPlane.Gateway.Namespace)
	}
	if got.Metrics.Names.RunningQueries == "" || len(got.Regions) == 0 {
		t.Fatal("other defaults were lost")
	}
}

func TestParseOffersASubset(t *testing.T) {
	got, err := Parse([]byte(header + "warehouses:\n  clusterSizes:\n  - {name: Small, workers: 4, dbuPerHour: 12}\nmodelServing:\n  workloadTypes:\n  - name: CPU\n"))
	if err != nil {
		t.Fatalf("a platform without GPUs and with one cluster size: %v", err)
	}
	if _, ok := got.ClusterSize("Medium"); ok {
		t.Fatal("Medium is offered though the table lists only Small")
	}
	if _, ok := got.WorkloadType("GPU_SMALL"); ok {
		t.Fatal("GPU_SMALL is offered though the table lists only CPU")
	}
	if got.Warehouses.TmpSizeLimit.String() != "20Gi" || got.ModelServing.TmpSizeLimit.String() != "1Gi" {
		t.Fatalf("tmp size limits %s, %s; want the defaults 20Gi, 1Gi", &got.Warehouses.TmpSizeLimit, &got.ModelServing.TmpSizeLimit)
	}
}

func TestParseRejectsBadInputNamingTheField(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"no apiVersion", "kind: OperatorConfig\n", []string{"apiVersion"}},
		{"wrong kind", "apiVersion: config.serverlessplane.io/v1alpha1\nkind: Config\n", []string{"apiVersion", "OperatorConfig"}},
		{"unknown field", header + "regoins: []\n", []string{"regoins"}},
		{"bad region name", header + "regions:\n- name: US_EAST\n  serverless: true\n  serverlessQuotaDBU: 10\n", []string{"regions[0].name"}},
		{"duplicate region", header + "regions:\n- name: a\n  serverlessQuotaDBU: 1\n- name: a\n  serverlessQuotaDBU: 1\n", []string{"regions[1].name", "Duplicate"}},
		{"negative quota", header + "regions:\n- name: a\n  serverlessQuotaDBU: -5\n", []string{"regions[0].serverlessQuotaDBU"}},
		{"bad CIDR", header + "regions:\n- name: a\n  serverlessQuotaDBU: 1\n  stableEgressCIDRs: [10.0.0.0/40]\n", []string{"regions[0].stableEgressCIDRs[0]"}},
		{"bad gateway CIDR", header + "regions:\n- name: a\n  serverlessQuotaDBU: 1\n  storageGatewayCIDRs:\n    S3: [nope]\n", []string{"regions[0].storageGatewayCIDRs[S3][0]"}},
		{"bad date", header + "legacyStableIPsDecommissionDate: 25/05/2026\n", []string{"legacyStableIPsDecommissionDate", "YYYY-MM-DD"}},
		{"unknown cluster size", header + "warehouses:\n  clusterSizes:\n  - name: Huge\n    workers: 4\n    dbuPerHour: 12\n", []string{"warehouses.clusterSizes[0].name", "Unsupported"}},
		{"duplicate workload type", header + "modelServing:\n  workloadTypes:\n  - {name: CPU}\n  - {name: CPU}\n", []string{"modelServing.workloadTypes[1].name", "Duplicate"}},
		{"zero workers", header + "warehouses:\n  clusterSizes:\n  - name: Small\n    workers: 0\n    dbuPerHour: 12\n", []string{"warehouses.clusterSizes[0].workers"}},
		{"port clash", header + "warehouses:\n  port: 9090\n", []string{"warehouses.metricsPort"}},
		{"tolerance", header + "autoscaling:\n  tolerance: 1.5\n", []string{"autoscaling.tolerance"}},
		{"utilization", header + "autoscaling:\n  targetUtilization: 2\n", []string{"autoscaling.targetUtilization"}},
		{"prometheus without URL", header + "metrics:\n  source: Prometheus\n", []string{"metrics.prometheusURL"}},
		{"unknown source", header + "metrics:\n  source: Datadog\n", []string{"metrics.source", "Unsupported"}},
		{"unknown sizing", header + "modelServing:\n  sizing: Peak\n", []string{"modelServing.sizing", "Unsupported"}},
		{"bad template", header + "metrics:\n  queries:\n    runningQueries: '{{.Namespace'\n", []string{"metrics.queries.runningQueries"}},
		{"renewal longer than validity", header + "certificates:\n  servingValidity: 24h\n  renewBefore: 48h\n", []string{"certificates.renewBefore"}},
		{"workload size range", header + "modelServing:\n  workloadSizes:\n  - {name: Small, minConcurrency: 8, maxConcurrency: 4}\n  - {name: Medium, minConcurrency: 8, maxConcurrency: 16}\n  - {name: Large, minConcurrency: 16, maxConcurrency: 64}\n", []string{"modelServing.workloadSizes[0]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.5": "10.0.0.5/32", "10.1.2.3/16": "10.1.0.0/16", "2001:db8::1": "2001:db8::1/128"} {
		got, err := ParsePrefix(in)
		if err != nil || got.String() != want {
			t.Errorf("ParsePrefix(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := ParsePrefix("host.example.com"); err == nil {
		t.Error("a host name parsed")
	}
}
