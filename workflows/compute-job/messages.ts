import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { SlotResult } from '../../domain/execution';
import type { SignedJobOrder } from '../../domain/orders';
import type { JobSpec } from '../../domain/job-spec';
import type { JobState } from '../../domain/job-state';

/** What a compute job takes, answers and accepts while it runs: its input, its status query, cancel and challenge. */

export interface ComputeJobInput {
  jobId: string;
  spec: JobSpec;
  /** The client's signed order and permit: the escrow is locked from the client's own wallet, the settler relays. */
  payment: SignedJobOrder;
  /** The chain hosts sign their results for (the EIP-712 domain of results); 31337, anvil's, when absent. */
  chainId?: number;
  /** Where hosts upload logs and output (the API's staging store). */
  stagingUrl: string;
  /** The share (0–1) of single-replica jobs re-run on a verifier host to check the result; the API's SPOT_CHECK_FRACTION. */
  spotCheckFraction?: number;
  /** The client's public key (recovered from its order's signature): hosts seal the output and logs to it. */
  recipientPublicKey?: string;
}

export interface ReplicaStatus {
  replica: number;
  /**
   * `replica` runs the job as asked; `verifier` re-runs a single-replica job as a spot check; `arbiter` re-runs it on a
   * fresh host to settle a challenge or a failed spot check.
   */
  role: 'replica' | 'verifier' | 'arbiter';
  hostId: string | null;
  state: 'QUEUED' | 'RUNNING' | 'DONE' | 'FAILED' | 'CANCELLED';
  resultDigest: string | null;
  /** What settlement assigned this slot's host before commission, in ZSC base units ('0' when it lost or failed). */
  payout: string;
  /** Stake this slot's host lost (a digest that lost the vote, or a lost dispute). */
  slashed: string;
  /** Hosts that held this slot and vanished (stopped heartbeating) before it finished. */
  lostBy: string[];
  /** Hosts that held this slot and gave a wrong digest for one of the client's test inputs: caught and slashed. */
  failedTestBy: string[];
  /**
   * Hosts that held this slot and forged its result: a commitment or reveal their key did not sign, or a reveal that
   * did not open their commitment. Slashed like a failed test.
   */
  forgedBy: string[];
  /** How long the orchestrator measured the finishing host's work (its run and its test run, each capped at the timeout): what it is paid for. */
  measuredMs: number | null;
}

export interface ChallengeStatus {
  verifierHostId: string;
  /** BONDING while its stake is locked; PENDING until arbiters decide; then UPHELD, REJECTED or UNRESOLVED. */
  state: 'BONDING' | 'PENDING' | 'UPHELD' | 'REJECTED' | 'UNRESOLVED';
  stake: string;
  at: string;
}

export interface JobStatus {
  state: JobState;
  reason: string | null;
  hostId: string | null;
  result: SlotResult | null;
  escrowed: string;
  paidToHosts: string;
  commission: string;
  refunded: string;
  /** Stake taken from hosts and challengers at settlement. */
  slashed: string;
  /** Per slot: where it ran, how it stands, what it reported, what it earned or lost. */
  replicas: ReplicaStatus[];
  /** When the challenge window closes (ISO), once the result is PROVISIONAL. */
  challengeWindowEndsAt: string | null;
  challenges: ChallengeStatus[];
  /** Every step with its time, oldest first. */
  timeline: { at: string; step: string }[];
}

export interface CancelRequest {
  reason?: string;
}

export interface ChallengeRequest {
  /** The registered host that challenges; its stake is locked on the job until the dispute is decided. */
  verifierHostId: string;
}

export interface ChallengeAccepted {
  verifierHostId: string;
  stake: string;
  challengeWindowEndsAt: string;
}

/** The job as it stands; no digest shows while a slot runs or waits to reveal its result. */
export const jobStatusQuery = defineQuery<JobStatus>('jobStatus');
/** Stops the job at any step: running containers are stopped, hosts are paid for the work done, the rest refunded. */
export const cancelSignal = defineSignal<[CancelRequest]>('cancel');
/** A registered verifier disputes the PROVISIONAL result, putting stake behind it. */
export const challengeUpdate = defineUpdate<ChallengeAccepted, [ChallengeRequest]>('challenge');
