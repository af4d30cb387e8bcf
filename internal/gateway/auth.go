package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// errUnauthenticated is a missing, malformed, expired or unknown token.
var errUnauthenticated = errors.New("unauthenticated")

// Authorizer authenticates bearer tokens with TokenReview and authorizes requests with
// SubjectAccessReview, as the API server would, and caches both decisions briefly so that a
// stream of requests costs the API server one review per user and object per TTL.
type Authorizer struct {
	Client kubernetes.Interface
	Clock  clock.PassiveClock
	// TTL bounds how long a decision is reused; a revoked token or role binding takes effect
	// within it.
	TTL time.Duration

	mu     sync.Mutex
	tokens map[[32]byte]tokenEntry
	access map[accessKey]accessEntry
}

type tokenEntry struct {
	user    authnv1.UserInfo
	ok      bool
	expires time.Time
}

type accessKey struct {
	user, namespace, resource, subresource, name string
}

type accessEntry struct {
	allowed bool
	expires time.Time
}

// maxCached bounds each cache; past it the cache starts over (decisions are cheap to redo).
const maxCached = 10000

// Resource is what a request acts on: `create` on resource/subresource name in namespace.
type Resource struct {
	Namespace, Resource, Subresource, Name string
}

// Authenticate returns the user a bearer token belongs to.
func (a *Authorizer) Authenticate(ctx context.Context, header string) (authnv1.UserInfo, error) {
	token, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return authnv1.UserInfo{}, errUnauthenticated
	}
	key := sha256.Sum256([]byte(token))
	now := a.Clock.Now()
	a.mu.Lock()
	e, hit := a.tokens[key]
	a.mu.Unlock()
	if hit && now.Before(e.expires) {
		if !e.ok {
			return authnv1.UserInfo{}, errUnauthenticated
		}
		return e.user, nil
	}
	review, err := a.Client.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token},
	}, metav1.CreateOptions{})
	if err != nil {
		return authnv1.UserInfo{}, fmt.Errorf("reviewing the token: %w", err)
	}
	e = tokenEntry{user: review.Status.User, ok: review.Status.Authenticated, expires: now.Add(a.TTL)}
	a.mu.Lock()
	if a.tokens == nil || len(a.tokens) >= maxCached {
		a.tokens = map[[32]byte]tokenEntry{}
	}
	a.tokens[key] = e
	a.mu.Unlock()
	if !e.ok {
		return authnv1.UserInfo{}, errUnauthenticated
	}
	return e.user, nil
}

// Allowed says whether user may `create` the resource.
func (a *Authorizer) Allowed(ctx context.Context, user authnv1.UserInfo, r Resource) (bool, error) {
	key := accessKey{user: user.Username + "\x00" + user.UID, namespace: r.Namespace, resource: r.Resource, subresource: r.Subresource, name: r.Name}
	now := a.Clock.Now()
	a.mu.Lock()
	e, hit := a.access[key]
	a.mu.Unlock()
	if hit && now.Before(e.expires) {
		return e.allowed, nil
	}
	extra := map[string]authzv1.ExtraValue{}
	for k, v := range user.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	review, err := a.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{
		Spec: authzv1.SubjectAccessReviewSpec{
			User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
			ResourceAttributes: &authzv1.ResourceAttributes{
				Namespace: r.Namespace, Verb: "create", Group: computev1.GroupVersion.Group,
				Resource: r.Resource, Subresource: r.Subresource, Name: r.Name,
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("reviewing access: %w", err)
	}
	e = accessEntry{allowed: review.Status.Allowed && !review.Status.Denied, expires: now.Add(a.TTL)}
	a.mu.Lock()
	if a.access == nil || len(a.access) >= maxCached {
		a.access = map[accessKey]accessEntry{}
	}
	a.access[key] = e
	a.mu.Unlock()
	return e.allowed, nil
}
