import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { JsonRpcProvider, NonceManager, Wallet, parseUnits } from 'ethers';
import { parse } from 'yaml';
import { createApiClient } from '../api/client';
import { connectZansocToken } from '../contracts/bindings';
import { deploymentSchema } from '../contracts/deployment';
import { loadOrCreateHostKey } from '../host-worker/identity';
import { connectDocker } from '../runtime/docker';
import { buildJobImages, JOB_IMAGE } from '../scripts/build-images';
import { buildStackImages } from '../scripts/stack-images';
import { listening, uiSession, until } from '../scripts/temporal-cluster';

/**
 * The production stack: its files checked by the tools that read them (docker-compose validates docker-compose.yml,
 * promtool the Prometheus scrape config), then the whole stack started on the images built offline, with the
 * loopback override, and a job run through it end to end.
 */
const run = promisify(execFile);
const root = join(__dirname, '..');
const randomKey = () => Wallet.createRandom().privateKey;
const randomAddress = () => Wallet.createRandom().address;
/** Every key and role address the stack needs: docker-compose.yml defaults none of them. */
const keys = {
  DEPLOYER_KEY: randomKey(), TREASURY_ADDRESS: randomAddress(), SETTLER_ADDRESS: randomAddress(), GOVERNOR_ADDRESS: randomAddress(),
  SETTLER_KEY: randomKey(), HOST_KEY_PASSPHRASE: 'a passphrase of our own', POSTGRES_PASSWORD: Wallet.createRandom().address.slice(2),
  TEMPORAL_UI_PASSWORD: Wallet.createRandom().address.slice(2),
};
const compose = (args: string[], env: Record<string, string>) =>
  run('docker-compose', ['-f', 'docker-compose.yml', ...args], { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });

describe('production stack files', () => {
  it('docker-compose.yml is valid and has every service the stack needs', async () => {
    await compose(['config', '--quiet'], keys);
    const { stdout } = await compose(['config', '--services'], keys);
    expect(stdout.trim().split('\n').sort()).toEqual([
      'api', 'certificates', 'chain', 'deploy', 'grafana', 'host-1', 'host-2', 'orchestrator', 'postgres', 'prometheus', 'temporal', 'temporal-setup', 'temporal-ui',
    ]);
  });

  it('docker-compose.override.yml publishes the stack\'s ports for a plain `docker-compose up`', async () => {
    const { stdout } = await run('docker-compose', ['config'], { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...keys } });
    const services = parse(stdout).services as Record<string, { ports?: { published: number | string }[] }>;
    const published = Object.fromEntries(Object.entries(services).filter(([, s]) => s.ports).map(([name, s]) => [name, s.ports!.map((p) => Number(p.published))]));
    expect(published).toEqual({ api: [3000], temporal: [7233], 'temporal-ui': [8233], chain: [8545], prometheus: [9090], grafana: [3001] });
  });

  it('docker-compose.loopback.yml runs every service in the host\'s network, publishing no port', async () => {
    const { stdout } = await compose(['-f', 'docker-compose.loopback.yml', 'config'], keys);
    const services = parse(stdout).services as Record<string, { network_mode?: string; ports?: unknown[] }>;
    for (const [name, service] of Object.entries(services)) expect({ name, network: service.network_mode, ports: service.ports }).toEqual({ name, network: 'host', ports: undefined });
  });

  it.each(Object.keys(keys))('docker-compose.yml refuses to start without %s, naming it', async (missing) => {
    const { [missing]: _left, ...rest } = keys as Record<string, string>;
    await expect(compose(['config', '--quiet'], rest)).rejects.toMatchObject({ stderr: expect.stringContaining(`set ${missing} to `) });
  });

  it('docker-compose.yml defaults no key: every key the stack resolves is the one it was given', async () => {
    const { stdout } = await compose(['config'], keys);
    expect(stdout.match(/0x[0-9a-fA-F]{64}/g)?.sort()).toEqual([keys.DEPLOYER_KEY, keys.SETTLER_KEY].sort());
  });

  it.each(['deploy/prometheus.yml', 'deploy/prometheus-loopback.yml'])('the Prometheus config %s passes promtool check config', async (file) => {
    const { stdout, stderr } = await run('promtool', ['check', 'config', file], { cwd: root });
    expect(`${stdout}${stderr}`).toContain('SUCCESS');
  });
});

/** docker-compose.loopback.yml's ports (its header lists them). */
const LOOPBACK = {
  api: 23000, postgres: 25432, temporal: 27233, temporalUi: 28233, chain: 28545, prometheus: 29090, temporalMetrics: 28000,
  orchestratorMetrics: 29464, orchestratorSdkMetrics: 29465, host1Metrics: 29466, host2Metrics: 29467,
};

describe('the production stack, started: docker-compose.yml with docker-compose.loopback.yml on the offline images', () => {
  const project = `zansoc-compose-${process.pid}`;
  const hostRoot = mkdtempSync(join(tmpdir(), 'zansoc-compose-hosts-'));
  const treasury = Wallet.createRandom();
  const faucet = Wallet.createRandom();
  const settler = Wallet.createRandom();
  const deployer = Wallet.createRandom();
  /** Fresh keys for this run only: the compose files hold none. */
  const env = {
    DEPLOYER_KEY: deployer.privateKey, TREASURY_ADDRESS: treasury.address, SETTLER_ADDRESS: settler.address,
    GOVERNOR_ADDRESS: Wallet.createRandom().address, SETTLER_KEY: settler.privateKey, FAUCET_KEY: faucet.privateKey,
    HOST_KEY_PASSPHRASE: keys.HOST_KEY_PASSPHRASE, POSTGRES_PASSWORD: keys.POSTGRES_PASSWORD, TEMPORAL_UI_PASSWORD: keys.TEMPORAL_UI_PASSWORD,
    HOST_DATA_ROOT: hostRoot,
  };
  const stack = (args: string[]) => run('docker-compose', ['-p', project, '-f', 'docker-compose.yml', '-f', 'docker-compose.loopback.yml', ...args], {
    cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, maxBuffer: 64 * 1024 * 1024,
  });
  const chain = new JsonRpcProvider(`http://127.0.0.1:${LOOPBACK.chain}`, 31337, { staticNetwork: true });
  let started = false;
  const jobIds: string[] = [];

  beforeAll(async () => {
    const taken = [];
    for (const [name, port] of Object.entries(LOOPBACK)) if (await listening(port)) taken.push(`${name} ${port}`);
    if (taken.length) throw new Error(`docker-compose.loopback.yml's ports are taken on 127.0.0.1: ${taken.join(', ')}`);

    // The images, cached: skipped when built from the same inputs.
    const docker = connectDocker();
    await buildJobImages(docker);
    const built = await buildStackImages(docker);
    console.log(`stack images: ${built.map((i) => `${i.tag} ${i.built ? `built in ${i.seconds} s` : 'up to date'}`).join(', ')}`);

    started = true;
    // The chain first: the stack's fresh keys need gas, and the hosts' ZSC, before the services that use them start.
    await stack(['up', '-d', 'chain']);
    await until('the chain did not answer', 30_000, () => chain.getBlockNumber());
    const hosts = await Promise.all(['host-1', 'host-2'].map(async (id) => (await loadOrCreateHostKey(join(hostRoot, id), env.HOST_KEY_PASSPHRASE)).wallet));
    for (const who of [deployer, settler, treasury, faucet, ...hosts]) await chain.send('anvil_setBalance', [who.address, '0x' + (10n ** 20n).toString(16)]);

    // `up` waits for each depends_on condition: PostgreSQL healthy, Temporal healthy, its setup and the deployment done.
    await stack(['up', '-d', 'api', 'orchestrator', 'temporal-ui', 'prometheus']);
    const { stdout } = await stack(['exec', '-T', 'api', 'cat', '/deployments/deployment.json']);
    const deployment = deploymentSchema.parse(JSON.parse(stdout));
    const token = connectZansocToken(deployment.token, new NonceManager(treasury.connect(chain)));
    for (const [to, amount] of [[faucet.address, '10000'], ...hosts.map((h) => [h.address, '1000'])]) await (await token.transfer(to, parseUnits(amount, 18))).wait();
    await stack(['up', '-d', 'host-1', 'host-2']);
  }, 15 * 60_000);

  afterAll(async () => {
    if (started) {
      await stack(['down', '-v', '--remove-orphans', '--timeout', '20']).catch((err: Error) => console.error(`docker-compose down failed: ${err.message}`));
      // The hosts' job containers are the engine's, not the project's: a host removes each once its result is
      // collected, and one the stack went down before removing is removed here.
      for (const jobId of jobIds) {
        const { stdout: left } = await run('docker', ['ps', '-aq', '--filter', `label=zansoc.job=${jobId}`]);
        if (left.trim()) await run('docker', ['rm', '-f', ...left.trim().split('\n')]);
      }
      const { stdout } = await run('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`]);
      expect(stdout.trim()).toBe('');
    }
    chain.destroy();
    rmSync(hostRoot, { recursive: true, force: true });
  }, 120_000);

  it('runs a job end to end through the containerised API, orchestrator and host workers; the Temporal UI answers', async () => {
    const apiUrl = `http://127.0.0.1:${LOOPBACK.api}`;
    await until('the API was not ready', 120_000, async () => {
      const res = await fetch(`${apiUrl}/readyz`);
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    });
    const client = Wallet.createRandom();
    const api = createApiClient(apiUrl, { signer: client, chainId: 31337 });
    await api.wallet.faucet.mutate();
    await until('the hosts did not come online', 120_000, async () => {
      const online = (await api.hosts.list.query()).filter((h) => h.online).map((h) => h.id).sort();
      if (online.join() !== 'host-1,host-2') throw new Error(`online: ${online.join(', ') || 'none'}`);
    });

    const { job } = await api.jobs.submit.mutate({
      spec: { image: JOB_IMAGE, command: ['sh', '-c', 'echo hello from the compose stack; echo 42 > /out/answer'], resources: { cpu: 0.5, memoryMiB: 64 } },
    });
    jobIds.push(job.id);
    const done = await until(`job ${job.id} did not succeed`, 180_000, async () => {
      const now = await api.jobs.get.query({ jobId: job.id });
      if (now.state === 'FAILED' || now.state === 'REJECTED') return now;
      if (now.state !== 'SUCCEEDED') throw new Error(`state ${now.state}`);
      return now;
    });
    expect(done).toMatchObject({ state: 'SUCCEEDED', exitCode: 0 });
    expect(BigInt(done.paidToHosts ?? '0')).toBeGreaterThan(0n);
    expect((await api.jobs.logs.query({ jobId: job.id })).logs).toContain('hello from the compose stack');

    // The UI acts as the operator: nothing of it without the operator's login (TEMPORAL_UI_PASSWORD).
    const uiUrl = `http://127.0.0.1:${LOOPBACK.temporalUi}`;
    expect((await fetch(`${uiUrl}/api/v1/namespaces/default/workflows/job-${job.id}`)).status).toBe(401);
    const cookie = await uiSession(uiUrl, { user: 'operator', password: keys.TEMPORAL_UI_PASSWORD, file: '' });
    const ui = await fetch(`${uiUrl}/namespaces/default/workflows/job-${job.id}`, { headers: { cookie } });
    expect(ui.status).toBe(200);
    // The UI's own API answers from Temporal: the UI really reaches the frontend.
    const described = await fetch(`${uiUrl}/api/v1/namespaces/default/workflows/job-${job.id}`, { headers: { cookie } });
    expect(described.status).toBe(200);
    expect(await described.text()).toContain(`job-${job.id}`);
    const prometheus = await fetch(`http://127.0.0.1:${LOOPBACK.prometheus}/-/ready`);
    expect(prometheus.status).toBe(200);

    // Every Temporal connection in the stack is mTLS: the hosts on the certificates the API issued them at join, and
    // a plaintext client is refused.
    for (const host of ['host-1', 'host-2']) {
      const { stdout: logs } = await stack(['logs', '--no-color', host]);
      expect(logs).toContain(`temporal: mTLS as zansoc-host:${host}`);
    }
    const plain = Connection.connect({ address: `127.0.0.1:${LOOPBACK.temporal}`, connectTimeout: 5_000 }).then(async (c) => {
      try { await c.workflowService.getSystemInfo({}); } finally { await c.close(); }
    });
    await expect(plain).rejects.toThrow();
  }, 10 * 60_000);
});
