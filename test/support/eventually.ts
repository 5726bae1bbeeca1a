/** Calls `check` until it gives a value (an error counts as none yet), for at most `ms`; then fails. */
export async function eventually<T>(ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await check().catch(() => undefined);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`not within ${ms / 1000}s`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
