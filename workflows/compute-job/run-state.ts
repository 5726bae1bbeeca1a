import { CancellationScope, patched, upsertSearchAttributes } from '@temporalio/workflow';
import type { OrchestratorActivities } from '../../activities';
import type { SignedJobOrder } from '../../domain/orders';
import type { JobSpec } from '../../domain/job-spec';
import { isFinalJobState, type JobState } from '../../domain/job-state';
import { HOST_IDS, JOB_STATE } from '../../domain/search-attributes';
import { localReadModel, readModel } from '../presets';
import { watchCapacity, type CapacityWatch } from '../common';
import type { CancelRequest, ComputeJobInput, JobStatus } from './messages';
import type { Slot } from './slot-state';

const ANVIL_CHAIN_ID = 31337;

type JobRecord = Partial<Parameters<OrchestratorActivities['recordJob']>[0]>;

/** Everything one run of a compute job knows: its status for clients, its slots, and who is already involved. */
export class JobRun {
  readonly jobId: string;
  /** Who pays: the client that signed the order (with the job id, it names the escrow on chain). */
  readonly client: string;
  readonly payment: SignedJobOrder;
  readonly spec: JobSpec;
  readonly stagingUrl: string;
  readonly spotCheckFraction: number;
  readonly recipientPublicKey: string | undefined;
  readonly status: JobStatus = {
    state: 'QUEUED', reason: null, hostId: null, result: null, escrowed: '0', paidToHosts: '0', commission: '0', refunded: '0',
    slashed: '0', replicas: [], challengeWindowEndsAt: null, challenges: [], timeline: [],
  };
  readonly slots: Slot[] = [];
  /** Every host that has held a slot of this job, or challenged it: slots always run on distinct, uninvolved hosts. */
  readonly used: string[] = [];
  /** Operators of the hosts that held a slot: replicas go to distinct operators too. */
  readonly usedOperators: string[] = [];
  /** Who disputes the result: challengers, and a spot check's verifier that disagreed. Host id → address. */
  readonly accusers = new Map<string, string>();
  /** Everything from matching to the end of the challenge window runs here, so that a cancel stops it. */
  readonly work = new CancellationScope();
  cancelReason: string | null = null;
  /** When the challenge window closes (workflow time), once the result is PROVISIONAL. */
  windowEndsAtMs: number | null = null;
  windowClosed = false;
  /** Challenges whose stake is being locked: the window's end waits for them. */
  bonding = 0;
  /** The chain of the EIP-712 domain hosts sign their results in. */
  readonly chainId: number;
  /**
   * Results are sealed: hosts commit to a signed digest, reveal it once the round has committed, run under opaque
   * execution ids, and are paid for the time the workflow measured. Runs from before ran in the clear.
   */
  readonly sealed: boolean;
  /** Verifiers and arbiters are drawn by stake rather than taken cheapest first. */
  readonly drawsCheckers: boolean;
  private readonly searchable: boolean;
  /** Wake-ups from the API while a slot waits for a host. */
  readonly capacity: CapacityWatch;

  constructor({ jobId, spec, payment, stagingUrl, spotCheckFraction = 0, chainId = ANVIL_CHAIN_ID, recipientPublicKey }: ComputeJobInput) {
    this.recipientPublicKey = recipientPublicKey;
    this.jobId = jobId;
    this.payment = payment;
    // Runs from before clients signed their orders had a custodial payer, which no escrow names any more.
    this.client = payment?.order.client ?? '';
    this.stagingUrl = stagingUrl;
    this.spotCheckFraction = spotCheckFraction;
    // Specs from before a field existed get its default.
    this.spec = {
      ...spec,
      replicas: spec.replicas ?? 1,
      queueTimeoutSeconds: spec.queueTimeoutSeconds ?? 600,
      challengeWindowSeconds: spec.challengeWindowSeconds ?? 0,
      inputs: spec.inputs ?? {},
      tests: spec.tests ?? [],
    };
    this.searchable = patched('search-attributes');
    this.capacity = watchCapacity();
    this.chainId = chainId;
    this.sealed = patched('sealed-results');
    this.drawsCheckers = patched('draw-checkers-by-stake');
  }

  /** The status as queries show it: while a slot runs or waits to reveal, no digest or result shows, so none can be copied. */
  visibleStatus(): JobStatus {
    if (!this.slots.some((s) => s.sealed !== null || s.status.state === 'RUNNING')) return this.status;
    return { ...this.status, result: null, replicas: this.status.replicas.map((r) => ({ ...r, resultDigest: null })) };
  }

  note(step: string): void {
    this.status.timeline.push({ at: new Date().toISOString(), step });
  }

  /** Moves the job to `state` for clients, the Temporal UI's search and the read model. */
  async moveTo(state: JobState, reason: string | null, extra: JobRecord = {}): Promise<void> {
    if (state !== this.status.state) this.note(`${state}${reason ? `: ${reason}` : ''}`);
    this.status.state = state;
    this.status.reason = reason;
    if (this.searchable) upsertSearchAttributes([{ key: JOB_STATE, value: state }]);
    // Runs from before wrote the row through an activity task.
    const writer = patched('record-job-locally') ? localReadModel : readModel;
    await writer.recordJob({ jobId: this.jobId, state, stateReason: reason, ...extra });
  }

  /** Makes the hosts that have held a slot searchable in the Temporal UI. */
  showHosts(): void {
    if (this.searchable) upsertSearchAttributes([{ key: HOST_IDS, value: [...new Set(this.slots.flatMap((s) => (s.host ? [s.host.id] : [])))] }]);
  }

  replicas(): Slot[] {
    return this.slots.filter((s) => s.status.role === 'replica');
  }

  /** A client's cancel: stops the work, once, unless settlement has begun. */
  requestCancel({ reason }: CancelRequest = {}): void {
    if (this.cancelReason !== null || this.status.state === 'SETTLING' || isFinalJobState(this.status.state)) return;
    this.cancelReason = reason?.trim() ? reason.trim().slice(0, 500) : 'cancelled by the client';
    this.note(`cancel requested: ${this.cancelReason}`);
    this.work.cancel();
  }

  /** The work was cancelled without a client's signal: through Temporal (its UI, `temporal workflow cancel`). */
  cancelledThroughTemporal(): void {
    if (this.cancelReason !== null) return;
    this.cancelReason = 'cancelled through Temporal';
    this.note(`cancel requested: ${this.cancelReason}`);
  }
}
