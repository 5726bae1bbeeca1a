import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { parse, stringify } from 'yaml';
import { ALL_SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import { freePort } from './free-port';
import { startPostgres, type LocalPostgres } from './postgres';
import { PortClash, resolveTemporalCli } from './temporal-server';
import { certPair, createCertificateAuthority, type CertificateFiles } from './tls-certificates';

/**
 * A Temporal cluster as production runs one, on this machine: Zansoc's Temporal server (temporal-server/) with
 * PostgreSQL persistence and visibility, frontend, history, matching and worker each in its own process, and the
 * Web UI in another, on free loopback ports. Namespace `default` has the project's search attributes.
 *
 * With `tls: true`, every connection uses mTLS, as in production: a CA made in the cluster's folder signs the
 * frontend's certificate and every client's, whose CommonName is its identity (temporal-server/identity.go), and the
 * frontend refuses a connection without one. The services talk to each other with certificates of a second CA,
 * which no client certificate is signed by, so a client cannot reach history or matching directly.
 *
 * With `embedded`, the same server runs as `npm start` runs it: every service in one process on one SQLite file in
 * the given folder (schema made on first start), no PostgreSQL, and always with mTLS and the authorizer.
 */
export const CLUSTER_SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type ClusterService = (typeof CLUSTER_SERVICES)[number];

/** One process, one SQLite file: the embedded default's Temporal. */
export interface EmbeddedOptions {
  /** Holds the database, the certificates (tls/) and the logs; kept at stop. */
  dir: string;
  /** The frontend's gRPC port (a free one by default). */
  port?: number;
  /** The Web UI's port (a free one by default); no UI when headless. */
  uiPort?: number;
  headless?: boolean;
}

export interface TemporalCluster {
  /** The frontend's gRPC address. */
  address: string;
  /** The Web UI, null when embedded headless. */
  uiUrl: string | null;
  /** The operator's login to the Web UI (its file holds `user:password`), null when there is no UI. */
  uiLogin: UiLogin | null;
  namespace: string;
  /** Stops one service's process (embedded: the one process) (SIGTERM unless told, SIGKILL for a crash) and starts it again on the same ports. */
  restartService(name: ClusterService, opts?: { signal?: 'SIGTERM' | 'SIGKILL' }): Promise<void>;
  /** What a service (or the UI) has logged so far (embedded: any service names the one process). */
  log(name: ClusterService | 'ui'): string;
  /** The process ids of the services and the UI that are running now. */
  pids(): number[];
  /** Stops every process it started and PostgreSQL, and removes the cluster's folder. */
  stop(): Promise<void>;
  /** What clients need, when the cluster was started with `tls: true`. */
  tls?: ClusterTls;
}

export interface ClusterTls {
  /** The CA that signed the frontend's certificate and the clients': clients trust it, the frontend requires it. */
  caFile: string;
  caPem: Buffer;
  /** `zansoc-orchestrator`: admin, for the orchestrator's workers and tools. */
  orchestrator: CertificateFiles;
  /** `zansoc-operator:cluster`: admin, for the UI and the temporal CLI. */
  operator: CertificateFiles;
  /**
   * The CA that certifies hosts at join, which the API runs (api/host-certificates.ts): the frontend trusts it, and
   * takes a certificate it issued as a host's or no one's.
   */
  hostCa: CertificateFiles;
  /** Signs a client certificate for a CommonName such as `zansoc-host:h1` or `zansoc-api:api`. */
  issueClientCertificate(commonName: string): CertificateFiles;
  /** `tls` for Connection.connect and NativeConnection.connect, presenting `cert`. */
  connectionTls(cert: CertificateFiles): { serverRootCACertificate: Buffer; serverNameOverride: string; clientCertPair: { crt: Buffer; key: Buffer } };
  /** The temporal CLI's flags to connect presenting `cert`. */
  cliFlags(cert: CertificateFiles): string[];
}

/** The operator's login to the Web UI, which acts with the operator's certificate. */
export interface UiLogin {
  user: string;
  password: string;
  /** Holds `user:password` (mode 0600): `--login-file` of `zansoc-temporal-server ui`. */
  file: string;
}

/** The login kept in `file`, made (a fresh 32-character password for `operator`) when there is none yet. */
export function uiLoginIn(file: string): UiLogin {
  try {
    const [user, password] = readFileSync(file, 'utf8').split('\n')[0].trim().split(/:(.*)/s);
    if (user && password) return { user, password, file };
  } catch {
    // None yet.
  }
  const login = { user: 'operator', password: randomBytes(24).toString('base64url'), file };
  writeFileSync(file, `${login.user}:${login.password}\n`, { mode: 0o600 });
  return login;
}

/** Logs in to the Web UI as `login`: the session cookie to send (`cookie` header) with each later request. */
export async function uiSession(uiUrl: string, login: UiLogin): Promise<string> {
  const res = await fetch(`${uiUrl}/zansoc/login`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ user: login.user, password: login.password }).toString(),
  });
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('zansoc_ui_session='));
  if (res.status !== 303 || !cookie) throw new Error(`the Temporal UI refused the operator's login: HTTP ${res.status}`);
  return cookie.split(';')[0];
}

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function installed(flag: '--server' | '--sql-tool'): string {
  const out = execFileSync(join(__dirname, 'install-temporal'), [flag], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop()!;
}

/** Where go.temporal.io/server's module lies in the Go module cache, at the version temporal-server/go.mod pins. */
function serverModuleDir(): string {
  return execFileSync('go', ['list', '-m', '-f', '{{.Dir}}', 'go.temporal.io/server'], {
    cwd: join(__dirname, '../temporal-server'), encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod -buildvcs=false' },
  }).trim();
}

/** Creates `temporal` and `temporal_visibility` and migrates them with the module's versioned schemas. */
async function setUpDatabases(sqlTool: string, pg: LocalPostgres, moduleDir: string): Promise<void> {
  const url = new URL(pg.url);
  const schemas = { temporal: 'temporal', temporal_visibility: 'visibility' };
  for (const [db, schema] of Object.entries(schemas)) {
    const base = ['--plugin', 'postgres12', '--ep', url.hostname, '-p', url.port, '-u', url.username, '--db', db];
    await run(sqlTool, [...base, 'create']);
    await run(sqlTool, [...base, 'setup-schema', '-v', '0.0']);
    await run(sqlTool, [...base, 'update-schema', '-d', join(moduleDir, 'schema/postgresql/v12', schema, 'versioned')]);
  }
}

interface Ports { grpcPort: number; membershipPort: number; httpPort?: number }

/** The certificates the services present and trust (ServerTls files). */
interface ServerTls {
  /** Signs the frontend's certificate and every client's. */
  caFile: string;
  frontend: CertificateFiles;
  /** The worker service's (and the frontend's own) client certificate for the frontend. */
  systemWorker: CertificateFiles;
  /** The host CA: trusted beside `caFile` by the frontend, for host identities only (--host-ca-file). */
  hostCaFile: string;
  /** Signs only the services' internode certificate. */
  internodeCaFile: string;
  internode: CertificateFiles;
  /** The frontend's secret that binds task tokens to the host they are handed to. */
  taskTokenKeyFile: string;
}

/** global.tls: the frontend requires a client certificate of the CA; the services require the internode CA's. */
function tlsConfig(tls: ServerTls): Record<string, unknown> {
  const client = (caFile: string) => ({ serverName: '127.0.0.1', rootCaFiles: [caFile] });
  return {
    internode: {
      server: { certFile: tls.internode.certFile, keyFile: tls.internode.keyFile, requireClientAuth: true, clientCaFiles: [tls.internodeCaFile] },
      client: client(tls.internodeCaFile),
    },
    frontend: {
      server: { certFile: tls.frontend.certFile, keyFile: tls.frontend.keyFile, requireClientAuth: true, clientCaFiles: [tls.caFile, tls.hostCaFile] },
      client: client(tls.caFile),
    },
    systemWorker: { certFile: tls.systemWorker.certFile, keyFile: tls.systemWorker.keyFile, client: client(tls.caFile) },
  };
}

/** The module's config/development-postgres12.yaml pointed at this cluster's database and ports. */
function clusterConfig(moduleDir: string, pg: LocalPostgres, ports: Record<ClusterService, Ports>, dynamicConfigFile: string,
  tls: ServerTls | undefined): string {
  const config = parse(readFileSync(join(moduleDir, 'config/development-postgres12.yaml'), 'utf8'));
  const url = new URL(pg.url);
  for (const store of Object.values(config.persistence.datastores) as { sql: Record<string, unknown> }[]) {
    Object.assign(store.sql, { connectAddr: `${url.hostname}:${url.port}`, user: url.username, password: '' });
  }
  return stringify(onLoopback(config, ports, dynamicConfigFile, tls));
}

/** A sample config made this cluster's: warnings only, its ports on loopback, its dynamic config, its TLS. */
function onLoopback(config: ReturnType<typeof parse>, ports: Record<ClusterService, Ports>, dynamicConfigFile: string,
  tls: ServerTls | undefined): ReturnType<typeof parse> {
  config.log = { stdout: true, level: 'warn' };
  // One config for every process: a fixed pprof or metrics port would be bound by the first process only.
  delete config.global.pprof;
  delete config.global.metrics;
  delete config.archival;
  delete config.namespaceDefaults;
  for (const service of CLUSTER_SERVICES) config.services[service].rpc = { ...ports[service], bindOnLocalHost: true };
  config.clusterMetadata.clusterInformation.active.rpcAddress = `127.0.0.1:${ports.frontend.grpcPort}`;
  // The sample's misspelt `httpAddres` is read by nothing.
  delete config.clusterMetadata.clusterInformation.active.httpAddres;
  config.dynamicConfigClient = { filepath: dynamicConfigFile, pollInterval: '10s' };
  if (tls) config.global.tls = tlsConfig(tls);
  return config;
}

/** The module's config/development-sqlite-file.yaml on `dbFile`, every service's ports free ones, in one process. */
function embeddedConfig(moduleDir: string, dbFile: string, ports: Record<ClusterService, Ports>, dynamicConfigFile: string,
  tls: ServerTls): string {
  const config = parse(readFileSync(join(moduleDir, 'config/development-sqlite-file.yaml'), 'utf8'));
  // Persistence and visibility share the file, as the CLI's dev server does; `setup` makes the schema when absent.
  for (const store of Object.values(config.persistence.datastores) as { sql: Record<string, unknown> }[]) {
    Object.assign(store.sql, { databaseName: dbFile });
  }
  return stringify(onLoopback(config, ports, dynamicConfigFile, tls));
}

/**
 * Long polls one frontend holds at once per namespace and API method. Every host holds up to HOST_ACTIVITY_POLLS on its
 * own queue all the time, so Temporal's default (1,200) starves a fleet of a few hundred hosts: the polls over it are
 * refused, and a host whose polls are all refused never takes its next task. This fits 10,000 hosts per frontend.
 */
export const FRONTEND_LONG_POLLS = 20_000;

const DYNAMIC_CONFIG = {
  // The version check calls out to the internet.
  'frontend.enableServerVersionCheck': [{ value: false }],
  'limit.maxIDLength': [{ value: 255 }],
  'frontend.namespaceCount': [{ value: FRONTEND_LONG_POLLS }],
};

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** Retries `attempt` until it resolves or `ms` pass, then rethrows its last error with `what`. */
export async function until<T>(what: string, ms: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what} within ${ms / 1000}s: ${(err as Error).message}`, { cause: err });
      await sleep(500);
    }
  }
}

const CLI_TYPE: Record<string, string> = { [SearchAttributeType.KEYWORD]: 'Keyword', [SearchAttributeType.KEYWORD_LIST]: 'KeywordList' };

/** Makes the cluster's two CAs and the certificates of the services, the orchestrator and an operator in `dir`. */
function makeCertificates(dir: string): { server: ServerTls; clients: ClusterTls } {
  const ca = createCertificateAuthority(join(dir, 'ca'), 'Zansoc cluster CA');
  const internodeCa = createCertificateAuthority(join(dir, 'internode-ca'), 'Zansoc internode CA');
  const hostCa = createCertificateAuthority(join(dir, 'host-ca'), 'Zansoc host CA');
  const server: ServerTls = {
    caFile: ca.certFile,
    hostCaFile: hostCa.certFile,
    frontend: ca.issueServer('zansoc-frontend'),
    systemWorker: ca.issueClient('zansoc-system-worker'),
    internodeCaFile: internodeCa.certFile,
    internode: internodeCa.issueServer('zansoc-internode'),
    taskTokenKeyFile: join(dir, 'task-token.key'),
  };
  writeFileSync(server.taskTokenKeyFile, randomBytes(32), { mode: 0o600 });
  const clients: ClusterTls = {
    caFile: ca.certFile,
    caPem: ca.pem,
    orchestrator: ca.issueClient('zansoc-orchestrator'),
    operator: ca.issueClient('zansoc-operator:cluster'),
    hostCa: { commonName: hostCa.commonName, certFile: hostCa.certFile, keyFile: hostCa.keyFile },
    issueClientCertificate: (commonName) => ca.issueClient(commonName),
    // The frontend's certificate names 127.0.0.1 and localhost; the name, not the IP, keeps Node's TLS from warning.
    connectionTls: (cert) => ({ serverRootCACertificate: ca.pem, serverNameOverride: 'localhost', clientCertPair: certPair(cert) }),
    cliFlags: (cert) => ['--tls-ca-path', ca.certFile, '--tls-cert-path', cert.certFile, '--tls-key-path', cert.keyFile],
  };
  return { server, clients };
}

export async function startTemporalCluster(opts: ClusterOptions = {}): Promise<TemporalCluster> {
  // Free ports are picked, then bound by the server a moment later: another process (or an outgoing connection's
  // source port) can take one in between, and the server exits. Fresh ports fix that, so a clash is retried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof PortClash)) throw err;
    }
  }
}

interface ClusterOptions { namespace?: string; tls?: boolean; embedded?: EmbeddedOptions }

async function startOnce(opts: ClusterOptions): Promise<TemporalCluster> {
  const namespace = opts.namespace ?? 'default';
  const embedded = opts.embedded;
  const server = installed('--server');
  const cli = resolveTemporalCli();
  const moduleDir = serverModuleDir();
  const dir = embedded ? embedded.dir : mkdtempSync(join(tmpdir(), 'zansoc-temporal-'));
  if (embedded) mkdirSync(dir, { recursive: true });
  const processes = new Map<string, { child: ChildProcess; exited: Promise<void> }>();
  let pg: LocalPostgres | undefined;
  // Embedded, every service is the one process `server`.
  const processOf = (name: ClusterService | 'ui'): string => (embedded && name !== 'ui' ? 'server' : name);

  function spawnLogged(name: string, args: string[]): void {
    const log = openSync(join(dir, `${name}.log`), 'a');
    const child = spawn(server, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    processes.set(name, { child, exited: new Promise((resolve) => child.once('exit', () => resolve())) });
  }
  const logTail = (name: string) => readFileSync(join(dir, `${name}.log`), 'utf8').slice(-3000);
  async function waitListening(name: string, port: number): Promise<void> {
    const { child } = processes.get(name)!;
    const deadline = Date.now() + 60_000;
    while (!(await listening(port))) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const log = readFileSync(join(dir, `${name}.log`), 'utf8');
        // The cause is the first error line; the tail is a stack trace.
        const cause = log.split('\n').find((line) => /"level":"(error|fatal)"|address already in use/.test(line)) ?? '';
        const message = `${name} exited at start: ${cause.slice(0, 1500)}\n${logTail(name)}`;
        throw /address already in use/.test(log) ? new PortClash(message) : new Error(message);
      }
      if (Date.now() > deadline) throw new Error(`${name} did not listen on ${port} within 60s:\n${logTail(name)}`);
      await sleep(200);
    }
  }
  async function kill(name: string, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const proc = processes.get(name);
    if (!proc) return;
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill(signal);
      const killer = setTimeout(() => proc.child.kill('SIGKILL'), 15_000);
      await proc.exited;
      clearTimeout(killer);
    }
    processes.delete(name);
  }
  async function stop(): Promise<void> {
    // The UI and the frontend first, so no client sees a half-stopped cluster answering.
    for (const name of ['ui', 'server', 'frontend', 'worker', 'matching', 'history']) await kill(name);
    await pg?.stop();
    if (!embedded) rmSync(dir, { recursive: true, force: true });
  }

  try {
    const ports = {} as Record<ClusterService, Ports>;
    for (const service of CLUSTER_SERVICES) ports[service] = { grpcPort: await freePort(), membershipPort: await freePort({ below: 32768 }) };
    if (embedded?.port) ports.frontend.grpcPort = embedded.port;
    ports.frontend.httpPort = await freePort();
    const dynamicConfigFile = join(dir, 'dynamicconfig.yaml');
    writeFileSync(dynamicConfigFile, stringify(DYNAMIC_CONFIG));
    const certificates = opts.tls || embedded ? makeCertificates(join(dir, 'tls')) : undefined;
    const tls = certificates?.clients;
    const configFile = join(dir, 'cluster.yaml');
    if (embedded) writeFileSync(configFile, embeddedConfig(moduleDir, join(dir, 'temporal.db'), ports, dynamicConfigFile, certificates!.server));
    else {
      pg = await startPostgres();
      await setUpDatabases(installed('--sql-tool'), pg, moduleDir);
      writeFileSync(configFile, clusterConfig(moduleDir, pg, ports, dynamicConfigFile, certificates?.server));
    }

    const tokenKey = certificates
      ? ['--task-token-key-file', certificates.server.taskTokenKeyFile, '--host-ca-file', certificates.server.hostCaFile] : [];
    const startService = async (name: ClusterService) => {
      if (embedded) {
        spawnLogged('server', ['--config', configFile, '--services', CLUSTER_SERVICES.join(','), '--namespace', namespace, ...tokenKey]);
        return waitListening('server', ports.frontend.grpcPort);
      }
      spawnLogged(name, ['--config', configFile, '--services', name, '--namespace', namespace, ...tokenKey]);
      // The worker service serves no gRPC, only membership.
      await waitListening(name, name === 'worker' ? ports[name].membershipPort : ports[name].grpcPort);
    };
    // One at a time: each process initialises the cluster's metadata in the database on its first start.
    if (embedded) await startService('frontend');
    else for (const service of ['history', 'matching', 'frontend', 'worker'] as const) await startService(service);

    const address = `127.0.0.1:${ports.frontend.grpcPort}`;
    let uiUrl: string | null = null;
    let uiLogin: UiLogin | null = null;
    if (!embedded?.headless) {
      const uiPort = embedded?.uiPort ?? (await freePort());
      // The UI reaches the frontend as an operator, so it asks for the operator's login (kept with the cluster).
      const uiTls = tls ? ['--tls-ca', tls.caFile, '--tls-cert', tls.operator.certFile, '--tls-key', tls.operator.keyFile, '--tls-server-name', '127.0.0.1'] : [];
      uiLogin = uiLoginIn(join(dir, 'ui-login'));
      spawnLogged('ui', ['ui', '--temporal-address', address, '--ip', '127.0.0.1', '--port', String(uiPort), '--login-file', uiLogin.file, ...uiTls]);
      uiUrl = `http://127.0.0.1:${uiPort}`;
    }

    const temporal = (...args: string[]) => run(cli, [...args, '--address', address, ...(tls ? tls.cliFlags(tls.orchestrator) : [])]);
    await until('namespace creation failed', 60_000, () =>
      temporal('operator', 'namespace', 'create', '--namespace', namespace, '--retention', '72h').catch((err: Error & { stderr?: string }) => {
        if (!/already (exists|registered)/i.test(err.stderr ?? '')) throw new Error(err.stderr || err.message);
      }));
    await until('search attributes could not be created', 30_000, () =>
      temporal('operator', 'search-attribute', 'create', '--namespace', namespace,
        ...ALL_SEARCH_ATTRIBUTES.flatMap((key) => ['--name', key.name, '--type', CLI_TYPE[key.type]])));
    // A new search attribute is mapped to a visibility column only once the services reload the namespace.
    const query = ALL_SEARCH_ATTRIBUTES.map((key) => `${key.name} = "none"`).join(' AND ');
    const connection = await Connection.connect({ address, tls: tls?.connectionTls(tls.orchestrator) });
    try {
      await until('the search attributes did not become usable', 60_000, () =>
        connection.workflowService.listWorkflowExecutions({ namespace, query, pageSize: 1 }));
    } finally {
      await connection.close();
    }
    if (uiUrl) {
      const url = uiUrl;
      await until(`the UI did not answer on ${url}`, 30_000, async () => {
        const res = await fetch(`${url}/healthz`);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
      });
    }

    return {
      address,
      uiUrl,
      uiLogin,
      namespace,
      async restartService(name, { signal = 'SIGTERM' } = {}) {
        await kill(processOf(name), signal);
        await startService(name);
      },
      pids: () => [...processes.values()].flatMap(({ child }) => (child.exitCode === null && child.pid ? [child.pid] : [])),
      stop,
      tls,
      log: (name) => readFileSync(join(dir, `${processOf(name)}.log`), 'utf8'),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

if (require.main === module) {
  startTemporalCluster({ tls: process.argv.includes('--tls') }).then((cluster) => {
    console.log(`Temporal frontend ${cluster.address}, Web UI ${cluster.uiUrl}`);
    if (cluster.tls) console.log(`mTLS: CA ${cluster.tls.caFile}, operator ${cluster.tls.operator.certFile} (key ${cluster.tls.operator.keyFile})`);
    const stop = () => void cluster.stop().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }).catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
