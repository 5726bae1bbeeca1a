import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pruneSealedResults, SEALED_RESULT_MAX_AGE_MS } from './compute';

it('prunes sealed results older than any round, and keeps the rest', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'zansoc-sealed-')), 'sealed');
  mkdirSync(dir);
  writeFileSync(join(dir, 'old.json'), '{}');
  writeFileSync(join(dir, 'new.json'), '{}');
  const old = (Date.now() - SEALED_RESULT_MAX_AGE_MS - 60_000) / 1000;
  utimesSync(join(dir, 'old.json'), old, old);
  expect(await pruneSealedResults(dir)).toBe(1);
  expect(readdirSync(dir)).toEqual(['new.json']);
  expect(await pruneSealedResults(join(dir, 'missing'))).toBe(0);
});
