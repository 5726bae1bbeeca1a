import { createHash } from 'node:crypto';
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { progressBar } from './format';

/**
 * Downloads `url` to `file`, showing a progress bar with rate and ETA on stderr when `progress` is set, and checks the
 * bytes against `sha256`: a file that does not match is not kept. Returns the size.
 */
export async function download(url: string, file: string, sha256: string, progress: boolean, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(url, { headers });
  if (!res.ok || !res.body) throw new Error(`download of ${url} failed: HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  const partial = `${file}.partial`;
  const out = createWriteStream(partial);
  const hash = createHash('sha256');
  const bar = progressBar('', total, progress);
  let done = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      done += chunk.length;
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      bar.add(chunk.length);
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    bar.finish();
    const got = hash.digest('hex');
    if (got !== sha256) throw new Error(`download of ${url} is corrupt: sha256 ${got}, expected ${sha256}`);
    renameSync(partial, file);
    return done;
  } catch (err) {
    out.destroy();
    rmSync(partial, { force: true });
    throw err;
  }
}
