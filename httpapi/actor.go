package httpapi

import (
	"context"
	"net/http"

	"github.com/radmark/radmark"
)

// Authenticator establishes who makes a request.
type Authenticator interface {
	// Authenticate returns the request's actor, nil (and no error) when
	// the request carries no credentials, or an EUNAUTHORIZED error for
	// credentials that are wrong, expired or revoked.
	Authenticate(w http.ResponseWriter, r *http.Request) (*radmark.Actor, error)
}

const actorKey ctxKey = 2

// ActorFrom returns the authenticated actor of a request (nil when the
// server runs without authentication, in tests).
func ActorFrom(ctx context.Context) *radmark.Actor {
	a, _ := ctx.Value(actorKey).(*radmark.Actor)
	return a
}

// WithActor returns ctx carrying actor.
func WithActor(ctx context.Context, actor *radmark.Actor) context.Context {
	return context.WithValue(ctx, actorKey, actor)
}
