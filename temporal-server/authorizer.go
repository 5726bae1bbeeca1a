package main

import (
	"context"
	"fmt"
	"slices"

	workflowservice "go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/tasktoken"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// The authorizer. Admins (the orchestrator, the system worker, operators: system admin in their claims) may call
// anything. The API and hosts may call only what their table below names, each call checked by its rule; every
// other call, service and namespace is denied, so an API the tables forget is closed, not open. A call with no
// claims (no verified certificate) is denied.
//
// The tables are the whole policy: read them to know what a host can do on Temporal.

// rule allows one call of one caller, or says why not.
type rule func(a *zansocAuthorizer, who caller, target *authorization.CallTarget) error

// hostRules: a host's machine is a stranger's. It may run its own worker, on its own queue, and nothing else.
var hostRules = map[string]rule{
	// The SDK's connection asks the server's capabilities before anything else; it says nothing about workflows.
	workflowservice.WorkflowService_GetSystemInfo_FullMethodName: anyone,
	// Load balancers and the SDK probe the frontend's health.
	healthpb.Health_Check_FullMethodName: anyone,
	// The worker checks its namespace exists when it starts (namespace settings, no workflow data).
	workflowservice.WorkflowService_DescribeNamespace_FullMethodName: inOwnNamespace,
	// The one queue a host polls: its own host.<hostId>, exactly (not another host's, not a partition of one, not
	// zansoc-orchestrator). Workflow tasks (PollWorkflowTaskQueue) and Nexus tasks are not in this table.
	workflowservice.WorkflowService_PollActivityTaskQueue_FullMethodName: pollsOwnQueue,
	// Answers to a task the host polled: the token must be one handed to this host (tasktoken.go), and the activity
	// it names one host workers run.
	workflowservice.WorkflowService_RespondActivityTaskCompleted_FullMethodName: answersHostActivity,
	workflowservice.WorkflowService_RespondActivityTaskFailed_FullMethodName:    answersHostActivity,
	workflowservice.WorkflowService_RespondActivityTaskCanceled_FullMethodName:  answersHostActivity,
	// Progress of a running slot, the same check; the *ById variants (by workflow and activity id, no token) are
	// not in this table.
	workflowservice.WorkflowService_RecordActivityTaskHeartbeat_FullMethodName: answersHostActivity,
	// The worker says goodbye when it drains. A sticky queue would be a workflow worker's, which a host is not.
	workflowservice.WorkflowService_ShutdownWorker_FullMethodName: shutsDownActivityWorker,
}

// apiRules: the API starts a client's job or deal, reads its state and forwards the client's signals, updates and
// cancellation. It never polls or answers tasks, never terminates or resets, never reads histories.
var apiRules = map[string]rule{
	workflowservice.WorkflowService_GetSystemInfo_FullMethodName: anyone,
	healthpb.Health_Check_FullMethodName:                         anyone,
	// Its client checks the namespace.
	workflowservice.WorkflowService_DescribeNamespace_FullMethodName: inOwnNamespace,
	// A submitted job, deal or lease starts its workflow.
	workflowservice.WorkflowService_StartWorkflowExecution_FullMethodName:           inOwnNamespace,
	workflowservice.WorkflowService_SignalWithStartWorkflowExecution_FullMethodName: inOwnNamespace,
	// Status and listings for clients.
	workflowservice.WorkflowService_DescribeWorkflowExecution_FullMethodName: inOwnNamespace,
	workflowservice.WorkflowService_QueryWorkflow_FullMethodName:             inOwnNamespace,
	workflowservice.WorkflowService_ListWorkflowExecutions_FullMethodName:    inOwnNamespace,
	workflowservice.WorkflowService_CountWorkflowExecutions_FullMethodName:   inOwnNamespace,
	// A client's signals (renew, close) and cancellation.
	workflowservice.WorkflowService_SignalWorkflowExecution_FullMethodName:        inOwnNamespace,
	workflowservice.WorkflowService_RequestCancelWorkflowExecution_FullMethodName: inOwnNamespace,
	// Updates with an answer (a challenge accepted or refused); the poll waits for an update's outcome.
	workflowservice.WorkflowService_UpdateWorkflowExecution_FullMethodName:     inOwnNamespace,
	workflowservice.WorkflowService_PollWorkflowExecutionUpdate_FullMethodName: inOwnNamespace,
	// Readiness (/readyz): whether an orchestrator worker polls its queue; no other queue.
	workflowservice.WorkflowService_DescribeTaskQueue_FullMethodName: describesOrchestratorQueue,
}

// orchestratorTaskQueue is domain/execution.ts's ORCHESTRATOR_TASK_QUEUE.
const orchestratorTaskQueue = "zansoc-orchestrator"

// hostActivityTypes are the activities host workers register (host-worker/activities): the only ones a host may
// answer. A chain, database or settlement activity is the orchestrator's, whichever queue it sits on.
var hostActivityTypes = []string{
	"executeSlot",   // a job's slot in the sandbox (compute.ts), as runs before sealed results call it
	"commitSlot",    // a slot run in the sandbox, answered with a signed commitment to its result (compute.ts)
	"revealSlot",    // the result and salt behind a commitment, once the round has committed
	"storeReplica",  // a storage deal's replica (storage.ts)
	"proveReplica",  //
	"serveReplica",  //
	"deleteReplica", //
	"consentToBond", // the host's signed consent to a bond (consent.ts)
}

func anyone(*zansocAuthorizer, caller, *authorization.CallTarget) error { return nil }

func inOwnNamespace(a *zansocAuthorizer, _ caller, target *authorization.CallTarget) error {
	if target.Namespace != a.namespace {
		return fmt.Errorf("namespace %q is not %q", target.Namespace, a.namespace)
	}
	return nil
}

func hostTaskQueue(hostID string) string { return "host." + hostID }

func pollsOwnQueue(a *zansocAuthorizer, who caller, target *authorization.CallTarget) error {
	if err := inOwnNamespace(a, who, target); err != nil {
		return err
	}
	req, ok := target.Request.(*workflowservice.PollActivityTaskQueueRequest)
	if !ok {
		return fmt.Errorf("unexpected request %T", target.Request)
	}
	if queue := req.GetTaskQueue().GetName(); queue != hostTaskQueue(who.name) {
		return fmt.Errorf("task queue %q is not its own %q", queue, hostTaskQueue(who.name))
	}
	return nil
}

// taskTokenRequest is every request that answers an activity task by its token.
type taskTokenRequest interface{ GetTaskToken() []byte }

func answersHostActivity(a *zansocAuthorizer, who caller, target *authorization.CallTarget) error {
	if err := inOwnNamespace(a, who, target); err != nil {
		return err
	}
	req, ok := target.Request.(taskTokenRequest)
	if !ok {
		return fmt.Errorf("unexpected request %T", target.Request)
	}
	if err := a.tokens.verify(who.name, req.GetTaskToken()); err != nil {
		return err
	}
	token, err := tasktoken.NewSerializer().Deserialize(req.GetTaskToken())
	if err != nil {
		return fmt.Errorf("unreadable task token")
	}
	// A token without a scheduled event id makes history look the activity up by its id (and complete it even if no
	// one ever started it), and one without a run id picks the current run: a poll never hands out either.
	if token.GetScheduledEventId() == 0 || token.GetRunId() == "" {
		return fmt.Errorf("the task token is not one a poll hands out")
	}
	if !slices.Contains(hostActivityTypes, token.GetActivityType()) {
		return fmt.Errorf("activity type %q is not a host's", token.GetActivityType())
	}
	return nil
}

func describesOrchestratorQueue(a *zansocAuthorizer, who caller, target *authorization.CallTarget) error {
	if err := inOwnNamespace(a, who, target); err != nil {
		return err
	}
	req, ok := target.Request.(*workflowservice.DescribeTaskQueueRequest)
	if !ok {
		return fmt.Errorf("unexpected request %T", target.Request)
	}
	if queue := req.GetTaskQueue().GetName(); queue != orchestratorTaskQueue {
		return fmt.Errorf("task queue %q is not the orchestrator's", queue)
	}
	return nil
}

func shutsDownActivityWorker(a *zansocAuthorizer, who caller, target *authorization.CallTarget) error {
	if err := inOwnNamespace(a, who, target); err != nil {
		return err
	}
	req, ok := target.Request.(*workflowservice.ShutdownWorkerRequest)
	if !ok {
		return fmt.Errorf("unexpected request %T", target.Request)
	}
	if req.GetStickyTaskQueue() != "" {
		return fmt.Errorf("a host has no sticky queue to shut down")
	}
	return nil
}

type zansocAuthorizer struct {
	// namespace is the one namespace the API and hosts work in.
	namespace string
	tokens    taskTokenBinder
	logger    log.Logger
}

func newZansocAuthorizer(namespace string, tokens taskTokenBinder, logger log.Logger) authorization.Authorizer {
	return &zansocAuthorizer{namespace: namespace, tokens: tokens, logger: logger}
}

var allow = authorization.Result{Decision: authorization.DecisionAllow}

func (a *zansocAuthorizer) Authorize(_ context.Context, claims *authorization.Claims, target *authorization.CallTarget) (authorization.Result, error) {
	if claims == nil {
		return a.deny("nobody", target, fmt.Errorf("no verified client certificate")), nil
	}
	if claims.System&authorization.RoleAdmin != 0 {
		return allow, nil
	}
	who, ok := claims.Extensions.(caller)
	if !ok {
		return a.deny(claims.Subject, target, fmt.Errorf("no Zansoc identity")), nil
	}
	var rules map[string]rule
	switch who.kind {
	case kindHost:
		rules = hostRules
	case kindAPI:
		rules = apiRules
	default:
		return a.deny(who.String(), target, fmt.Errorf("no rules for %s", who.kind)), nil
	}
	check, listed := rules[target.APIName]
	if !listed {
		return a.deny(who.String(), target, fmt.Errorf("not an API a %s may call", who.kind)), nil
	}
	if err := check(a, who, target); err != nil {
		return a.deny(who.String(), target, err), nil
	}
	return allow, nil
}

// deny logs the refusal (an operator's view of who tried what) and tells the caller why.
func (a *zansocAuthorizer) deny(who string, target *authorization.CallTarget, why error) authorization.Result {
	a.logger.Warn("Zansoc authorizer denied a call", tag.NewStringTag("caller", who),
		tag.NewStringTag("api", target.APIName), tag.WorkflowNamespace(target.Namespace), tag.Error(why))
	return authorization.Result{Decision: authorization.DecisionDeny, Reason: fmt.Sprintf("%s may not call %s: %s", who, target.APIName, why)}
}
