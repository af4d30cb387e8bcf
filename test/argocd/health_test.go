// Package argocd checks the Argo CD health checks of config/argocd against their fixtures, in a
// Lua interpreter (gopher-lua, the one Argo CD embeds), the way Argo CD's own
// resource_customizations tests run.
package argocd

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const dir = "../../config/argocd"

type fixtures struct {
	Tests []struct {
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

func TestHealthChecks(t *testing.T) {
	var cm corev1.ConfigMap
	read(t, filepath.Join(dir, "argocd-cm.yaml"), &cm)
	var fx fixtures
	read(t, filepath.Join(dir, "health", "health_test.yaml"), &fx)
	if len(fx.Tests) == 0 {
		t.Fatal("no fixtures")
	}
	kinds := map[string]bool{}
	for _, tc := range fx.Tests {
		t.Run(tc.InputPath, func(t *testing.T) {
			obj := map[string]any{}
			read(t, filepath.Join(dir, "health", tc.InputPath), &obj)
			kind := obj["kind"].(string)
			kinds[kind] = true
			script, ok := cm.Data["resource.customizations.health.compute.serverlessplane.io_"+kind]
			if !ok {
				t.Fatalf("argocd-cm has no health check for %s", kind)
			}
			status, message := run(t, script, obj)
			if status != tc.HealthStatus.Status || message != tc.HealthStatus.Message {
				t.Fatalf("health = %s %q, want %s %q", status, message, tc.HealthStatus.Status, tc.HealthStatus.Message)
			}
		})
	}
	for _, k := range []string{"Workspace", "NetworkConnectivityConfig", "ServerlessWarehouse", "ModelEndpoint"} {
		if !kinds[k] {
			t.Errorf("no fixture for %s", k)
		}
	}
}

// run executes a health script with obj as its global, as Argo CD does, and returns the
// status and message of the table it returns.
func run(t *testing.T, script string, obj map[string]any) (string, string) {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("lua: %v", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the script returned %s, not a table", L.Get(-1).Type())
	}
	return hs.RawGetString("status").String(), hs.RawGetString("message").String()
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		tbl := L.NewTable()
		for _, item := range x {
			tbl.Append(toLua(L, item))
		}
		return tbl
	case map[string]any:
		tbl := L.NewTable()
		for k, item := range x {
			tbl.RawSetString(k, toLua(L, item))
		}
		return tbl
	}
	return lua.LString(fmt.Sprint(v))
}

func read(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
