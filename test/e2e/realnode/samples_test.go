package realnode

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/test/framework"
)

// readmeStatement is the statement of README.md's SQL example, and readmeFirstRow the first row
// it shows.
const (
	readmeStatement = "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, count(*) AS count_order FROM tpch.lineitem WHERE l_shipdate <= DATE '1998-12-01' - INTERVAL 90 DAY GROUP BY ALL ORDER BY ALL"
	readmeFirstRow  = "A | F | 380456.00 | 14876"
)

// expectSamples applies config/samples as README.md does (kubectl apply -k, workspaces first),
// waits for the sample warehouse's and endpoint's pods on the real node, and runs README's SQL
// statement and prediction through the gateway.
func (f *fixture) expectSamples(tm *timings) {
	t := f.t
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	f.kubectl("apply", "-k", filepath.Join(root, "config", "samples", "workspaces"))
	for _, name := range []string{"analytics", "ml-platform"} {
		f.eventually("sample workspace "+name+" Ready", func() (bool, error) {
			ws := &computev1.Workspace{}
			if err := f.k8s.Get(f.ctx, client.ObjectKey{Name: name}, ws); err != nil {
				return false, nil
			}
			return conditionTrue(ws.Status.Conditions, computev1.ConditionReady), nil
		})
	}
	f.kubectl("apply", "-k", filepath.Join(root, "config", "samples", "workloads"))
	f.waitPods("analytics", computev1.LabelWarehouse+"=bi", 4)
	f.waitPods("ml-platform", computev1.LabelEndpoint+"=churn,"+computev1.LabelServedEntity+"=champion", 1)
	tm.mark("samples applied: warehouse bi (Small, 4 engines) and endpoint churn Running and Ready")

	analyst := f.serviceAccountToken("analytics", "analyst", true)
	code, st, raw := f.gatewayScorer("analytics").statement(f.ctx, analyst, map[string]any{"warehouse_id": "bi", "wait_timeout": "30s", "statement": readmeStatement})
	if code != http.StatusOK || st.Status.State != "SUCCEEDED" || st.Result == nil || len(st.Result.DataArray) != 4 || cells(st.Result.DataArray[0]) != readmeFirstRow {
		t.Fatalf("README's statement on the sample warehouse: %d %s; want 4 rows, the first %s", code, raw, readmeFirstRow)
	}
	scorer := f.serviceAccountToken("ml-platform", "scorer", true)
	code, body, header := f.gatewayScorer("ml-platform").invoke(f.ctx, "/serving-endpoints/churn/invocations", scorer)
	if code != http.StatusOK || !strings.Contains(body, `"predictions"`) || header.Get("served-model-name") == "" {
		t.Fatalf("README's prediction on the sample endpoint: %d %s", code, body)
	}
	tm.mark("README's statement (first row " + readmeFirstRow + ") and prediction (" + header.Get("served-model-name") + ") on the samples")
}

// kubectl runs the cluster's kubectl as its admin, failing the test if it fails.
func (f *fixture) kubectl(args ...string) {
	out, err := exec.CommandContext(f.ctx, filepath.Join(f.binDir, "kubectl"), append([]string{"--kubeconfig", f.cluster.Kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		f.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// README.md shows the statement the tier runs, the row it answers, and the patch of its load.
func TestReadmeShowsTheTestedStatement(t *testing.T) {
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.ReplaceAll(string(data), `'"'"'`, "'")
	if !strings.Contains(readme, `"statement": "`+readmeStatement+`"`) {
		t.Errorf("README.md's SQL example is not the statement the real-node tier runs:\n%s", readmeStatement)
	}
	if !strings.Contains(readme, "'"+readmeLoadPatch+"'") {
		t.Errorf("README.md's load example does not patch the sample endpoint as the real-node tier does:\n%s", readmeLoadPatch)
	}
	row := `["` + strings.ReplaceAll(readmeFirstRow, " | ", `","`) + `"]`
	if !strings.Contains(readme, row) {
		t.Errorf("README.md does not show the first row the tier checks: %s", row)
	}
}
