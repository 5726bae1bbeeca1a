import { createHash } from 'node:crypto';
import { createWriteStream, renameSync, rmSync } from 'node:fs';

/**
 * Downloads `url` to `file`, showing a progress bar with rate and ETA on stderr when `progress` is set, and checks the
 * bytes against `sha256`: a file that does not match is not kept. Returns the size.
 */
export async function download(url: string, file: string, sha256: string, progress: boolean): Promise<number> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`download of ${url} failed: HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  const partial = `${file}.partial`;
  const out = createWriteStream(partial);
  const hash = createHash('sha256');
  const started = Date.now();
  let done = 0;
  let drawn = 0;
  const draw = (final = false) => {
    if (!progress || (!final && Date.now() - drawn < 100)) return;
    drawn = Date.now();
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    const rate = done / seconds;
    const share = total ? done / total : 0;
    const bar = total ? `[${'#'.repeat(Math.round(share * 30)).padEnd(30, '.')}] ` : '';
    const eta = total && rate ? Math.max(0, (total - done) / rate) : 0;
    process.stderr.write(`\r  ${bar}${formatBytes(done)}${total ? ` of ${formatBytes(total)}` : ''}  ${formatBytes(rate)}/s` +
      `${total ? `  ETA ${eta.toFixed(0)}s` : ''}${final ? '\n' : ''}`);
  };
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      done += chunk.length;
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      draw();
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    draw(true);
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

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}
