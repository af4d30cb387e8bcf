package caller

import (
	"context"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
)

func TestContextRoundTrip(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("a bare context carries no caller")
	}
	want := Caller{Workspace: "analytics", User: authnv1.UserInfo{Username: "ann", UID: "1"}}
	got, ok := FromContext(NewContext(context.Background(), want))
	if !ok || !got.Owns(want) {
		t.Fatalf("FromContext(NewContext(%v)) = %v, %v", want, got, ok)
	}
}

func TestOwns(t *testing.T) {
	owner := Caller{Workspace: "analytics", User: authnv1.UserInfo{Username: "ann", UID: "1"}}
	for name, c := range map[string]Caller{
		"another workspace":      {Workspace: "ml", User: owner.User},
		"another user":           {Workspace: "analytics", User: authnv1.UserInfo{Username: "bob", UID: "2"}},
		"same name, another uid": {Workspace: "analytics", User: authnv1.UserInfo{Username: "ann", UID: "9"}},
	} {
		if c.Owns(owner) {
			t.Errorf("%s: Owns = true, want false", name)
		}
	}
	if !owner.Owns(owner) {
		t.Error("a caller owns what it made")
	}
}
