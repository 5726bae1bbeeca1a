import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { ApplicationFailure } from '@temporalio/common';
import { ZansocErrorType } from '../domain/errors';
import { resultDigestInput, type SlotExecution } from '../domain/execution';
import { LABEL_EXECUTION, runSandboxed, type SandboxOptions } from '../host-worker/sandbox';
import { buildJobImages } from '../scripts/build-images';
import { connectDocker } from '../runtime/docker';
import { jobImageAllowList, removeContainersOfJob, removeWorkDir, slotMaker } from './support/slots';

const jobId = `sandbox-test-${randomUUID().slice(0, 8)}`;
let docker: Dockerode;
let workDir: string;
let allowedImages: string[];

beforeAll(async () => {
  docker = connectDocker();
  await buildJobImages(docker);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zansoc-sandbox-'));
  allowedImages = await jobImageAllowList(docker);
});

afterAll(async () => {
  await removeContainersOfJob(docker, jobId);
  await removeWorkDir(workDir);
});

const slot = slotMaker(jobId, {});

function run(exec: SlotExecution, opts: Partial<SandboxOptions> = {}) {
  return runSandboxed(docker, exec, { hostId: 'test-host', workDir, allowedImages, logLimitBytes: 64 * 1024, outputLimitBytes: 1024 * 1024, ...opts });
}

async function containersOf(exec: SlotExecution): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_EXECUTION}=${exec.executionId}`] } });
}

/**
 * The canonical archive written by hand from the POSIX ustar layout, without tar-stream, so a change in how the host
 * packs /out (library upgrade included) shows up here before honest hosts start to disagree.
 */
function canonicalTar(entries: Array<{ name: string; mode: number; content?: string }>): Buffer {
  const octal = (value: number, digits: number) => `${value.toString(8).padStart(digits, '0')} `;
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const directory = entry.content === undefined;
    const content = Buffer.from(entry.content ?? '');
    const header = Buffer.alloc(512);
    header.write(directory ? `${entry.name}/` : entry.name, 0);
    header.write(octal(entry.mode, 6), 100);
    header.write(octal(0, 6), 108);
    header.write(octal(0, 6), 116);
    header.write(octal(content.length, 11), 124);
    header.write(octal(0, 11), 136);
    header.write(directory ? '5' : '0', 156);
    header.write('ustar\u000000', 257, 'latin1');
    header.write(octal(0, 6), 329);
    header.write(octal(0, 6), 337);
    header.fill(' ', 148, 156);
    const checksum = header.reduce((sum, byte) => sum + byte, 0);
    header.fill(0, 148, 156);
    header.write(octal(checksum, 6), 148);
    blocks.push(header, content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function refusal(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(ApplicationFailure);
  return error as ApplicationFailure;
}

test('the result digest is the canonical /out archive and exit code, equal across runs', async () => {
  const script = [
    'echo hello > /out/hello.txt',
    'mkdir /out/sub && echo b > /out/sub/b.txt',
    'printf "#!/bin/sh\\n" > /out/run.sh && chmod 700 /out/run.sh',
    'ln -s /etc/passwd /out/passwd-link',
    'echo to-stdout; echo to-stderr >&2',
  ].join('; ');
  const first = await run(slot('digest-1', ['sh', '-c', script]));
  const second = await run(slot('digest-2', ['sh', '-c', script]));

  const expectedArchive = canonicalTar([
    { name: 'hello.txt', mode: 0o644, content: 'hello\n' },
    { name: 'run.sh', mode: 0o755, content: '#!/bin/sh\n' },
    { name: 'sub', mode: 0o755 },
    { name: 'sub/b.txt', mode: 0o644, content: 'b\n' },
  ]);
  expect(first.outputArchive.equals(expectedArchive)).toBe(true);
  expect(first.result).toMatchObject({
    exitCode: 0,
    timedOut: false,
    oomKilled: false,
    outputSha256: sha256(expectedArchive),
    outputBytes: expectedArchive.length,
    resultDigest: sha256(resultDigestInput(sha256(expectedArchive), 0)),
    logsTruncated: false,
  });
  expect(second.result.resultDigest).toBe(first.result.resultDigest);
  expect(first.logs.toString().split('\n').sort()).toEqual(['', 'to-stderr', 'to-stdout']);
  expect(first.result.logsSha256).toBe(sha256(first.logs));

  expect(await containersOf(slot('digest-1', []))).toHaveLength(0);
  expect(fs.readdirSync(workDir)).toEqual([]);
});

test('stdout and stderr are kept interleaved as they arrive', async () => {
  const { logs } = await run(slot('interleave', ['sh', '-c', 'echo 1; sleep 0.2; echo 2 >&2; sleep 0.2; echo 3']));
  expect(logs.toString()).toBe('1\n2\n3\n');
});

test('a non-zero exit is reported with its code', async () => {
  const { result } = await run(slot('exit-3', ['sh', '-c', 'echo failing >&2; exit 3']));
  expect(result).toMatchObject({ exitCode: 3, timedOut: false, oomKilled: false });
  expect(result.resultDigest).toBe(sha256(resultDigestInput(result.outputSha256, 3)));
});

test('a command that does not exist is the job failing, not the host', async () => {
  const { result, logs } = await run(slot('no-such-command', ['no-such-command']));
  expect(result.exitCode).toBe(127);
  expect(logs.toString()).toContain('no-such-command');
});

test('a job past its timeout is killed and reported as timed out', async () => {
  const started = Date.now();
  const exec = slot('timeout', ['sleep', '60'], { timeoutSeconds: 2 });
  const { result } = await run(exec);
  expect(result.timedOut).toBe(true);
  expect(result.exitCode).toBe(137);
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(await containersOf(exec)).toHaveLength(0);
});

test('runs as nobody with every capability dropped', async () => {
  const { logs } = await run(slot('identity', ['sh', '-c', 'id -u; id -g; grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status']));
  expect(logs.toString()).toBe('65534\n65534\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n');
});

test('a network call fails inside the container', async () => {
  // No `wget -T`: Debian's static busybox segfaults with it. One stream (2>&1): the engine copies stdout and stderr separately, so their relative order is not guaranteed.
  const script = 'ls /sys/class/net; wget -q -O /dev/null http://1.1.1.1/ 2>&1; echo "wget=$?"; nc -w 3 1.1.1.1 80 </dev/null 2>&1; echo "nc=$?"';
  const { logs } = await run(slot('network', ['sh', '-c', script]));
  expect(logs.toString()).toMatch(/^lo\n.*unreachable.*\nwget=1\n.*unreachable.*\nnc=1\n$/i);
});

test('writing to / fails while /tmp and /out are writable', async () => {
  const script = 'exec 2>&1; echo x > /pwned; echo "root=$?"; echo t > /tmp/t && echo tmp-ok; echo o > /out/o && echo out-ok';
  const { logs } = await run(slot('readonly-root', ['sh', '-c', script]));
  expect(logs.toString()).toMatch(/^sh: can't create \/pwned: Read-only file system\nroot=1\ntmp-ok\nout-ok\n$/);
});

test('a memory hog is OOM-killed and reported', async () => {
  const { result } = await run(slot('oom', ['tail', '/dev/zero'], { resources: { cpu: 1, memoryMiB: 32, diskMiB: 16, gpu: 0 } }));
  expect(result.oomKilled).toBe(true);
  expect(result.exitCode).toBe(137);
});

test('logs are capped at the limit', async () => {
  const { result, logs } = await run(slot('chatty', ['sh', '-c', 'yes | head -c 200000']), { logLimitBytes: 1000 });
  expect(result).toMatchObject({ logsTruncated: true, logsBytes: 1000 });
  expect(logs.toString()).toBe('y\n'.repeat(500));
});

test('output over the limit is refused and cleaned up', async () => {
  const exec = slot('big-output', ['dd', 'if=/dev/zero', 'of=/out/big', 'bs=1024', 'count=200']);
  const error = await refusal(run(exec, { outputLimitBytes: 100 * 1024 }));
  expect(error.type).toBe(ZansocErrorType.OutputTooLarge);
  expect(error.nonRetryable).toBe(true);
  expect(await containersOf(exec)).toHaveLength(0);
  expect(fs.readdirSync(workDir)).toEqual([]);
});

test('output growing past the cap is refused and the job killed while it runs', async () => {
  const started = Date.now();
  // 64 KiB every 50 ms: past 1 MiB after about a second, and it would write for the whole minute otherwise.
  const exec = slot('output-while-running', ['sh', '-c', 'while true; do head -c 65536 /dev/zero >> /out/big; sleep 0.05; done'], { timeoutSeconds: 60 });
  const error = await refusal(run(exec, { outputLimitBytes: 1024 * 1024 }));
  expect(error.type).toBe(ZansocErrorType.OutputTooLarge);
  expect(error.nonRetryable).toBe(true);
  expect(error.message).toMatch(/while it ran.*killed/);
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(await containersOf(exec)).toHaveLength(0);
  expect(fs.readdirSync(workDir)).toEqual([]);
});

test('no single file can grow past the output cap, however fast it is written', async () => {
  // The file stops at the cap (the writer gets SIGXFSZ); the job then removes it, so its run is collected normally.
  const script = 'dd if=/dev/zero of=/out/big bs=1M count=1000 2>/dev/null; echo "dd=$?"; wc -c < /out/big; rm /out/big';
  const exec = slot('single-file-cap', ['sh', '-c', script], { resources: { cpu: 1, memoryMiB: 64, diskMiB: 1, gpu: 0 } });
  const { result, logs } = await run(exec, { outputLimitBytes: 1024 * 1024, outputPollMs: 60_000 });
  expect(logs.toString()).toBe(`dd=153\n${1024 * 1024}\n`);
  expect(result.exitCode).toBe(0);
});

test('a fork bomb hits the pids limit, ends as the job failing, and leaves the host able to fork', async () => {
  // Long enough for a few pids samples when the engine is slow to answer stats (a loaded CI machine once got none in 5 s).
  const exec = slot('fork-bomb', ['sh', '-c', 'bomb() { bomb | bomb & }; bomb; exec sleep 60'], {
    timeoutSeconds: 12,
    resources: { cpu: 0.5, memoryMiB: 128, diskMiB: 16, gpu: 0 },
  });
  const running = run(exec);
  await waitFor(async () => (await containersOf(exec)).some((c) => c.State === 'running'));
  const [listed] = await containersOf(exec);
  let mostPids = 0;
  const sampling = (async () => {
    for (;;) {
      const stats = await docker.getContainer(listed.Id).stats({ stream: false }).catch(() => undefined);
      const pids = (stats as { pids_stats?: { current?: number } } | undefined)?.pids_stats?.current ?? 0;
      mostPids = Math.max(mostPids, pids);
      // The host still starts processes while the bomb goes off.
      execFileSync('true');
      if (!(await containersOf(exec)).some((c) => c.State === 'running')) return;
    }
  })();
  const { result } = await running;
  await sampling;

  expect(mostPids).toBeGreaterThan(100);
  expect(mostPids).toBeLessThanOrEqual(256);
  expect(result.timedOut || result.exitCode !== 0).toBe(true);
  expect(await containersOf(exec)).toHaveLength(0);
  expect((await run(slot('after-fork-bomb', ['echo', 'fine']))).logs.toString()).toBe('fine\n');
});

test('a missing image the host advertised is refused without pulling it', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const exec = slot('missing-image', ['true'], { image: 'zansoc/not-built-here:1' });
  // On the allow-list, gone from the engine: the host's failure (the workflow re-matches the slot), never a pull.
  const error = await refusal(run(exec, { allowedImages: [...allowedImages, `zansoc/not-built-here:1@sha256:${'0'.repeat(64)}`] }));
  expect(error.type).toBe(ZansocErrorType.ImageNotFound);
  expect(error.nonRetryable).toBe(true);
  expect(await containersOf(exec)).toHaveLength(0);

  const events = await docker.getEvents({ since, until: Math.ceil(Date.now() / 1000), filters: { type: ['image'], event: ['pull'] } });
  let text = '';
  for await (const chunk of events) text += chunk.toString();
  expect(text.trim()).toBe('');
});

test('aborting kills and removes the container', async () => {
  const exec = slot('abort', ['sleep', '60']);
  const abort = new AbortController();
  const running = run(exec, { signal: abort.signal });
  await waitFor(async () => (await containersOf(exec)).some((c) => c.State === 'running'));
  abort.abort(new Error('cancelled by test'));
  await expect(running).rejects.toThrow('cancelled by test');
  expect(await containersOf(exec)).toHaveLength(0);
  expect(fs.readdirSync(workDir)).toEqual([]);
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
