package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// reviewer is a fake API server that counts the reviews it is asked for: a token is good when
// it starts with "good", and a user may create anything when one of its groups is "admins".
type reviewer struct {
	tokenReviews, accessReviews atomic.Int64
}

func (rv *reviewer) authorizer(clk *clocktesting.FakePassiveClock) *Authorizer {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		rv.tokenReviews.Add(1)
		review := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenReview).DeepCopy()
		if strings.HasPrefix(review.Spec.Token, "good") {
			review.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: review.Spec.Token}}
		}
		return true, review, nil
	})
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		rv.accessReviews.Add(1)
		review := a.(k8stesting.CreateAction).GetObject().(*authzv1.SubjectAccessReview).DeepCopy()
		review.Status.Allowed = slices.Contains(review.Spec.Groups, "admins")
		return true, review, nil
	})
	return &Authorizer{Client: cs, Clock: clk, TTL: time.Minute}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestMalformedTokensAreNotReviewed(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiIsImtpZCI6IkRfN3cifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0.c2ln-_bmF0dXJl"
	for _, tc := range []struct {
		name, header string
		reviewed     bool
	}{
		{name: "service-account JWT", header: "Bearer good" + jwt, reviewed: true},
		{name: "bootstrap token", header: "Bearer good07.0123456789abcdef", reviewed: true},
		{name: "static token, a UUID", header: "Bearer good-31ada4fd-adec-460c-809a-9e56ceb75269", reviewed: true},
		{name: "base64 with padding", header: "Bearer goodZG9rZW4+/w==", reviewed: true},
		{name: "exactly 8 KiB", header: "Bearer good" + strings.Repeat("a", 8<<10-4), reviewed: true},
		{name: "no header", header: ""},
		{name: "another scheme", header: "Basic Z29vZDpwYXNz"},
		{name: "no token", header: "Bearer "},
		{name: "only padding", header: "Bearer =="},
		{name: "padding inside", header: "Bearer good=abc"},
		{name: "a space inside", header: "Bearer good abc"},
		{name: "a second space", header: "Bearer  good"},
		{name: "a control character", header: "Bearer good\x00abc"},
		{name: "a quote", header: `Bearer good"abc`},
		{name: "percent-encoded", header: "Bearer good%20abc"},
		{name: "over 8 KiB", header: "Bearer good" + strings.Repeat("a", 8<<10-3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rv reviewer
			a := rv.authorizer(clocktesting.NewFakePassiveClock(t0))
			_, err := a.AuthenticateFrom(context.Background(), "192.0.2.1:5000", tc.header)
			if got := rv.tokenReviews.Load() == 1; got != tc.reviewed {
				t.Fatalf("reviewed %v (err %v), want %v", got, err, tc.reviewed)
			}
			if !tc.reviewed && !errors.Is(err, errUnauthenticated) {
				t.Fatalf("error %v, want errUnauthenticated", err)
			}
		})
	}
}

func TestFailedAuthenticationsAreLimitedPerSource(t *testing.T) {
	var rv reviewer
	clk := clocktesting.NewFakePassiveClock(t0)
	a := rv.authorizer(clk)
	ctx := context.Background()
	// A user behind the attacker's address signed in before the attack.
	if _, err := a.AuthenticateFrom(ctx, "203.0.113.7:1", "Bearer good-user"); err != nil {
		t.Fatal(err)
	}

	limited := 0
	for i := range 10000 {
		_, err := a.AuthenticateFrom(ctx, fmt.Sprintf("203.0.113.7:%d", 1024+i%50000), fmt.Sprintf("Bearer bad%d", i))
		var tmf *tooManyFailures
		switch {
		case errors.As(err, &tmf):
			limited++
			if tmf.retryAfter <= 0 || tmf.retryAfter > defaultFailurePeriod {
				t.Fatalf("retry after %s", tmf.retryAfter)
			}
		case !errors.Is(err, errUnauthenticated):
			t.Fatalf("error %v", err)
		}
	}
	// The good token reviewed first, then one bucket of failures.
	if got := rv.tokenReviews.Load(); got != 1+defaultFailures {
		t.Fatalf("10,000 random tokens from one address cost %d token reviews, want %d", got, 1+defaultFailures)
	}
	if limited != 10000-defaultFailures {
		t.Fatalf("%d requests limited, want %d", limited, 10000-defaultFailures)
	}

	for _, tc := range []struct {
		name, addr, header string
		wantErr            string // "", "unauthenticated" or "limited"
		wantReviews        int64
	}{
		{name: "the signed-in user is still served from the cache", addr: "203.0.113.7:2", header: "Bearer good-user", wantReviews: 0},
		{name: "a new token from the address waits", addr: "203.0.113.7:3", header: "Bearer good-other", wantErr: "limited", wantReviews: 0},
		{name: "another address is reviewed", addr: "198.51.100.1:1", header: "Bearer bad-elsewhere", wantErr: "unauthenticated", wantReviews: 1},
		{name: "an IPv4-mapped address is the same address", addr: "[::ffff:203.0.113.7]:4", header: "Bearer bad-mapped", wantErr: "limited", wantReviews: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := rv.tokenReviews.Load()
			_, err := a.AuthenticateFrom(ctx, tc.addr, tc.header)
			var tmf *tooManyFailures
			got := ""
			switch {
			case errors.As(err, &tmf):
				got = "limited"
			case errors.Is(err, errUnauthenticated):
				got = "unauthenticated"
			case err != nil:
				t.Fatal(err)
			}
			if got != tc.wantErr || rv.tokenReviews.Load()-before != tc.wantReviews {
				t.Fatalf("got %q and %d reviews, want %q and %d", got, rv.tokenReviews.Load()-before, tc.wantErr, tc.wantReviews)
			}
		})
	}

	// The bucket refills at FailuresPerSource per FailurePeriod: 3s buys one review.
	clk.SetTime(t0.Add(defaultFailurePeriod / defaultFailures))
	before := rv.tokenReviews.Load()
	if _, err := a.AuthenticateFrom(ctx, "203.0.113.7:5", "Bearer good-other"); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
	if _, err := a.AuthenticateFrom(ctx, "203.0.113.7:5", "Bearer bad-again"); !errors.Is(err, errUnauthenticated) {
		t.Fatalf("a good token gives its review back, so one failure is allowed: %v", err)
	}
	if got := rv.tokenReviews.Load() - before; got != 2 {
		t.Fatalf("%d reviews after the refill, want 2", got)
	}
}

// The review is paid for before it is made, so a concurrent flood is bounded too.
func TestConcurrentFailuresAreLimited(t *testing.T) {
	var rv reviewer
	a := rv.authorizer(clocktesting.NewFakePassiveClock(t0))
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Go(func() {
			for i := range 200 {
				_, _ = a.AuthenticateFrom(context.Background(), "203.0.113.7:1", fmt.Sprintf("Bearer bad%d-%d", g, i))
			}
		})
	}
	wg.Wait()
	if got := rv.tokenReviews.Load(); got != defaultFailures {
		t.Fatalf("10,000 concurrent random tokens cost %d token reviews, want %d", got, defaultFailures)
	}
}

func TestIPv6ClientsShareTheirPrefix(t *testing.T) {
	for _, tc := range []struct{ name, a, b string }{
		{name: "two hosts of one /64", a: "[2001:db8:1:2::1]:80", b: "[2001:db8:1:2:ffff::9]:443"},
		{name: "a zone is ignored", a: "[fe80::1%eth0]:80", b: "[fe80::2]:80"},
		{name: "the port is ignored", a: "192.0.2.1:80", b: "192.0.2.1:443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ka, kb := sourceKey(tc.a), sourceKey(tc.b); ka != kb {
				t.Fatalf("%s and %s are charged apart (%s, %s)", tc.a, tc.b, ka, kb)
			}
		})
	}
	if sourceKey("[2001:db8:1:2::1]:80") == sourceKey("[2001:db8:1:3::1]:80") {
		t.Fatal("two /64s share a bucket")
	}
}

func TestGoodTokensSpendNoFailures(t *testing.T) {
	var rv reviewer
	a := rv.authorizer(clocktesting.NewFakePassiveClock(t0))
	// A NAT of many users: each first request is a review, none of them a failure.
	for i := range 5 * defaultFailures {
		if _, err := a.AuthenticateFrom(context.Background(), "192.0.2.1:1", fmt.Sprintf("Bearer good%d", i)); err != nil {
			t.Fatalf("user %d: %v", i, err)
		}
	}
}

func TestRejectedTokensDoNotEvictGoodOnes(t *testing.T) {
	var rv reviewer
	a := rv.authorizer(clocktesting.NewFakePassiveClock(t0))
	ctx := context.Background()
	if _, err := a.AuthenticateFrom(ctx, "192.0.2.1:1", "Bearer good-user"); err != nil {
		t.Fatal(err)
	}
	// More bad tokens than both caches hold, from addresses that each stay within the limit.
	for i := range maxCachedTokens + maxRejectedTokens {
		addr := fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255)
		if _, err := a.AuthenticateFrom(ctx, addr, fmt.Sprintf("Bearer bad%d", i)); !errors.Is(err, errUnauthenticated) {
			t.Fatalf("bad token %d: %v", i, err)
		}
	}
	before := rv.tokenReviews.Load()
	if _, err := a.AuthenticateFrom(ctx, "192.0.2.1:1", "Bearer good-user"); err != nil {
		t.Fatal(err)
	}
	if rv.tokenReviews.Load() != before {
		t.Fatal("the user's token was reviewed again: the flood evicted it")
	}
}

func TestAccessDecisionsAreNotShared(t *testing.T) {
	admin := authnv1.UserInfo{Username: "ann", UID: "1", Groups: []string{"admins"}, Extra: map[string]authnv1.ExtraValue{"scopes": {"all"}}}
	res := Resource{Namespace: "ws", Resource: "modelendpoints", Subresource: "invocations", Name: "e"}
	for _, tc := range []struct {
		name        string
		other       func(u *authnv1.UserInfo)
		wantAllowed bool
		wantReviews int64
	}{
		{name: "the same user again is served from the cache", other: func(u *authnv1.UserInfo) {}, wantAllowed: true, wantReviews: 1},
		{name: "other groups", other: func(u *authnv1.UserInfo) { u.Groups = []string{"viewers"} }, wantReviews: 2},
		{name: "no groups", other: func(u *authnv1.UserInfo) { u.Groups = nil }, wantReviews: 2},
		{name: "a group name split differently", other: func(u *authnv1.UserInfo) { u.Groups = []string{"adm", "ins"} }, wantReviews: 2},
		{name: "other extra", other: func(u *authnv1.UserInfo) { u.Extra = map[string]authnv1.ExtraValue{"scopes": {"none"}}; u.Groups = nil }, wantReviews: 2},
		{name: "another UID", other: func(u *authnv1.UserInfo) { u.UID = "2"; u.Groups = nil }, wantReviews: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rv reviewer
			a := rv.authorizer(clocktesting.NewFakePassiveClock(t0))
			if ok, err := a.Allowed(context.Background(), admin, res); err != nil || !ok {
				t.Fatalf("the admin: %v, %v", ok, err)
			}
			other := admin
			other.Groups = slices.Clone(admin.Groups)
			tc.other(&other)
			ok, err := a.Allowed(context.Background(), other, res)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantAllowed || rv.accessReviews.Load() != tc.wantReviews {
				t.Fatalf("allowed %v after %d reviews, want %v after %d", ok, rv.accessReviews.Load(), tc.wantAllowed, tc.wantReviews)
			}
		})
	}
}

func TestWriteAuthError(t *testing.T) {
	type answer struct {
		Status                      int
		RetryAfter, WWWAuthenticate string
		Body                        string
	}
	for _, tc := range []struct {
		name string
		err  error
		want answer
	}{
		{name: "limited", err: &tooManyFailures{retryAfter: 2500 * time.Millisecond},
			want: answer{Status: 429, RetryAfter: "3", Body: `"error_code":"REQUEST_LIMIT_EXCEEDED"`}},
		{name: "limited for less than a second", err: &tooManyFailures{retryAfter: time.Millisecond},
			want: answer{Status: 429, RetryAfter: "1", Body: `"error_code":"REQUEST_LIMIT_EXCEEDED"`}},
		{name: "unauthenticated", err: errUnauthenticated,
			want: answer{Status: 401, WWWAuthenticate: `Bearer realm="serverlessplane"`, Body: `"error_code":"UNAUTHENTICATED"`}},
		{name: "the API server failed", err: errors.New("reviewing the token: timeout"),
			want: answer{Status: 503, Body: `"error_code":"TEMPORARILY_UNAVAILABLE"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			writeAuthError(w, tc.err)
			got := answer{Status: w.Code, RetryAfter: w.Header().Get("Retry-After"), WWWAuthenticate: w.Header().Get("WWW-Authenticate"), Body: tc.want.Body}
			if !strings.Contains(w.Body.String(), tc.want.Body) {
				got.Body = w.Body.String()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}
