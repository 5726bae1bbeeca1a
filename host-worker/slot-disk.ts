import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * A slot's own filesystem: a sparse file formatted ext4 and loop-mounted at the slot's folder, so the kernel stops a
 * job's writes at the slot's cap however fast they come (a poll of /out can be outrun by a fast disk). The job's /out
 * and /in are folders on it; the file never takes more of the host's disk than its size.
 */

const run = promisify(execFile);
const MiB = 1024 * 1024;
/** ext4's own blocks (inode tables, bitmaps, group descriptors) with one inode per 16 KiB: under 4% in measurements. */
const overheadBytes = (bytes: number): number => Math.ceil(bytes / 16) + MiB;
/** What one input file can take beyond its bytes: its last block and its inode's share, rounded up. */
const INPUT_ENTRY_BYTES = 8 * 1024;

/** Jobs run as nobody; the image's passwd and the slot folders' owner agree on it. */
export const SANDBOX_UID = 65534;
export const SANDBOX_GID = 65534;

export const diskFileOf = (slotDir: string): string => `${slotDir}.disk`;

export interface SlotFolders {
  /** Mounted at /out, owned by the job's user, 0700. */
  outDir: string;
  /** Mounted read-only at /in. */
  inDir: string;
}

export const slotFolders = (slotDir: string): SlotFolders => ({ outDir: path.join(slotDir, 'out'), inDir: path.join(slotDir, 'in') });

/** The bytes a slot disk must hold for the job: its cap, plus the inputs the host writes onto it. */
export function slotDiskBytes(capBytes: number, inputSizes: readonly number[]): number {
  return capBytes + inputSizes.reduce((total, size) => total + size + INPUT_ENTRY_BYTES, 0);
}

/**
 * Makes `slotDir` the mount point of a fresh filesystem with room for `usableBytes` (and not much more), owned by the
 * job's user, 0700. With `quota` false the folder is a plain one on the host's disk (SLOT_DISK_QUOTA=off).
 */
export async function createSlotDisk(slotDir: string, usableBytes: number, quota: boolean): Promise<SlotFolders> {
  await releaseSlotDisk(slotDir);
  await fs.mkdir(slotDir, { mode: 0o700 });
  if (quota) {
    const file = diskFileOf(slotDir);
    const size = Math.ceil((usableBytes + overheadBytes(usableBytes)) / MiB) * MiB;
    const handle = await fs.open(file, 'wx', 0o600);
    try {
      await handle.truncate(size);
    } finally {
      await handle.close();
    }
    // No journal: the filesystem lives as long as the slot and is thrown away after a crash, never repaired.
    await exec('mkfs.ext4', ['-q', '-F', '-m', '0', '-i', '16384', '-O', '^has_journal', '-E', 'nodiscard,root_owner=0:0', file]);
    await mountSlotDisk(slotDir);
    const { bavail, bsize } = await fs.statfs(slotDir);
    if (bavail * bsize < usableBytes) {
      await releaseSlotDisk(slotDir);
      throw new Error(`slot disk ${file}: ${bavail * bsize} bytes free after formatting, fewer than the ${usableBytes} it was made for`);
    }
  }
  await handTo(slotDir, 0o700);
  const folders = slotFolders(slotDir);
  await fs.mkdir(folders.outDir, { mode: 0o700 });
  await handTo(folders.outDir, 0o700);
  await fs.mkdir(folders.inDir, { mode: 0o700 });
  return folders;
}

/** Mounts the slot's disk file at its folder again when it is not mounted (after the host's machine restarted). */
export async function remountSlotDisk(slotDir: string): Promise<void> {
  if (await isMountPoint(slotDir)) return;
  const present = await fs.stat(diskFileOf(slotDir)).then(() => true, () => false);
  if (present) await mountSlotDisk(slotDir);
}

/** Unmounts the slot's disk and removes it and its folder; harmless when some or all of them are gone already. */
export async function releaseSlotDisk(slotDir: string): Promise<void> {
  if (await isMountPoint(slotDir)) {
    // The engine can hold the mount a moment after a container is removed: a lazy unmount finishes when it lets go.
    await exec('umount', [slotDir]).catch(() => exec('umount', ['-l', slotDir]));
  }
  await fs.rm(slotDir, { recursive: true, force: true });
  await fs.rm(diskFileOf(slotDir), { force: true });
}

/**
 * Checks at start that this host can make slot disks (root, mkfs.ext4, loop devices), by making a small one in its
 * work folder and throwing it away; the error says what is missing. Returns how long the round took, in ms.
 */
export async function probeSlotDisks(workDir: string): Promise<number> {
  const probe = path.join(workDir, `zansoc-probe-${process.pid}`);
  const started = Date.now();
  try {
    await createSlotDisk(probe, MiB, true);
  } catch (error) {
    await releaseSlotDisk(probe).catch(() => undefined);
    throw new Error(
      `this host cannot give job slots a disk quota of their own (${(error as Error).message.trim()}). Slot disks are ext4 files loop-mounted ` +
        'in the work folder: run the host worker as root where mkfs.ext4 and loop devices are available (in a container: --privileged, ' +
        'with the data folder bind-mounted rshared so the Docker engine sees the mounts), or set SLOT_DISK_QUOTA=off to run without one ' +
        '(then only a poll of /out stands between a job and this machine\'s disk)',
      { cause: error },
    );
  }
  await releaseSlotDisk(probe);
  return Date.now() - started;
}

/** The work folder holds every slot's data: root's alone. */
export async function prepareWorkDir(workDir: string): Promise<void> {
  await fs.mkdir(workDir, { recursive: true, mode: 0o700 });
  await fs.chmod(workDir, 0o700);
}

/** Unmounts every slot disk mounted anywhere under `dir`, so that the folder can be removed (a devnet's, a test's). */
export async function unmountSlotDisksUnder(dir: string): Promise<void> {
  const root = `${path.resolve(dir)}${path.sep}`;
  for (const mountPoint of (await mountPoints()).filter((point) => point.startsWith(root)).reverse()) {
    await exec('umount', [mountPoint]).catch(() => exec('umount', ['-l', mountPoint]));
  }
}

async function mountSlotDisk(slotDir: string): Promise<void> {
  await exec('mount', ['-t', 'ext4', '-o', 'loop,nosuid,nodev,noatime', diskFileOf(slotDir), slotDir]);
}

/** Whether a folder is a mount point, from the kernel's own table (its paths escape spaces and the like as octal). */
export async function isMountPoint(dir: string): Promise<boolean> {
  return (await mountPoints()).includes(path.resolve(dir));
}

async function mountPoints(): Promise<string[]> {
  const table = await fs.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return table.split('\n').map((line) => line.split(' ')[4]).filter((point): point is string => point !== undefined)
    .map((point) => point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
}

async function handTo(dir: string, mode: number): Promise<void> {
  try {
    await fs.chown(dir, SANDBOX_UID, SANDBOX_GID);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
    throw new Error(`cannot hand ${dir} to uid ${SANDBOX_UID}: the host worker must run as root (it drives the Docker engine anyway)`, { cause: error });
  }
  await fs.chmod(dir, mode);
}

async function exec(command: string, args: string[]): Promise<void> {
  try {
    await run(command, args, { timeout: 60_000 });
  } catch (error) {
    const { stderr, code } = error as { stderr?: string; code?: string | number };
    const why = code === 'ENOENT' ? `${command} is not installed` : (stderr?.trim() || (error as Error).message);
    throw new Error(`${command} ${args.join(' ')}: ${why}`, { cause: error });
  }
}
