// Package caller carries who a request is for through the gateway's handlers: the workspace the
// request names and the user its token belongs to, set once by the authenticating handler and
// read by the APIs behind it.
package caller

import (
	"context"

	authnv1 "k8s.io/api/authentication/v1"
)

// Caller is an authenticated request's workspace and user.
type Caller struct {
	// Workspace is the workspace (namespace) the request names, by host or path prefix.
	Workspace string
	// User is who the bearer token belongs to, as TokenReview said.
	User authnv1.UserInfo
}

// Owns says whether c is the same user in the same workspace as owner: a handle or id made for
// one caller is never another's, whatever its value.
func (c Caller) Owns(owner Caller) bool {
	return c.Workspace == owner.Workspace && c.User.Username == owner.User.Username && c.User.UID == owner.User.UID
}

type key struct{}

// NewContext returns ctx carrying c.
func NewContext(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, key{}, c)
}

// FromContext is the caller ctx carries, and whether it carries one.
func FromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(key{}).(Caller)
	return c, ok
}
