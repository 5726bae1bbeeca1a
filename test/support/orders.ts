import { signDealQuote, signJobQuote } from '../../api/order-signing';
import type { RequestSigner } from '../../api/signing';
import type { JobSpecInput } from '../../domain/job-spec';
import type { StorageDealSpecInput } from '../../domain/storage';
import type { AppCaller } from './api-server';

/**
 * What a client does before it submits, done by hand as createApiClient does it over HTTP: ask for a quote, check it
 * against the spec and sign its order (and permit) with the client's own key.
 */

type Submit = Parameters<AppCaller['jobs']['submit']>[0];
type Create = Parameters<AppCaller['storage']['create']>[0];

/** jobs.submit's whole input for `spec`, quoted by the API and signed by `signer`. */
export async function signedJobInput(caller: AppCaller, signer: RequestSigner, spec: JobSpecInput, extra: Partial<Submit> = {}): Promise<Submit> {
  const { jobId, quote } = await caller.jobs.quote({ spec });
  return { spec, jobId, ...(await signJobQuote(signer, spec, quote)), ...extra };
}

/** Submits `spec` as `signer`, with the order the API quoted for it; `extra` adds (or overrides) input fields. */
export async function submitJobAs(caller: AppCaller, signer: RequestSigner, spec: JobSpecInput, extra: Partial<Submit> = {}) {
  return caller.jobs.submit(await signedJobInput(caller, signer, spec, extra));
}

/** storage.create's whole input for `spec`, quoted by the API and signed by `signer`. */
export async function signedDealInput(caller: AppCaller, signer: RequestSigner, spec: StorageDealSpecInput, extra: Partial<Create> = {}): Promise<Create> {
  const { dealId, quote } = await caller.storage.quote({ spec });
  return { spec, dealId, ...(await signDealQuote(signer, spec, quote)), ...extra };
}

/** Asks for a deal over `spec` as `signer`, with the order the API quoted for it. */
export async function createDealAs(caller: AppCaller, signer: RequestSigner, spec: StorageDealSpecInput, extra: Partial<Create> = {}) {
  return caller.storage.create(await signedDealInput(caller, signer, spec, extra));
}
