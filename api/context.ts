import type { Client } from '@temporalio/client';
import type { FastifyRequest } from 'fastify';
import type { Database } from '../db/client';
import type { ApiMetrics } from '../metrics/registry';
import type { HostCertificates } from './host-certificates';
import type { StagingStore } from './staging';
import type { WalletService } from './wallet';

/** What every procedure can use. */
export interface ApiDeps {
  db: Database;
  temporal: Client;
  staging: StagingStore;
  /** Base URL of this API as hosts reach it; the workflow hands it to hosts for uploads. */
  publicUrl: string;
  /** The chain identities live on: signatures are bound to it, and dids name it. */
  chainId: number;
  /** Share of single-replica jobs spot-checked by a verifier host. */
  spotCheckFraction?: number;
  /** The orchestrator's address (the deployment's settler): it may read deals' staged chunks and restage them. */
  orchestratorAddress?: string;
  /** ZSC balances, and a faucet on a devnet; absent when the API has no chain. */
  wallet?: WalletService;
  /** The host CA, when the network's Temporal takes mTLS: hosts get their client certificates from it at join. */
  hostCertificates?: HostCertificates;
  /** Where the API counts what it does (served at /metrics). */
  metrics?: ApiMetrics;
}

/** The caller of a signed procedure: its address and did:ethr. */
export interface Caller {
  address: string;
  did: string;
}

export interface Context extends ApiDeps {
  headers: FastifyRequest['headers'];
}

export function contextFor(deps: ApiDeps, req?: Pick<FastifyRequest, 'headers'>): Context {
  return { ...deps, headers: req?.headers ?? {} };
}
