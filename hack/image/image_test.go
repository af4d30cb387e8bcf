package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildBinary compiles a small static program, standing in for the manager.
func buildBinary(t *testing.T, cgo bool) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	program := "package main\n\nfunc main() { println(\"ok\") }\n"
	if cgo {
		program = "package main\n\n// #include <stdlib.h>\nimport \"C\"\n\nfunc main() { C.abs(1) }\n"
	}
	if err := os.WriteFile(src, []byte(program), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "manager")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GO111MODULE=off")
	if cgo {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=1")
	} else {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build the test binary here: %v\n%s", err, out)
	}
	return bin
}

func TestBuildAndCheck(t *testing.T) {
	bin := buildBinary(t, false)
	out := filepath.Join(t.TempDir(), "image.tar")
	if err := Build(bin, "serverlessplane-operator:test", out); err != nil {
		t.Fatal(err)
	}
	report, err := Check(out)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, report)
	}
	for _, want := range []string{"entrypoint [/manager]", "user 65532:65532", "layers 1", "application/vnd.oci.image.manifest.v1+json", "mode 755"} {
		if !strings.Contains(report, want) {
			t.Errorf("report does not say %q:\n%s", want, report)
		}
	}
	// The same binary gives the same image: builds are reproducible.
	again := filepath.Join(t.TempDir(), "again.tar")
	if err := Build(bin, "serverlessplane-operator:test", again); err != nil {
		t.Fatal(err)
	}
	first, _ := Check(out)
	second, _ := Check(again)
	if strings.Split(first, "\n")[0] != strings.Split(second, "\n")[0] {
		t.Errorf("digests differ:\n%s\n%s", first, second)
	}
}

func TestBuildRefusesDynamicBinaries(t *testing.T) {
	bin := buildBinary(t, true)
	err := Build(bin, "x:y", filepath.Join(t.TempDir(), "image.tar"))
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("err = %v, want a refusal of a dynamic binary", err)
	}
}

func TestContainerdName(t *testing.T) {
	cases := map[string]string{
		"serverlessplane-operator:latest":                  "docker.io/library/serverlessplane-operator:latest",
		"team/serverlessplane-operator:v1":                 "docker.io/team/serverlessplane-operator:v1",
		"registry.example.com/serverlessplane-operator:v1": "registry.example.com/serverlessplane-operator:v1",
		"localhost/serverlessplane-pause:latest":           "localhost/serverlessplane-pause:latest",
		"registry:5000/serverlessplane-probe:latest":       "registry:5000/serverlessplane-probe:latest",
	}
	for tag, want := range cases {
		if got := containerdName(tag); got != want {
			t.Errorf("containerdName(%q) = %q, want %q", tag, got, want)
		}
	}
}

func TestBuildAddsDirectories(t *testing.T) {
	bin := buildBinary(t, false)
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(data, "sf0.01"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "sf0.01", "lineitem.parquet"), []byte("PAR1"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	if err := Build(bin, "serverlessplane-sql-engine:test", out, Dir{Source: data, Target: "/usr/share/serverlessplane/tpch"}); err != nil {
		t.Fatal(err)
	}
	if report, err := Check(out); err != nil {
		t.Fatalf("check: %v\n%s", err, report)
	}
	files, err := readDirs([]Dir{{Source: data, Target: "/usr/share/serverlessplane/tpch"}})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.path)
	}
	want := "/usr /usr/share /usr/share/serverlessplane /usr/share/serverlessplane/tpch /usr/share/serverlessplane/tpch/sf0.01 /usr/share/serverlessplane/tpch/sf0.01/lineitem.parquet"
	if got := strings.Join(paths, " "); got != want {
		t.Fatalf("layer entries %s, want parents first: %s", got, want)
	}
	var a addFlags
	if err := a.Set("relative=path"); err == nil {
		t.Fatal("-add with a relative target must be refused")
	}
}
