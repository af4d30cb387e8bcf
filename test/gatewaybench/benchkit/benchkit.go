// Package benchkit is what the module's benchmarks share: the operator CA's files as the gateway
// and a serving pod mount them, and a fake API server that knows one token.
package benchkit

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/serverlessplane/operator/internal/tlsfiles"
	"github.com/serverlessplane/operator/pkg/certs"
)

// The one user the fake API server knows.
const (
	UserToken = "bench-token"
	UserName  = "bench-user"
)

// GatewayClientName is the common name the model proxy allows by default.
const GatewayClientName = "serverlessplane-gateway"

// PKI is the operator CA's files as the gateway and a model pod mount them: the gateway's
// client certificate and the proxy's serving certificate, each beside the CA.
type PKI struct {
	Gateway *tlsfiles.Files
	// ServingCert, ServingKey and CA are the serving pod's (a model proxy's, an engine's)
	// certificate, key and client CA files.
	ServingCert, ServingKey, CA string
}

// NewPKI writes a CA, a client certificate for the gateway and a serving certificate for
// servingName under dir.
func NewPKI(dir, servingName string) (PKI, error) {
	now := time.Now()
	ca, err := certs.NewCA("serverlessplane-ca", now, 24*time.Hour)
	if err != nil {
		return PKI{}, err
	}
	client, err := certs.Issue(ca, certs.Client, GatewayClientName, nil, now, 24*time.Hour)
	if err != nil {
		return PKI{}, err
	}
	serving, err := certs.Issue(ca, certs.Serving, servingName, []string{servingName}, now, 24*time.Hour)
	if err != nil {
		return PKI{}, err
	}
	files := map[string][]byte{
		"ca.crt": ca.Cert, "gateway.crt": client.Cert, "gateway.key": client.Key,
		"proxy.crt": serving.Cert, "proxy.key": serving.Key,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return PKI{}, fmt.Errorf("writing %s: %w", name, err)
		}
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	// Checked for rotation as often as cmd/gateway checks.
	gateway, err := tlsfiles.Load(path("gateway.crt"), path("gateway.key"), path("ca.crt"), 5*time.Second, nil)
	if err != nil {
		return PKI{}, err
	}
	return PKI{Gateway: gateway, ServingCert: path("proxy.crt"), ServingKey: path("proxy.key"), CA: path("ca.crt")}, nil
}

// Reviews counts the TokenReviews and SubjectAccessReviews the fake API server answered.
type Reviews struct {
	Tokens, Access atomic.Int64
}

// NewClientset is an API server that knows one token and allows its user everything.
func NewClientset(counts *Reviews) *k8sfake.Clientset {
	cs := k8sfake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		counts.Tokens.Add(1)
		review := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenReview)
		out := review.DeepCopy()
		if review.Spec.Token == UserToken {
			out.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: UserName, UID: "bench-uid"}}
		}
		return true, out, nil
	})
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		counts.Access.Add(1)
		out := a.(k8stesting.CreateAction).GetObject().(*authzv1.SubjectAccessReview).DeepCopy()
		out.Status = authzv1.SubjectAccessReviewStatus{Allowed: out.Spec.User == UserName}
		return true, out, nil
	})
	return cs
}

// ServingFiles loads the serving pod's certificate, key and CA, as an engine or a proxy mounts
// them.
func (p PKI) ServingFiles() (*tlsfiles.Files, error) {
	return tlsfiles.Load(p.ServingCert, p.ServingKey, p.CA, 5*time.Second, nil)
}
