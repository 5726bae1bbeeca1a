import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isRawCid } from '../domain/storage';

const DEAL_ID = /^[a-zA-Z0-9-]{1,64}$/;
const PARTIAL_SUFFIX = '.partial';

/** Whether a value can name a deal's folder: uuid-like, so it can never climb out of the store. */
export function isDealId(value: unknown): value is string {
  return typeof value === 'string' && DEAL_ID.test(value);
}

const shown = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value) : typeof value);

const isMissing = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/**
 * The sealed replicas a host keeps, one file per chunk at `<dir>/<dealId>/<cid>`. Writes go to a temporary file that
 * is renamed into place, so a reader finds a whole replica or none. The byte count starts from a walk of the folder
 * on first use (so it survives restarts) and is kept up to date by `put` and `removeDeal`, which take turns per deal.
 */
export class ChunkStore {
  private bytes = 0;
  private counted: Promise<void> | null = null;
  private readonly turns = new Map<string, Promise<void>>();

  constructor(private readonly dir: string) {}

  /** Keeps (or replaces) the sealed replica of chunk `cid` of deal `dealId`. */
  async put(dealId: string, cid: string, sealed: Buffer): Promise<void> {
    const path = this.pathOf(dealId, cid);
    await this.countOnce();
    await this.inTurn(dealId, async () => {
      const previous = await sizeOf(path);
      await mkdir(join(this.dir, dealId), { recursive: true });
      const partial = `${path}.${randomUUID()}${PARTIAL_SUFFIX}`;
      try {
        const file = await open(partial, 'w');
        try {
          await file.writeFile(sealed);
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(partial, path);
      } catch (err) {
        await rm(partial, { force: true });
        throw err;
      }
      this.bytes += sealed.length - previous;
    });
  }

  /** The sealed replica, or null if the host does not keep it. */
  async read(dealId: string, cid: string): Promise<Buffer | null> {
    const path = this.pathOf(dealId, cid);
    try {
      return await readFile(path);
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async has(dealId: string, cid: string): Promise<boolean> {
    return (await sizeOf(this.pathOf(dealId, cid), -1)) >= 0;
  }

  /** The chunks kept for a deal, by CID. */
  async cids(dealId: string): Promise<string[]> {
    this.requireDealId(dealId);
    return (await namesIn(join(this.dir, dealId))).filter(isRawCid).sort();
  }

  /** Forgets every replica of a deal; removing a deal that is not kept does nothing. */
  async removeDeal(dealId: string): Promise<void> {
    this.requireDealId(dealId);
    await this.countOnce();
    await this.inTurn(dealId, async () => {
      // File by file, so the count stays right even if a removal fails half-way.
      for (const cid of await this.cids(dealId)) {
        const path = join(this.dir, dealId, cid);
        const size = await sizeOf(path);
        await rm(path, { force: true });
        this.bytes -= size;
      }
      await rm(join(this.dir, dealId), { recursive: true, force: true });
    });
  }

  /** Sealed bytes kept, over all deals. */
  async bytesStored(): Promise<number> {
    await this.countOnce();
    return this.bytes;
  }

  /** Deals with at least one replica kept. */
  async deals(): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(this.dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    const deals: string[] = [];
    for (const entry of entries) {
      if (entry.isDirectory() && isDealId(entry.name) && (await this.cids(entry.name)).length > 0) deals.push(entry.name);
    }
    return deals.sort();
  }

  private requireDealId(dealId: string): void {
    if (!isDealId(dealId)) throw new Error(`not a deal id (1 to 64 letters, digits or dashes): ${shown(dealId)}`);
  }

  private pathOf(dealId: string, cid: string): string {
    this.requireDealId(dealId);
    if (!isRawCid(cid)) throw new Error(`not a raw sha2-256 CIDv1 in base32 ("bafkrei…"): ${shown(cid)}`);
    return join(this.dir, dealId, cid);
  }

  /** Counts what an earlier run left, and clears the temporary files a crash may have left behind. */
  private countOnce(): Promise<void> {
    this.counted ??= (async () => {
      let total = 0;
      for (const dealId of await this.dealFolders()) {
        const folder = join(this.dir, dealId);
        for (const name of await namesIn(folder)) {
          if (name.endsWith(PARTIAL_SUFFIX)) await rm(join(folder, name), { force: true });
          else if (isRawCid(name)) total += await sizeOf(join(folder, name));
        }
        await rmdir(folder).catch(() => undefined); // only succeeds on a folder left empty
      }
      this.bytes += total;
    })().catch((err: unknown) => {
      this.counted = null;
      throw err;
    });
    return this.counted;
  }

  private async dealFolders(): Promise<string[]> {
    try {
      return (await readdir(this.dir, { withFileTypes: true })).filter((e) => e.isDirectory() && isDealId(e.name)).map((e) => e.name);
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }

  /** Runs `work` after any earlier put or removal of the same deal has settled. */
  private async inTurn(dealId: string, work: () => Promise<void>): Promise<void> {
    const turn = (this.turns.get(dealId) ?? Promise.resolve()).then(work);
    const settled = turn.then(() => undefined, () => undefined);
    this.turns.set(dealId, settled);
    try {
      await turn;
    } finally {
      if (this.turns.get(dealId) === settled) this.turns.delete(dealId);
    }
  }
}

/** The names in a folder; none if there is no such folder. */
async function namesIn(folder: string): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

/** A file's size, or `missing` if there is no such file. */
async function sizeOf(path: string, missing = 0): Promise<number> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : missing;
  } catch (err) {
    if (isMissing(err)) return missing;
    throw err;
  }
}
