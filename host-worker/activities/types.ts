import type { SlotExecution, SlotResult } from '../../domain/execution';
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
  executeSlot(exec: SlotExecution): Promise<SlotResult>;
}

/** A storage deal's replicas: kept sealed to the host, proven, served and forgotten (./storage.ts). */
export interface StorageHostActivities {
  storeReplica(input: StoreReplicaInput): Promise<StoreReplicaResult>;
  proveReplica(input: ProveReplicaInput): Promise<ProveReplicaResult>;
  serveReplica(input: ServeReplicaInput): Promise<ServeReplicaResult>;
  deleteReplica(input: DeleteReplicaInput): Promise<void>;
}
