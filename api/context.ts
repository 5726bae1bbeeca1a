import type { Client } from '@temporalio/client';
import type { FastifyRequest } from 'fastify';
import type { Database } from '../db/client';
import type { StagingStore } from './staging';

/** What every procedure can use. `clientId` is the caller; signed identities replace the header in the API issue. */
export interface ApiDeps {
  db: Database;
  temporal: Client;
  staging: StagingStore;
  /** Base URL of this API as hosts reach it; the workflow hands it to hosts for uploads. */
  publicUrl: string;
  /** Share of single-replica jobs spot-checked by a verifier host. */
  spotCheckFraction?: number;
}

export interface Context extends ApiDeps {
  clientId: string;
}

const CLIENT_ID = /^[A-Za-z0-9:._-]{1,128}$/;

export function contextFor(deps: ApiDeps, req?: Pick<FastifyRequest, 'headers'>): Context {
  const header = req?.headers['x-zansoc-client'];
  const clientId = typeof header === 'string' && CLIENT_ID.test(header) ? header : 'anonymous';
  return { ...deps, clientId };
}
