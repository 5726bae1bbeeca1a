import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { unmountSlotDisksUnder } from '../../host-worker/slot-disk';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { connectHostRegistry, connectJobEscrow, connectZansocToken } from '../../contracts/bindings';
import { createProvider } from '../../contracts/provider';
import type { Database } from '../../db/client';
import { jobEscrowId } from '../../domain/orders';
import type { Devnet } from '../../scripts/devnet';

/** After a failed test, prints the roles' last lines: what the processes saw. */
export function printRolesOnFailure(lines: string[], count = 120): void {
  afterEach(() => {
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts) console.log(lines.slice(-count).join('\n'));
  });
}

/** Stops what a devnet test file started, whichever parts of it did start. */
export async function tearDownDevnet(parts: { temporal?: Client; db?: Database; devnet?: Devnet; dir?: string }): Promise<void> {
  await parts.temporal?.connection.close();
  await parts.db?.$disconnect();
  await parts.devnet?.stop();
  if (parts.dir) {
    // A host killed mid-slot leaves its slot disk mounted in the devnet's folder.
    await unmountSlotDisksUnder(parts.dir);
    rmSync(parts.dir, { recursive: true, force: true });
  }
}

/**
 * Keeps a devnet run's workflow history for the replay tests (test/workflows): written to test/histories/<name>.json
 * when missing or when RECORD_HISTORIES=1, so a change that breaks replaying real runs fails there.
 */
export async function keepHistory(devnet: Devnet, workflowId: string, name: string): Promise<void> {
  const file = join(__dirname, '../histories', `${name}.json`);
  if (process.env.RECORD_HISTORIES !== '1' && existsSync(file)) return;
  const connection = await Connection.connect({ address: devnet.temporalAddress, tls: devnet.temporalTls });
  try {
    writeFileSync(file, historyToJSON(await new Client({ connection }).workflow.getHandle(workflowId).fetchHistory()));
  } finally {
    await connection.close();
  }
}

/** What tests read from the devnet's chain: ZSC balances and hosts' stakes (staked, and locked in bonds). */
export function chainReader(devnet: Devnet) {
  const provider = createProvider(devnet.rpcUrl);
  return {
    balanceOf: async (address: string): Promise<bigint> => connectZansocToken(devnet.deployment.token, provider).balanceOf(address),
    stakeOf: async (address: string): Promise<{ staked: bigint; locked: bigint }> => {
      const [, staked, locked] = await connectHostRegistry(devnet.deployment.hostRegistry, provider).hostOf(address);
      return { staked, locked };
    },
  };
}

/** GETs a devnet's /readyz until it answers `status` (200 or 503), and returns the problems it names. */
export async function untilReadiness(apiUrl: string, status: 200 | 503, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last: string;
    const res = await fetch(`${apiUrl}/readyz`).catch((err: Error) => err);
    if (!(res instanceof Error)) {
      const { problems } = (await res.json()) as { problems: string[] };
      if (res.status === status) return problems;
      last = `${res.status} ${problems.join('; ')}`;
    } else last = res.message;
    if (Date.now() > deadline) throw new Error(`/readyz did not answer ${status} within ${timeoutMs / 1000}s (last: ${last})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Waits until a role (or the devnet) has printed a line matching `pattern` after line `after`, and returns it. */
export async function untilLine(lines: string[], pattern: RegExp, timeoutMs: number, after = -1): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = lines.slice(after + 1).find((l) => pattern.test(l));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no line matched ${pattern} within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** How many JobSettled events the chain holds for `client`'s job: exactly one when its money moved once. */
export async function settlementsOf(devnet: Devnet, client: string, jobId: string): Promise<number> {
  const provider = createProvider(devnet.rpcUrl);
  try {
    const escrow = connectJobEscrow(devnet.deployment.jobEscrow, provider);
    return (await escrow.queryFilter(escrow.filters.JobSettled(jobEscrowId(client, jobId)))).length;
  } finally {
    provider.destroy();
  }
}

/** Polls the API until the job is in `state`, for up to `timeoutMs`. */
export async function untilJobState(devnet: Devnet, jobId: string, state: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await devnet.api.jobs.get.query({ jobId })).state !== state) {
    if (Date.now() > deadline) throw new Error(`job ${jobId} never reached ${state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
