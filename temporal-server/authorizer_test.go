package main

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"strings"
	"testing"

	"go.temporal.io/api/operatorservice/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	workflowservice "go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/api/adminservice/v1"
	tokenspb "go.temporal.io/server/api/token/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/tasktoken"
	"google.golang.org/grpc"
)

const ns = "default"

func claimsOf(t *testing.T, cn string) *authorization.Claims {
	t.Helper()
	claims, err := certificateClaimMapper{}.GetClaims(&authorization.AuthInfo{TLSSubject: &pkix.Name{CommonName: cn}})
	if err != nil {
		t.Fatalf("GetClaims(%q): %v", cn, err)
	}
	return claims
}

var binder = taskTokenBinder{key: []byte("a key of thirty-two bytes at least")}

func decide(t *testing.T, claims *authorization.Claims, api string, namespace string, req any) authorization.Result {
	t.Helper()
	result, err := newZansocAuthorizer(ns, binder, log.NewNoopLogger()).Authorize(context.Background(), claims,
		&authorization.CallTarget{APIName: api, Namespace: namespace, Request: req})
	if err != nil {
		t.Fatalf("Authorize(%s): %v", api, err)
	}
	return result
}

func expectAllowed(t *testing.T, claims *authorization.Claims, api, namespace string, req any) {
	t.Helper()
	if r := decide(t, claims, api, namespace, req); r.Decision != authorization.DecisionAllow {
		t.Errorf("%s calling %s (namespace %q): denied (%s), want allowed", claims.Subject, api, namespace, r.Reason)
	}
}

func expectDenied(t *testing.T, claims *authorization.Claims, api, namespace string, req any) {
	t.Helper()
	if r := decide(t, claims, api, namespace, req); r.Decision != authorization.DecisionDeny {
		t.Errorf("%s calling %s (namespace %q): allowed, want denied", claims.Subject, api, namespace)
	} else if r.Reason == "" {
		t.Errorf("%s calling %s: denied without a reason", claims.Subject, api)
	}
}

func token(t *testing.T, task *tokenspb.Task) []byte {
	t.Helper()
	data, err := tasktoken.NewSerializer().Serialize(task)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// activityToken is a token as the frontend hands it to host h1.
func activityToken(t *testing.T, activityType string) []byte {
	return binder.bind("h1", rawActivityToken(t, activityType))
}

func rawActivityToken(t *testing.T, activityType string) []byte {
	return token(t, &tokenspb.Task{NamespaceId: "ns-id", WorkflowId: "job-1", RunId: "run-1", ScheduledEventId: 5,
		Attempt: 1, ActivityId: "1", ActivityType: activityType, StartedEventId: 6})
}

func poll(queue string) *workflowservice.PollActivityTaskQueueRequest {
	return &workflowservice.PollActivityTaskQueueRequest{Namespace: ns, TaskQueue: &taskqueuepb.TaskQueue{Name: queue}}
}

func TestCommonNamesMapToIdentities(t *testing.T) {
	for cn, want := range map[string]string{
		"zansoc-orchestrator":       "orchestrator",
		"zansoc-system-worker":      "system-worker",
		"zansoc-operator:alice":     "operator:alice",
		"zansoc-api:api-1":          "api:api-1",
		"zansoc-host:h-0123456789a": "host:h-0123456789a",
	} {
		if got := claimsOf(t, cn).Extensions.(caller).String(); got != want {
			t.Errorf("%q maps to %q, want %q", cn, got, want)
		}
	}
	for _, cn := range []string{"", "admin", "zansoc-host:", "zansoc-host:h1/../h2", "zansoc-host:/_sys/host.h2/1",
		"zansoc-host:h 1", "zansoc-orchestrator:x", "Zansoc-Orchestrator", "zansoc-api:", "zansoc-operator"} {
		if _, err := (certificateClaimMapper{}).GetClaims(&authorization.AuthInfo{TLSSubject: &pkix.Name{CommonName: cn}}); err == nil {
			t.Errorf("%q mapped to an identity, want refused", cn)
		}
	}
	if _, err := (certificateClaimMapper{}).GetClaims(&authorization.AuthInfo{AuthToken: "Bearer x"}); err == nil {
		t.Error("a call without a client certificate mapped to an identity")
	}
}

func TestOnlyAdminsHoldARole(t *testing.T) {
	for _, cn := range []string{"zansoc-orchestrator", "zansoc-system-worker", "zansoc-operator:alice"} {
		if claimsOf(t, cn).System != authorization.RoleAdmin {
			t.Errorf("%s is not system admin", cn)
		}
	}
	for _, cn := range []string{"zansoc-api:api", "zansoc-host:h1"} {
		if c := claimsOf(t, cn); c.System != authorization.RoleUndefined || len(c.Namespaces) != 0 {
			t.Errorf("%s holds a role: %+v", cn, c)
		}
	}
}

func TestNoClaimsIsDenied(t *testing.T) {
	r := decide(t, nil, workflowservice.WorkflowService_StartWorkflowExecution_FullMethodName, ns, &workflowservice.StartWorkflowExecutionRequest{})
	if r.Decision != authorization.DecisionDeny {
		t.Error("a call without claims was allowed")
	}
}

func TestAdminsMayCallAnything(t *testing.T) {
	for _, cn := range []string{"zansoc-orchestrator", "zansoc-system-worker", "zansoc-operator:alice"} {
		c := claimsOf(t, cn)
		expectAllowed(t, c, workflowservice.WorkflowService_TerminateWorkflowExecution_FullMethodName, "other", &workflowservice.TerminateWorkflowExecutionRequest{})
		expectAllowed(t, c, workflowservice.WorkflowService_PollWorkflowTaskQueue_FullMethodName, ns, &workflowservice.PollWorkflowTaskQueueRequest{})
		expectAllowed(t, c, operatorservice.OperatorService_AddSearchAttributes_FullMethodName, "", &operatorservice.AddSearchAttributesRequest{})
		expectAllowed(t, c, adminservice.AdminService_DescribeCluster_FullMethodName, "", &adminservice.DescribeClusterRequest{})
	}
}

func TestHostPollsOnlyItsOwnQueue(t *testing.T) {
	h1 := claimsOf(t, "zansoc-host:h1")
	api := workflowservice.WorkflowService_PollActivityTaskQueue_FullMethodName
	expectAllowed(t, h1, api, ns, poll("host.h1"))
	for _, queue := range []string{"host.h2", "zansoc-orchestrator", "host.h1x", "host.h", "/_sys/host.h1/1", "/_sys/host.h2/1", ""} {
		expectDenied(t, h1, api, ns, poll(queue))
	}
	// Its own queue in another namespace is not its own.
	other := poll("host.h1")
	other.Namespace = "other"
	expectDenied(t, h1, api, "other", other)
	// Workflow tasks, whatever the queue.
	expectDenied(t, h1, workflowservice.WorkflowService_PollWorkflowTaskQueue_FullMethodName, ns,
		&workflowservice.PollWorkflowTaskQueueRequest{Namespace: ns, TaskQueue: &taskqueuepb.TaskQueue{Name: "host.h1"}})
	expectDenied(t, h1, workflowservice.WorkflowService_PollNexusTaskQueue_FullMethodName, ns,
		&workflowservice.PollNexusTaskQueueRequest{Namespace: ns, TaskQueue: &taskqueuepb.TaskQueue{Name: "host.h1"}})
}

func TestHostAnswersOnlyHostActivities(t *testing.T) {
	h1 := claimsOf(t, "zansoc-host:h1")
	answers := map[string]func([]byte) any{
		workflowservice.WorkflowService_RespondActivityTaskCompleted_FullMethodName: func(tok []byte) any {
			return &workflowservice.RespondActivityTaskCompletedRequest{Namespace: ns, TaskToken: tok}
		},
		workflowservice.WorkflowService_RespondActivityTaskFailed_FullMethodName: func(tok []byte) any {
			return &workflowservice.RespondActivityTaskFailedRequest{Namespace: ns, TaskToken: tok}
		},
		workflowservice.WorkflowService_RespondActivityTaskCanceled_FullMethodName: func(tok []byte) any {
			return &workflowservice.RespondActivityTaskCanceledRequest{Namespace: ns, TaskToken: tok}
		},
		workflowservice.WorkflowService_RecordActivityTaskHeartbeat_FullMethodName: func(tok []byte) any {
			return &workflowservice.RecordActivityTaskHeartbeatRequest{Namespace: ns, TaskToken: tok}
		},
	}
	for api, request := range answers {
		for _, activity := range hostActivityTypes {
			expectAllowed(t, h1, api, ns, request(activityToken(t, activity)))
		}
		for _, activity := range []string{"settleJob", "bondHostStake", "recordJobState", ""} {
			expectDenied(t, h1, api, ns, request(activityToken(t, activity)))
		}
		expectDenied(t, h1, api, ns, request([]byte("not a token")))
		// A token as history issues it, one bound to another host, one altered after binding, one with more after.
		expectDenied(t, h1, api, ns, request(rawActivityToken(t, "executeSlot")))
		expectDenied(t, h1, api, ns, request(binder.bind("h2", rawActivityToken(t, "executeSlot"))))
		altered := activityToken(t, "executeSlot")
		altered[3] ^= 1
		expectDenied(t, h1, api, ns, request(altered))
		expectDenied(t, h1, api, ns, request(append(activityToken(t, "executeSlot"), 0x08, 0x01)))
		expectDenied(t, h1, api, ns, request(taskTokenBinder{key: []byte("another key of thirty-two bytes!!")}.bind("h1", rawActivityToken(t, "executeSlot"))))
		// Tokens a poll never hands out: by activity id (no scheduled event), and the current run (no run id).
		expectDenied(t, h1, api, ns, request(binder.bind("h1", token(t, &tokenspb.Task{NamespaceId: "ns-id", WorkflowId: "job-1", RunId: "run-1",
			ActivityId: "1", ActivityType: "executeSlot"}))))
		expectDenied(t, h1, api, ns, request(binder.bind("h1", token(t, &tokenspb.Task{NamespaceId: "ns-id", WorkflowId: "job-1",
			ScheduledEventId: 5, Attempt: 1, ActivityType: "executeSlot"}))))
		expectDenied(t, h1, api, "other", request(activityToken(t, "executeSlot")))
	}
	// By workflow and activity id, without a token.
	for _, api := range []string{
		workflowservice.WorkflowService_RespondActivityTaskCompletedById_FullMethodName,
		workflowservice.WorkflowService_RespondActivityTaskFailedById_FullMethodName,
		workflowservice.WorkflowService_RespondActivityTaskCanceledById_FullMethodName,
		workflowservice.WorkflowService_RecordActivityTaskHeartbeatById_FullMethodName,
	} {
		expectDenied(t, h1, api, ns, &workflowservice.RespondActivityTaskCompletedByIdRequest{Namespace: ns, WorkflowId: "job-1", ActivityId: "1"})
	}
}

func TestHostStartsAndStopsItsWorker(t *testing.T) {
	h1 := claimsOf(t, "zansoc-host:h1")
	expectAllowed(t, h1, workflowservice.WorkflowService_GetSystemInfo_FullMethodName, "", &workflowservice.GetSystemInfoRequest{})
	expectAllowed(t, h1, workflowservice.WorkflowService_DescribeNamespace_FullMethodName, ns, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	expectDenied(t, h1, workflowservice.WorkflowService_DescribeNamespace_FullMethodName, "other", &workflowservice.DescribeNamespaceRequest{Namespace: "other"})
	expectAllowed(t, h1, workflowservice.WorkflowService_ShutdownWorker_FullMethodName, ns, &workflowservice.ShutdownWorkerRequest{Namespace: ns})
	expectDenied(t, h1, workflowservice.WorkflowService_ShutdownWorker_FullMethodName, ns,
		&workflowservice.ShutdownWorkerRequest{Namespace: ns, StickyTaskQueue: "orchestrator-sticky"})
}

// Every API of every service a host may not call is denied: the table is the whole policy.
func TestHostIsDeniedEverythingElse(t *testing.T) {
	h1 := claimsOf(t, "zansoc-host:h1")
	checked := 0
	for _, service := range []struct {
		name    string
		methods []string
	}{
		{workflowservice.WorkflowService_ServiceDesc.ServiceName, methodsOf(workflowservice.WorkflowService_ServiceDesc.Methods)},
		{operatorservice.OperatorService_ServiceDesc.ServiceName, methodsOf(operatorservice.OperatorService_ServiceDesc.Methods)},
		{adminservice.AdminService_ServiceDesc.ServiceName, methodsOf(adminservice.AdminService_ServiceDesc.Methods)},
	} {
		for _, method := range service.methods {
			api := "/" + service.name + "/" + method
			if _, listed := hostRules[api]; listed {
				continue
			}
			checked++
			expectDenied(t, h1, api, ns, nil)
		}
	}
	// Describe, query, history, list, signal, update, terminate, schedules, search attributes, at least.
	if checked < 100 {
		t.Errorf("only %d APIs checked", checked)
	}
	for api := range hostRules {
		if !strings.HasPrefix(api, "/temporal.api.workflowservice.v1.WorkflowService/") && !strings.HasPrefix(api, "/grpc.health.v1.Health/") {
			t.Errorf("a host may call %s, outside the workflow service", api)
		}
	}
}

func methodsOf(methods []grpc.MethodDesc) []string {
	names := make([]string, len(methods))
	for i, m := range methods {
		names[i] = m.MethodName
	}
	return names
}

func TestAPIStartsAndReadsButNeverTouchesTasks(t *testing.T) {
	api := claimsOf(t, "zansoc-api:api")
	for method, req := range map[string]any{
		workflowservice.WorkflowService_StartWorkflowExecution_FullMethodName:         &workflowservice.StartWorkflowExecutionRequest{Namespace: ns},
		workflowservice.WorkflowService_DescribeWorkflowExecution_FullMethodName:      &workflowservice.DescribeWorkflowExecutionRequest{Namespace: ns},
		workflowservice.WorkflowService_QueryWorkflow_FullMethodName:                  &workflowservice.QueryWorkflowRequest{Namespace: ns},
		workflowservice.WorkflowService_SignalWorkflowExecution_FullMethodName:        &workflowservice.SignalWorkflowExecutionRequest{Namespace: ns},
		workflowservice.WorkflowService_RequestCancelWorkflowExecution_FullMethodName: &workflowservice.RequestCancelWorkflowExecutionRequest{Namespace: ns},
		workflowservice.WorkflowService_ListWorkflowExecutions_FullMethodName:         &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns},
		workflowservice.WorkflowService_UpdateWorkflowExecution_FullMethodName:        &workflowservice.UpdateWorkflowExecutionRequest{Namespace: ns},
	} {
		expectAllowed(t, api, method, ns, req)
		expectDenied(t, api, method, "other", req)
	}
	for _, method := range []string{
		workflowservice.WorkflowService_PollActivityTaskQueue_FullMethodName,
		workflowservice.WorkflowService_PollWorkflowTaskQueue_FullMethodName,
		workflowservice.WorkflowService_RespondActivityTaskCompleted_FullMethodName,
		workflowservice.WorkflowService_RespondActivityTaskCompletedById_FullMethodName,
		workflowservice.WorkflowService_RespondWorkflowTaskCompleted_FullMethodName,
		workflowservice.WorkflowService_RecordActivityTaskHeartbeat_FullMethodName,
		workflowservice.WorkflowService_TerminateWorkflowExecution_FullMethodName,
		workflowservice.WorkflowService_ResetWorkflowExecution_FullMethodName,
		workflowservice.WorkflowService_GetWorkflowExecutionHistory_FullMethodName,
		workflowservice.WorkflowService_DeleteWorkflowExecution_FullMethodName,
		workflowservice.WorkflowService_CreateSchedule_FullMethodName,
		operatorservice.OperatorService_AddSearchAttributes_FullMethodName,
		adminservice.AdminService_DescribeCluster_FullMethodName,
	} {
		expectDenied(t, api, method, ns, nil)
	}
}

// Readiness: the API may see who polls the orchestrator's queue, and no other queue (a host's pollers included).
func TestAPIDescribesOnlyTheOrchestratorQueue(t *testing.T) {
	api := claimsOf(t, "zansoc-api:api")
	method := workflowservice.WorkflowService_DescribeTaskQueue_FullMethodName
	describe := func(queue string) *workflowservice.DescribeTaskQueueRequest {
		return &workflowservice.DescribeTaskQueueRequest{Namespace: ns, TaskQueue: &taskqueuepb.TaskQueue{Name: queue}}
	}
	expectAllowed(t, api, method, ns, describe("zansoc-orchestrator"))
	expectDenied(t, api, method, "other", describe("zansoc-orchestrator"))
	for _, queue := range []string{"host.h1", "zansoc-orchestrator-x", "/_sys/zansoc-orchestrator/1"} {
		expectDenied(t, api, method, ns, describe(queue))
	}
	expectDenied(t, claimsOf(t, "zansoc-host:h1"), method, ns, describe("zansoc-orchestrator"))
}

// A bound token still reads, to every part of the server, as the token history issued.
func TestBoundTokenReadsAsTheOriginal(t *testing.T) {
	raw := rawActivityToken(t, "executeSlot")
	bound := binder.bind("h1", raw)
	if err := binder.verify("h1", bound); err != nil {
		t.Fatal(err)
	}
	original, _ := tasktoken.NewSerializer().Deserialize(raw)
	read, err := tasktoken.NewSerializer().Deserialize(bound)
	if err != nil {
		t.Fatalf("the server cannot read a bound token: %v", err)
	}
	if read.GetWorkflowId() != original.GetWorkflowId() || read.GetRunId() != original.GetRunId() ||
		read.GetScheduledEventId() != original.GetScheduledEventId() || read.GetAttempt() != original.GetAttempt() ||
		read.GetActivityType() != original.GetActivityType() || read.GetStartedEventId() != original.GetStartedEventId() {
		t.Errorf("a bound token reads as %v, want %v", read, original)
	}
	reencoded, _ := tasktoken.NewSerializer().Serialize(read)
	if !bytes.HasSuffix(reencoded, bound[len(bound)-32:]) {
		t.Error("the MAC is not kept as the unknown field it is meant to be")
	}
}
