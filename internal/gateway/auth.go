package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/ratelimit"
)

// errUnauthenticated is a missing, malformed, expired or unknown token.
var errUnauthenticated = errors.New("unauthenticated")

// tooManyFailures is answered instead of a TokenReview once a source has spent its failed
// authentications; retryAfter is when the next review is allowed.
type tooManyFailures struct{ retryAfter time.Duration }

func (e *tooManyFailures) Error() string {
	return fmt.Sprintf("too many failed authentications from this address: retry after %s", e.retryAfter.Round(time.Millisecond))
}

// Authorizer authenticates bearer tokens with TokenReview and authorizes requests with
// SubjectAccessReview, as the API server would, and caches both decisions briefly so that a
// stream of requests costs the API server one review per user and object per TTL. A caller
// cannot make it review at will: malformed tokens are refused unreviewed, and each source may
// cause only so many reviews of tokens that prove invalid.
type Authorizer struct {
	Client kubernetes.Interface
	Clock  clock.PassiveClock
	// TTL bounds how long a decision is reused; a revoked token or role binding takes effect
	// within it.
	TTL time.Duration
	// FailuresPerSource and FailurePeriod bound the reviews of tokens that prove invalid that
	// one source (client address; an IPv6 client's /64) may cause: a token bucket of
	// FailuresPerSource that refills over FailurePeriod (defaults 20 per minute). A review of a
	// good token is given back.
	FailuresPerSource int64
	FailurePeriod     time.Duration

	once     sync.Once
	failures *ratelimit.Limiter
	mu       sync.Mutex
	tokens   *lru[[32]byte, tokenEntry]
	// rejected holds tokens that proved invalid, apart from tokens, so that a flood of bad
	// tokens never pushes out a user's good one.
	rejected *lru[[32]byte, time.Time]
	access   *lru[[32]byte, accessEntry]
}

type tokenEntry struct {
	user    authnv1.UserInfo
	expires time.Time
}

type accessEntry struct {
	allowed bool
	expires time.Time
}

// Bounds of the caches (each evicts its least recently used entry) and the default limit of
// failed authentications.
const (
	maxCachedTokens      = 10000
	maxRejectedTokens    = 1000
	maxCachedAccess      = 10000
	defaultFailures      = 20
	defaultFailurePeriod = time.Minute
)

// Resource is what a request acts on: `create` on resource/subresource name in namespace.
type Resource struct {
	Namespace, Resource, Subresource, Name string
}

func (a *Authorizer) init() {
	a.once.Do(func() {
		a.failures = ratelimit.New(a.Clock)
		a.tokens = newLRU[[32]byte, tokenEntry](maxCachedTokens)
		a.rejected = newLRU[[32]byte, time.Time](maxRejectedTokens)
		a.access = newLRU[[32]byte, accessEntry](maxCachedAccess)
		if a.FailuresPerSource <= 0 {
			a.FailuresPerSource = defaultFailures
		}
		if a.FailurePeriod <= 0 {
			a.FailurePeriod = defaultFailurePeriod
		}
	})
}

// Authenticate returns the user a bearer token belongs to, with no limit on failures: callers
// that know the client's address use AuthenticateFrom.
func (a *Authorizer) Authenticate(ctx context.Context, header string) (authnv1.UserInfo, error) {
	return a.authenticate(ctx, "", header)
}

// AuthenticateFrom returns the user a bearer token belongs to, for a request from remoteAddr
// (http.Request.RemoteAddr). It fails with errUnauthenticated for a malformed or invalid
// token, and with *tooManyFailures, without asking the API server, once remoteAddr's failed
// authentications are spent; writeAuthError answers either.
func (a *Authorizer) AuthenticateFrom(ctx context.Context, remoteAddr, header string) (authnv1.UserInfo, error) {
	return a.authenticate(ctx, sourceKey(remoteAddr), header)
}

// authenticate is Authenticate charging source ("": nobody) for tokens that prove invalid.
func (a *Authorizer) authenticate(ctx context.Context, source, header string) (authnv1.UserInfo, error) {
	a.init()
	token, ok := bearerToken(header)
	if !ok {
		return authnv1.UserInfo{}, errUnauthenticated
	}
	key := sha256.Sum256([]byte(token))
	now := a.Clock.Now()
	a.mu.Lock()
	e, good := a.tokens.get(key)
	if good && !now.Before(e.expires) {
		a.tokens.remove(key)
		good = false
	}
	expires, bad := a.rejected.get(key)
	if bad && !now.Before(expires) {
		a.rejected.remove(key)
		bad = false
	}
	a.mu.Unlock()
	switch {
	case good:
		return e.user, nil
	case bad:
		return authnv1.UserInfo{}, errUnauthenticated
	}
	// The review is paid for before it is made, so that concurrent requests cannot all pass.
	if source != "" {
		if ok, retry := a.failures.Allow(source, a.FailuresPerSource, a.FailurePeriod); !ok {
			return authnv1.UserInfo{}, &tooManyFailures{retryAfter: retry}
		}
	}
	review, err := a.Client.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token},
	}, metav1.CreateOptions{})
	if err != nil {
		return authnv1.UserInfo{}, fmt.Errorf("reviewing the token: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !review.Status.Authenticated {
		a.rejected.add(key, now.Add(a.TTL))
		return authnv1.UserInfo{}, errUnauthenticated
	}
	if source != "" {
		a.failures.Return(source)
	}
	a.tokens.add(key, tokenEntry{user: review.Status.User, expires: now.Add(a.TTL)})
	return review.Status.User, nil
}

// Allowed says whether user may `create` the resource.
func (a *Authorizer) Allowed(ctx context.Context, user authnv1.UserInfo, r Resource) (bool, error) {
	a.init()
	key := accessKey(user, r)
	now := a.Clock.Now()
	a.mu.Lock()
	e, hit := a.access.get(key)
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
	a.access.add(key, e)
	a.mu.Unlock()
	return e.allowed, nil
}

// accessKey names a decision by everything the review was asked: the whole user (name, UID,
// groups, extra) and the resource. Each field is length-prefixed, so no two differing requests
// hash the same input.
func accessKey(u authnv1.UserInfo, r Resource) [32]byte {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	count := func(n int) { field(strconv.Itoa(n)) }
	field(u.Username)
	field(u.UID)
	count(len(u.Groups))
	for _, g := range u.Groups {
		field(g)
	}
	keys := slices.Sorted(maps.Keys(u.Extra))
	count(len(keys))
	for _, k := range keys {
		field(k)
		count(len(u.Extra[k]))
		for _, v := range u.Extra[k] {
			field(v)
		}
	}
	for _, f := range []string{r.Namespace, r.Resource, r.Subresource, r.Name} {
		field(f)
	}
	return [32]byte(h.Sum(nil))
}
