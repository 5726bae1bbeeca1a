import type { Database } from '../db/client';
import type { OrchestratorMetrics } from '../metrics/registry';
import type { ChainClient } from './chain/client';
import { createChainActivities } from './chain';
import { createDbActivities } from './db';
import { createStorageActivities } from './storage';

/** Everything the orchestrator worker runs besides workflows: the read model, the chain, and checks of replicas. */
export function createOrchestratorActivities({ db, chain, reputationWeight, metrics }: {
  db: Database; chain: ChainClient; reputationWeight?: number; metrics?: OrchestratorMetrics;
}) {
  return { ...createDbActivities({ db, reputationWeight, metrics }), ...createChainActivities({ chain }), ...createStorageActivities() };
}

export type OrchestratorActivities = ReturnType<typeof createOrchestratorActivities>;
