package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"

	workflowservice "go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/authorization"
	"google.golang.org/grpc"
)

// Task tokens bound to the host they were handed to.
//
// A task token is not signed: history takes the workflow, run, scheduled event and attempt it names at their word,
// and the activity type in it is only a label. So a host that could write its own token could answer any running
// activity of a run it has seen: the orchestrator's, or another host's. Binding closes that. When a host polls its
// queue, the frontend appends to the token an HMAC of (host id, token) as an extra protobuf field (number
// tokenMACField, which the server's token message does not have, so every part of the server still reads the token
// as before and ignores the field); the authorizer accepts a host's answer only with a token that ends in a valid
// MAC for that host. The key is shared by every frontend and never leaves the server.
const tokenMACField = 1000

// The field's tag (number 1000, length-delimited), the MAC's length, then the MAC: a fixed 35-byte suffix.
var tokenMACHeader = []byte{0xc2, 0x3e, sha256.Size}

type taskTokenBinder struct{ key []byte }

func (b taskTokenBinder) mac(hostID string, token []byte) []byte {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte(hostID))
	m.Write([]byte{0})
	m.Write(token)
	return m.Sum(nil)
}

// bind returns the token as handed to host hostID.
func (b taskTokenBinder) bind(hostID string, token []byte) []byte {
	bound := append(append(bytes.Clone(token), tokenMACHeader...), b.mac(hostID, token)...)
	return bound
}

// verify says whether bound is a token the frontend handed to host hostID, as it was handed out.
func (b taskTokenBinder) verify(hostID string, bound []byte) error {
	suffix := len(tokenMACHeader) + sha256.Size
	if len(bound) <= suffix || !bytes.Equal(bound[len(bound)-suffix:len(bound)-sha256.Size], tokenMACHeader) {
		return fmt.Errorf("the task token was not handed to a host")
	}
	token, mac := bound[:len(bound)-suffix], bound[len(bound)-sha256.Size:]
	if !hmac.Equal(mac, b.mac(hostID, token)) {
		return fmt.Errorf("the task token was not handed to this host")
	}
	return nil
}

// interceptor binds the token of every activity task a host polls. It runs after the authorizer, which has allowed
// the poll only on the host's own queue.
func (b taskTokenBinder) interceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if info.FullMethod != workflowservice.WorkflowService_PollActivityTaskQueue_FullMethodName || err != nil {
		return resp, err
	}
	claims, _ := ctx.Value(authorization.MappedClaims).(*authorization.Claims)
	if claims == nil {
		return resp, err
	}
	who, ok := claims.Extensions.(caller)
	if poll, isPoll := resp.(*workflowservice.PollActivityTaskQueueResponse); ok && isPoll && who.kind == kindHost && len(poll.TaskToken) > 0 {
		poll.TaskToken = b.bind(who.name, poll.TaskToken)
	}
	return resp, err
}
