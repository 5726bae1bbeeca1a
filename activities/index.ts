import type { Database } from '../db/client';
import type { OrchestratorMetrics } from '../metrics/registry';
import type { ChainClient } from './chain/client';
import { createChainActivities } from './chain';
import { createDbActivities } from './db';
import { createStorageActivities } from './storage';
import type { StagingAuth } from '../runtime/staging-client';

/** Everything the orchestrator worker runs besides workflows: the read model, the chain, and checks of replicas. */
export function createOrchestratorActivities({ db, chain, reputationWeight, metrics, staging }: {
  db: Database; chain: ChainClient; reputationWeight?: number; metrics?: OrchestratorMetrics;
  /** The orchestrator's key for the staging store (the settler's): it reads and restages deals' chunks. */
  staging?: StagingAuth;
}) {
  return { ...createDbActivities({ db, reputationWeight, metrics }), ...createChainActivities({ chain }), ...createStorageActivities({ staging }) };
}

export type OrchestratorActivities = ReturnType<typeof createOrchestratorActivities>;
