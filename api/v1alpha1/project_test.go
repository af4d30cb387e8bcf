package v1alpha1

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// The kubebuilder PROJECT file names exactly the kinds the CRDs define, in this group and
// version, with their scope.
func TestProjectFileMatchesTheCRDs(t *testing.T) {
	data, err := os.ReadFile("../../PROJECT")
	if err != nil {
		t.Fatal(err)
	}
	var project struct {
		Domain    string `json:"domain"`
		Repo      string `json:"repo"`
		Resources []struct {
			API struct {
				Namespaced bool `json:"namespaced"`
			} `json:"api"`
			Group, Kind, Version, Path string
		} `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &project); err != nil {
		t.Fatal(err)
	}
	type kind struct {
		Group, Version, Kind, Path string
		Namespaced                 bool
	}
	var declared []kind
	for _, r := range project.Resources {
		declared = append(declared, kind{r.Group + "." + project.Domain, r.Version, r.Kind, r.Path, r.API.Namespaced})
	}
	files, err := filepath.Glob("../../config/crd/bases/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs: %v", err)
	}
	var defined []kind
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			t.Fatal(err)
		}
		for _, v := range crd.Spec.Versions {
			defined = append(defined, kind{crd.Spec.Group, v.Name, crd.Spec.Names.Kind, project.Repo + "/api/" + v.Name,
				crd.Spec.Scope == apiextensionsv1.NamespaceScoped})
		}
	}
	byKind := func(a, b kind) int { return strings.Compare(a.Kind, b.Kind) }
	slices.SortFunc(defined, byKind)
	slices.SortFunc(declared, byKind)
	if diff := cmp.Diff(defined, declared); diff != "" {
		t.Errorf("PROJECT (-CRDs +PROJECT):\n%s", diff)
	}
	if project.Repo != "github.com/serverlessplane/operator" || GroupVersion.Group != "compute."+project.Domain {
		t.Errorf("PROJECT repo %q, domain %q; the module and group say github.com/serverlessplane/operator and %s",
			project.Repo, project.Domain, GroupVersion.Group)
	}
}
