/** What the CLI's commands share for people: byte sizes, a progress bar on stderr, and plain tables. */

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

/**
 * A progress bar with rate and ETA on stderr, redrawn at most every 100 ms; silent when not `shown`. With no known
 * `total` (0) it shows the bytes and the rate only.
 */
export function progressBar(label: string, total: number, shown: boolean) {
  const started = Date.now();
  let done = 0;
  let drawn = 0;
  const draw = (final: boolean) => {
    if (!shown || (!final && Date.now() - drawn < 100)) return;
    drawn = Date.now();
    const rate = done / Math.max((Date.now() - started) / 1000, 0.001);
    const bar = total ? `[${'#'.repeat(Math.round((done / total) * 30)).padEnd(30, '.')}] ` : '';
    const eta = total && rate ? Math.max(0, (total - done) / rate) : 0;
    process.stderr.write(`\r  ${label ? `${label} ` : ''}${bar}${formatBytes(done)}${total ? ` of ${formatBytes(total)}` : ''}  ${formatBytes(rate)}/s` +
      `${total ? `  ETA ${eta.toFixed(0)}s` : ''}${final ? '\n' : ''}`);
  };
  return {
    add(bytes: number) {
      done += bytes;
      draw(false);
    },
    finish: () => draw(true),
  };
}

export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}
