import { rmSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import type { Database } from '../../db/client';
import type { Devnet } from '../../scripts/devnet';

/** After a failed test, prints the roles' last lines: what the processes saw. */
export function printRolesOnFailure(lines: string[], count = 120): void {
  afterEach(() => {
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts) console.log(lines.slice(-count).join('\n'));
  });
}

/** Stops what a devnet test file started, whichever parts of it did start. */
export async function tearDownDevnet(parts: { temporal?: Client; db?: Database; devnet?: Devnet; dir?: string }): Promise<void> {
  await parts.temporal?.connection.close();
  await parts.db?.$disconnect();
  await parts.devnet?.stop();
  if (parts.dir) rmSync(parts.dir, { recursive: true, force: true });
}
