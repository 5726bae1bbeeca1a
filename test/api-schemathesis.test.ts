import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Wallet } from 'ethers';
import { ORCHESTRATOR_TASK_QUEUE } from '../domain/execution';
import { CHAIN_ID, startApiServer, type ApiServer } from './support/api-server';
import { startRequestSigner } from './support/request-signer';
import { workflowBundle } from './support/workflow-bundle';
import { fakeOrchestrator } from './workflows/fakes';

/**
 * schemathesis (PyPI, a tool nobody on the project wrote) against the running API's own /openapi.json, with every
 * check it has: no 5xx, no status or body the document does not describe, signed calls enforced. Once unsigned and once
 * with every request signed (test/support/schemathesis_signing.py). scripts/setup installs it.
 */
/** Examples per operation and phase: enough to reach every operation's refusals, small enough for CI (minutes). */
const MAX_EXAMPLES = '5';

/** The `st` that scripts/setup installed (or $SCHEMATHESIS); the reason when there is none. */
function findSchemathesis(): { st: string } | { missing: string } {
  const found = spawnSync(join(__dirname, '..', 'scripts', 'install-schemathesis'), ['--installed'], { encoding: 'utf8' });
  return found.status === 0 ? { st: found.stdout.trim() } : { missing: found.stderr.trim() };
}

/** Runs `st run` to its end (asynchronously: the signer in this process answers it meanwhile). */
function runSchemathesis(st: string, url: string, env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const args = [
    '--no-color', '--config-file', join(__dirname, 'support', 'schemathesis.toml'), 'run', `${url}/openapi.json`, '--url', `${url}/api`, '--checks', 'all',
    '--max-examples', MAX_EXAMPLES, '--seed', '11', '--workers', '1', '--request-timeout', '30',
  ];
  // In a directory of its own: schemathesis keeps a cache of past failures in its working directory, replayed first.
  const cwd = mkdtempSync(join(tmpdir(), 'zansoc-schemathesis-'));
  return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(st, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  }).finally(() => rmSync(cwd, { recursive: true, force: true }));
}

describe('API under schemathesis', () => {
  let server: ApiServer;
  let st: string;
  let connection: NativeConnection;
  let worker: Worker;
  let working: Promise<void>;

  beforeAll(async () => {
    const found = findSchemathesis();
    if ('missing' in found) throw new Error(found.missing);
    st = found.st;
    server = await startApiServer({ rateLimitPerMinute: 1_000_000 });
    // The real workflows answer the live-status queries of what schemathesis submits; with no host online, its jobs
    // and deals wait, and nothing reaches a chain.
    connection = await NativeConnection.connect({ address: server.temporalAddress });
    worker = await Worker.create({
      connection, taskQueue: ORCHESTRATOR_TASK_QUEUE, ...workflowBundle(), activities: fakeOrchestrator({ listOnlineHosts: async () => [] }),
    });
    working = worker.run();
  }, 120_000);

  afterAll(async () => {
    worker?.shutdown();
    await working;
    await connection?.close();
    await server?.stop();
  });

  it('finds nothing wrong with unsigned calls', async () => {
    const { code, output } = await runSchemathesis(st, server.url);
    if (code !== 0) throw new Error(`schemathesis found problems (exit ${code}):\n${output}`);
    // Every operation of the document was tested, the staging store's among them.
    const doc = await (await fetch(`${server.url}/openapi.json`)).json() as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths)).toContain('/blobs/{sha256}');
    const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).filter((k) => ['get', 'put', 'post', 'delete', 'patch'].includes(k)).length, 0);
    expect(output).toContain(`Tested: ${operations}`);
  }, 600_000);

  it('finds nothing wrong with every call signed', async () => {
    const signer = await startRequestSigner(new Wallet(Wallet.createRandom().privateKey), CHAIN_ID);
    try {
      const { code, output } = await runSchemathesis(st, server.url, {
        SCHEMATHESIS_HOOKS: join(__dirname, 'support', 'schemathesis_signing.py'),
        ZANSOC_SIGNER_URL: signer.url,
      });
      if (code !== 0) throw new Error(`schemathesis found problems (exit ${code}):\n${output}`);
      // Signed calls got through: no operation answered only 401.
      expect(output).not.toContain('Authentication failed');
    } finally {
      await signer.stop();
    }
  }, 600_000);
});
