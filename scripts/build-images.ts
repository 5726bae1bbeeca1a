import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import tar from 'tar-stream';
import { DEFAULT_JOB_IMAGE } from '../domain/images';
import { connectDocker } from '../runtime/docker';
import { buildStackImages, inspectImage } from './stack-images';

/**
 * The image the project's jobs and tests run; built locally because nothing can be pulled from a registry. Hosts
 * allow it unless ALLOWED_IMAGES says otherwise.
 */
export const JOB_IMAGE = DEFAULT_JOB_IMAGE;

const BUSYBOX = '/bin/busybox';
const CONTEXT_LABEL = 'zansoc.context-sha256';
const APPLETS = [
  '[', 'awk', 'base64', 'basename', 'cat', 'chmod', 'cp', 'cut', 'date', 'dd', 'df', 'dirname', 'du', 'echo', 'env',
  'expr', 'false', 'find', 'grep', 'gunzip', 'gzip', 'head', 'hostname', 'id', 'kill', 'ln', 'ls', 'md5sum', 'mkdir',
  'mktemp', 'mv', 'nc', 'nproc', 'od', 'printf', 'ps', 'pwd', 'readlink', 'rm', 'rmdir', 'sed', 'seq', 'sh',
  'sha1sum', 'sha256sum', 'sha512sum', 'sleep', 'sort', 'stat', 'tail', 'tar', 'tee', 'test', 'timeout', 'touch',
  'tr', 'true', 'truncate', 'uname', 'uniq', 'wc', 'wget', 'which', 'whoami', 'xargs', 'yes',
];
// No root entry: jobs run as nobody, and nothing in the image needs another identity.
const PASSWD = 'nobody:x:65534:65534:nobody:/:/bin/sh\n';
const GROUP = 'nobody:x:65534:\n';
const DOCKERFILE = 'FROM scratch\nCOPY rootfs/ /\nUSER 65534:65534\nWORKDIR /\n';

export interface JobImage {
  id: string;
  reference: string;
}

/** Builds the job image unless an image built from the very same context is already there. */
export async function buildJobImages(docker: Dockerode): Promise<JobImage> {
  const context = await busyboxContext();
  const contextSha256 = createHash('sha256').update(context).digest('hex');

  const existing = await inspectImage(docker, JOB_IMAGE);
  if (existing?.Config?.Labels?.[CONTEXT_LABEL] === contextSha256) return { id: existing.Id, reference: JOB_IMAGE };

  const stream = await docker.buildImage(Readable.from([context]), {
    t: JOB_IMAGE,
    networkmode: 'none',
    labels: { [CONTEXT_LABEL]: contextSha256 },
    rm: true,
    forcerm: true,
  });
  await followBuild(stream);

  const built = await inspectImage(docker, JOB_IMAGE);
  if (!built) throw new Error(`the build of ${JOB_IMAGE} finished but the image is not there`);
  return { id: built.Id, reference: JOB_IMAGE };
}

/** An in-memory build context with fixed metadata, so equal inputs give an equal hash. */
async function busyboxContext(): Promise<Buffer> {
  if (!fs.existsSync(BUSYBOX)) {
    throw new Error(`${BUSYBOX} is missing: the job image is built from Debian's static busybox (apt-get install busybox-static)`);
  }
  const available = new Set(execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n'));
  const missing = APPLETS.filter((applet) => !available.has(applet));
  if (missing.length > 0) throw new Error(`${BUSYBOX} lacks the applets ${missing.join(', ')}; install Debian's busybox-static`);

  const pack = tar.pack();
  const fixed = { mtime: new Date(0), uid: 0, gid: 0 };
  pack.entry({ ...fixed, name: 'Dockerfile', mode: 0o644 }, DOCKERFILE);
  for (const dir of ['rootfs', 'rootfs/bin', 'rootfs/etc']) pack.entry({ ...fixed, name: dir, type: 'directory', mode: 0o755 });
  pack.entry({ ...fixed, name: 'rootfs/bin/busybox', mode: 0o755 }, fs.readFileSync(BUSYBOX));
  for (const applet of APPLETS) {
    pack.entry({ ...fixed, name: `rootfs/bin/${applet}`, type: 'symlink', linkname: 'busybox', mode: 0o777 });
  }
  pack.entry({ ...fixed, name: 'rootfs/etc/passwd', mode: 0o644 }, PASSWD);
  pack.entry({ ...fixed, name: 'rootfs/etc/group', mode: 0o644 }, GROUP);
  pack.finalize();

  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}


/** The build API answers 200 and reports failures inside the stream, so the stream has to be read to know. */
async function followBuild(stream: NodeJS.ReadableStream): Promise<void> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  const events = text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as { stream?: string; error?: string });
  const failure = events.find((event) => event.error);
  if (failure) {
    const log = events.map((event) => event.stream ?? '').join('');
    throw new Error(`building ${JOB_IMAGE} failed: ${failure.error}\n${log}`);
  }
}

/** `--stack` also builds docker-compose.yml's images offline (scripts/stack-images.ts). */
async function main(): Promise<void> {
  const docker = connectDocker();
  const image = await buildJobImages(docker);
  console.log(`${image.reference} ${image.id}`);
  if (process.argv.includes('--stack')) await buildStackImages(docker, (line) => console.log(line));
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
