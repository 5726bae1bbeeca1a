import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { LABEL_JOB, runSandboxed } from '../host-worker/sandbox';
import { buildJobImages } from '../scripts/build-images';
import { connectDocker } from '../runtime/docker';
import { jobImageAllowList, removeContainersOfJob, slotMaker } from './support/slots';

/**
 * A test input's run looks like the job's own on a real host: the workflow gives both an opaque id of one shape
 * (uuid4) and the same fields, with inputs at the same paths (test/workflows/compute-job.test.ts checks that). Here
 * both run side by side in the real sandbox, and everything the container sees from inside (env, hostname, mounts,
 * the /in listing) and everything the host's Docker shows of it (name, labels, mounts, limits) is compared.
 */
const jobId = `sealed-runs-${randomUUID().slice(0, 8)}`;
let docker: Dockerode;
let workDir: string;

beforeAll(async () => {
  docker = connectDocker();
  await buildJobImages(docker);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zansoc-sealed-runs-'));
});

afterAll(async () => {
  await removeContainersOfJob(docker, jobId);
  fs.rmSync(workDir, { recursive: true, force: true });
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

it('shows a test run and the job run alike, inside the container and to docker inspect', async () => {
  // The client's real input and its test input: same path, same size, different content.
  const real = Buffer.from('z\ny\n');
  const test = Buffer.from('b\na\n');
  const blobs = new Map([[sha256(real), real], [sha256(test), test]]);
  const seen = [
    'env | sort > /out/env',
    'hostname > /out/hostname',
    // Mount points and their options, as the container sees them (sources stay on the host).
    "awk '{print $5, $6}' /proc/self/mountinfo | sort > /out/mounts",
    'ls -lnR /in | sed "s/ [A-Z][a-z][a-z] .* / <date> /" > /out/in',
    'id > /out/id',
    'sleep 3',
  ].join('; ');
  const make = slotMaker(jobId, { env: { MODE: 'x' } });
  const jobRun = { ...make('x', ['sh', '-c', seen]), executionId: randomUUID(), inputs: { 'data/list': sha256(real) } };
  const testRun = { ...jobRun, executionId: randomUUID(), inputs: { 'data/list': sha256(test) } };
  const opts = {
    hostId: 'host-a', workDir, logLimitBytes: 64 * 1024, outputLimitBytes: 1024 * 1024, allowedImages: await jobImageAllowList(docker),
    fetchInput: async (sha: string) => blobs.get(sha)!,
  };

  // While both run, the host's Docker shows them: read everything inspect gives.
  const inspected = (async () => {
    for (;;) {
      const listed = await docker.listContainers({ filters: { label: [`${LABEL_JOB}=${jobId}`] } });
      if (listed.length === 2) return Promise.all(listed.map((c) => docker.getContainer(c.Id).inspect()));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const [ranJob, ranTest, infos] = await Promise.all([runSandboxed(docker, jobRun, opts), runSandboxed(docker, testRun, opts), inspected]);
  expect(ranJob.result.exitCode).toBe(0);
  expect(ranTest.result.exitCode).toBe(0);

  /** What one run shows, with its own id, and its container's own hostname and id, replaced by placeholders. */
  const view = (executionId: string, info: Dockerode.ContainerInspectInfo, outDir: string) => {
    const hostname = fs.readFileSync(path.join(outDir, 'hostname'), 'utf8').trim();
    const files = Object.fromEntries(['env', 'hostname', 'mounts', 'in', 'id'].map((f) => [f, fs.readFileSync(path.join(outDir, f), 'utf8')]));
    const docked = {
      name: info.Name, labels: info.Config.Labels, env: info.Config.Env, cmd: info.Config.Cmd, user: info.Config.User, image: info.Config.Image,
      hostname: info.Config.Hostname,
      // Docker lists a container's mounts in no fixed order: sorted, so only what they are is compared.
      mounts: info.Mounts.map((m) => ({ destination: m.Destination, rw: m.RW, type: m.Type, source: m.Source })).sort((a, b) => a.destination.localeCompare(b.destination)),
      hostConfig: { ...info.HostConfig, Mounts: info.HostConfig.Mounts?.map((m) => ({ ...m, Source: m.Source })) },
    };
    // An id is replaced by its shape (hex digits as x), so two ids of different shape still differ.
    const shape = (id: string) => `<execution ${id.replace(/[0-9a-f]/g, 'x')}>`;
    const text = JSON.stringify({ files, docked })
      .split(executionId).join(shape(executionId))
      .split(executionId.replace(/[^a-zA-Z0-9_.-]/g, '_')).join(shape(executionId.replace(/[^a-zA-Z0-9_.-]/g, '_')))
      .split(hostname).join('<hostname>')
      .split(info.Id).join('<container>');
    return JSON.parse(text) as unknown;
  };
  const infoOf = (executionId: string) => infos.find((i) => i.Config.Labels['zansoc.execution'] === executionId)!;
  // /out is collected into the archive and removed with the container: read the files from the run's output archive.
  const outDirOf = (run: Awaited<ReturnType<typeof runSandboxed>>) => {
    const dir = fs.mkdtempSync(path.join(workDir, 'collected-'));
    fs.writeFileSync(path.join(dir, 'out.tar'), run.outputArchive);
    execFileSync('tar', ['-xf', path.join(dir, 'out.tar'), '-C', dir]);
    return dir;
  };
  const jobView = view(jobRun.executionId, infoOf(jobRun.executionId), outDirOf(ranJob));
  const testView = view(testRun.executionId, infoOf(testRun.executionId), outDirOf(ranTest));
  expect(testView).toEqual(jobView);
  // The views are not empty: the input is there and nothing in them says "test".
  expect(JSON.stringify(jobView)).toContain('/in');
  expect(JSON.stringify(jobView)).toContain('list');
  expect(JSON.stringify(testView).toLowerCase()).not.toContain('test');
}, 120_000);
