import type { SlotExecution, SlotResult } from '../../domain/execution';
import type { SignedBondConsent } from '../../domain/orders';
import type { RevealRequest, SignedCommitment, SlotReveal } from '../../domain/sealed-result';
import type {
  DeleteReplicaInput,
  ProveReplicaInput,
  ProveReplicaResult,
  ServeReplicaInput,
  ServeReplicaResult,
  StoreReplicaInput,
  StoreReplicaResult,
} from '../../domain/replica';

/*
 * What the host process runs for the workflows, on its own queue `host.<id>`. Workflows `import type` these and call
 * them through proxyActivities, so no host code (dockerode, the file system) ever lands in the workflow bundle.
 */

/** A job's slots: run in the host's sandbox (./compute.ts). */
export interface HostActivities {
  /** Runs the slot and answers its result in the clear (runs from before sealed results). */
  executeSlot(exec: SlotExecution): Promise<SlotResult>;
  /**
   * Runs the slot like executeSlot but answers only a signed commitment to its digest; the host keeps the result and
   * the salt until the workflow asks for them, once every replica of the round has committed.
   */
  commitSlot(exec: SlotExecution): Promise<SignedCommitment>;
  /** Opens a commitment: the result, the salt, and the host's signature of both. */
  revealSlot(request: RevealRequest): Promise<SlotReveal>;
}

/** A storage deal's replicas: kept sealed to the host, proven, served and forgotten (./storage.ts). */
export interface StorageHostActivities {
  storeReplica(input: StoreReplicaInput): Promise<StoreReplicaResult>;
  proveReplica(input: ProveReplicaInput): Promise<ProveReplicaResult>;
  serveReplica(input: ServeReplicaInput): Promise<ServeReplicaResult>;
  deleteReplica(input: DeleteReplicaInput): Promise<void>;
}

/** What a workflow asks a host to consent to before bonding its stake: one job's or deal term's escrow, one amount. */
export interface BondConsentRequest {
  escrow: 'job' | 'storage';
  /** The client whose job or deal it is. */
  client: string;
  /** The job's id, or the deal term's key (the deal's id, or `<dealId>/term-<n>`). */
  id: string;
  /** ZSC base units, decimal string. */
  amount: string;
}

/** The host's signature of its consent to a bond (./consent.ts): without it, no escrow locks its stake. */
export interface ConsentActivities {
  consentToBond(request: BondConsentRequest): Promise<SignedBondConsent>;
}
