package naming

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// names is every name the operator derives in a workspace namespace, by kind, from the names
// of the objects a tenant or a platform admin chooses.
type derived struct{ kind, name string }

func TestDerivedNamesNeverCollide(t *testing.T) {
	long := strings.Repeat("a", 42)
	// Each case is a set of owners whose naïve names collide.
	cases := map[string][]derived{
		"endpoint a-b with entity c, and endpoint a with entity b-c": {
			{"Deployment", ServedEntity("a-b", "c")}, {"Deployment", ServedEntity("a", "b-c")},
		},
		"endpoint x-sql's certificate and warehouse x's": {
			{"Secret", ServingCertificate("x-sql")}, {"Secret", WarehouseCertificate("x")},
		},
		"endpoint pe with entity db, and the private endpoint rule db": {
			{"Service", ServedEntity("pe", "db")}, {"Service", PrivateEndpointService("db")},
		},
		"warehouse x-y's Service and endpoint x with entity y": {
			{"Service", "x-y"}, {"Service", ServedEntity("x", "y")},
		},
		"longest names that share the first 54 characters": {
			{"Deployment", ServedEntity(long, strings.Repeat("b", 20))}, {"Deployment", ServedEntity(long, strings.Repeat("b", 19)+"c")},
		},
	}
	for name, objs := range cases {
		t.Run(name, func(t *testing.T) {
			seen := map[derived]bool{}
			for _, o := range objs {
				if seen[o] {
					t.Fatalf("two owners name the same %s %q", o.kind, o.name)
				}
				seen[o] = true
				if errs := validation.IsDNS1035Label(o.name); len(errs) > 0 {
					t.Fatalf("%s %q is not a DNS label: %v", o.kind, o.name, errs)
				}
			}
		})
	}
}

func TestChildIsStableAndBounded(t *testing.T) {
	tests := []struct {
		parts []string
		want  string
	}{
		{[]string{"model", "champion"}, "model-champion-"},
		{[]string{strings.Repeat("a", 42), strings.Repeat("b", 20)}, strings.Repeat("a", 42) + "-" + strings.Repeat("b", 11) + "-"},
		// A cut that ends on a separator drops it: no "--" before the hash.
		{[]string{strings.Repeat("a", 53), "b"}, strings.Repeat("a", 53) + "-"},
	}
	for _, tc := range tests {
		got := Child(tc.parts...)
		if !strings.HasPrefix(got, tc.want) || len(got) != len(tc.want)+hashLen || len(got) > 63 {
			t.Errorf("Child(%q) = %q, want %q and %d hash digits, at most 63 characters", tc.parts, got, tc.want, hashLen)
		}
		if again := Child(tc.parts...); again != got {
			t.Errorf("Child(%q) is not stable: %q then %q", tc.parts, got, again)
		}
	}
}
