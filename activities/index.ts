import type { Database } from '../db/client';
import type { ChainClient } from './chain-client';
import { createChainActivities } from './chain';
import { createDbActivities } from './db';

/** Everything the orchestrator worker runs besides workflows: the read model and the chain. */
export function createOrchestratorActivities({ db, chain, reputationWeight }: { db: Database; chain: ChainClient; reputationWeight?: number }) {
  return { ...createDbActivities({ db, reputationWeight }), ...createChainActivities({ chain }) };
}

export type OrchestratorActivities = ReturnType<typeof createOrchestratorActivities>;
