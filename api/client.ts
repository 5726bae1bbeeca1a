import { createTRPCClient, httpLink } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { signDealQuote, signJobQuote, type BeforeSigning } from './order-signing';
import type { AppRouter } from './routers';
import { signRequest, type RequestSigner } from './signing';
import { openSealed } from '../runtime/sealed-box';

export interface ApiClientOptions {
  /** The caller's key: every call is signed with it (EIP-712), and so are its orders. Without one, only public calls work. */
  signer?: RequestSigner;
  /** The chain signatures are bound to (the API's CHAIN_ID). */
  chainId?: number;
  /** Told what each order locks before it is signed, e.g. to show it; throwing stops the call. */
  beforeSigning?: BeforeSigning;
  /**
   * The private key (0x-hex) that opens what hosts sealed to the caller (job logs, output archives); by default the
   * signer's own when it is an ethers Wallet. Without one, `jobs.logs` answers the sealed logs as `sealedLogs`.
   */
  decryptionKey?: string;
}

type Inputs = inferRouterInputs<AppRouter>;
type Outputs = inferRouterOutputs<AppRouter>;
type Trpc = ReturnType<typeof createTRPCClient<AppRouter>>;
type OrderFields = 'order' | 'signature' | 'permit';

/** A job to submit: with its signed order, or without, and the client quotes and signs it with the caller's key. */
export type JobSubmission = Inputs['jobs']['submit'] | Omit<Inputs['jobs']['submit'], OrderFields | 'jobId'>;
export type DealRequest = Inputs['storage']['create'] | Omit<Inputs['storage']['create'], OrderFields | 'dealId'>;
export type DealRenewal = Inputs['storage']['renew'] | Omit<Inputs['storage']['renew'], OrderFields>;

/**
 * The typed client for the Zansoc API, for the CLI, host workers and any TypeScript user. Submitting a job, asking
 * for a deal or renewing one without an order asks the API for a quote, checks it against the spec, and signs the
 * order (and, when the allowance is short, a permit) with the caller's own key: the client pays from its own wallet.
 */
export type ApiClient = Omit<Trpc, 'jobs' | 'storage'> & {
  jobs: Omit<Trpc['jobs'], 'submit' | 'logs'> & {
    submit: { mutate(input: JobSubmission): Promise<Outputs['jobs']['submit']> };
    /** The job's logs, opened on this side with the caller's key when the host sealed them. */
    logs: { query(input: Inputs['jobs']['logs']): Promise<Outputs['jobs']['logs']> };
  };
  storage: Omit<Trpc['storage'], 'create' | 'renew'> & {
    create: { mutate(input: DealRequest): Promise<Outputs['storage']['create']> };
    renew: { mutate(input: DealRenewal): Promise<Outputs['storage']['renew']> };
  };
};

export function createApiClient(apiUrl: string, opts: ApiClientOptions = {}): ApiClient {
  const { signer, chainId = 31337, beforeSigning } = opts;
  const decryptionKey = opts.decryptionKey ?? (signer as { privateKey?: unknown } | undefined)?.privateKey;
  const trpc = createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${apiUrl.replace(/\/$/, '')}/trpc`,
        headers: async ({ op }) => (signer ? signRequest(signer, chainId, op.path, op.input) : {}),
      }),
    ],
  });
  const needSigner = (what: string): RequestSigner => {
    if (!signer) throw new Error(`${what} needs the caller's key to sign its order: pass a signer to createApiClient`);
    return signer;
  };

  const submit = async (input: JobSubmission) => {
    if ('order' in input) return trpc.jobs.submit.mutate(input);
    const { jobId, quote } = await trpc.jobs.quote.mutate({ spec: input.spec });
    const signed = await signJobQuote(needSigner('submitting a job'), input.spec, quote, beforeSigning);
    return trpc.jobs.submit.mutate({ ...input, jobId, ...signed });
  };
  const create = async (input: DealRequest) => {
    if ('order' in input) return trpc.storage.create.mutate(input);
    const { dealId, quote } = await trpc.storage.quote.mutate({ spec: input.spec });
    const signed = await signDealQuote(needSigner('asking for a deal'), input.spec, quote, { before: beforeSigning });
    return trpc.storage.create.mutate({ ...input, dealId, ...signed });
  };
  const renew = async (input: DealRenewal) => {
    if ('order' in input) return trpc.storage.renew.mutate(input);
    const [{ quote }, deal] = await Promise.all([trpc.storage.renewQuote.mutate(input), trpc.storage.get.query({ dealId: input.dealId })]);
    const signed = await signDealQuote(needSigner('renewing a deal'), deal.spec, quote, { durationSeconds: input.durationSeconds, before: beforeSigning });
    return trpc.storage.renew.mutate({ ...input, ...signed });
  };

  // The API cannot read sealed logs: they are opened here, with the caller's key, and never leave this process opened.
  const logs = async (input: Inputs['jobs']['logs']) => {
    const answer = await trpc.jobs.logs.query(input);
    if (!answer.sealedLogs || typeof decryptionKey !== 'string') return answer;
    return { ...answer, logs: openSealed(decryptionKey, Buffer.from(answer.sealedLogs, 'base64')).toString('utf8'), sealedLogs: null };
  };

  const overrides: Record<string, Record<string, unknown>> = {
    jobs: { submit: { mutate: submit }, logs: { query: logs } },
    storage: { create: { mutate: create }, renew: { mutate: renew } },
  };
  // The tRPC client is a proxy of proxies: only the procedures above are replaced, every other path is its own.
  return new Proxy(trpc, {
    get(target, area: string) {
      const own = (target as unknown as Record<string, object>)[area];
      const replaced = overrides[area];
      if (!replaced) return own;
      return new Proxy(own, { get: (router, procedure: string) => replaced[procedure] ?? (router as Record<string, unknown>)[procedure] });
    },
  }) as unknown as ApiClient;
}
