package main

import (
	"context"

	"go.temporal.io/server/common/authorization"
)

// hostAuthorizer decides which calls a caller may make. Today it allows every call, as an unauthenticated dev
// server would; the next issue confines hosts here: a host's certificate (its claims) may only poll its own task
// queues and complete the activities it was given (the task token carries the activity type).
type hostAuthorizer struct{}

func newHostAuthorizer() authorization.Authorizer { return hostAuthorizer{} }

func (hostAuthorizer) Authorize(context.Context, *authorization.Claims, *authorization.CallTarget) (authorization.Result, error) {
	return authorization.Result{Decision: authorization.DecisionAllow}, nil
}
