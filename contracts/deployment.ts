import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { getAddress } from 'ethers';
import { z } from 'zod';

// Every process that talks to the chain reads a deployment file, and production images ship without solc (a
// devDependency), so this module must never import the build or deploy tooling.

/** A checksummed EVM address, refusing anything else with the string it got. */
export const address = z.string().transform((s, ctx) => {
  try {
    return getAddress(s);
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not an address: ${s}` });
    return z.NEVER;
  }
});

export const deploymentSchema = z.object({
  chainId: z.number().int().positive(),
  token: address,
  hostRegistry: address,
  jobEscrow: address,
  storageEscrow: address,
  /** Sent the deployment; holds DEFAULT_ADMIN_ROLE on the registry and both escrows unless there is a timelock. */
  deployer: address,
  treasury: address,
  /** Holds SETTLER_ROLE on both escrows. */
  settler: address,
  /** Holds GOVERNOR_ROLE on both escrows, or, with a timelock, is its proposer and executor. */
  governor: address,
  /** The TimelockController holding DEFAULT_ADMIN_ROLE everywhere and GOVERNOR_ROLE on both escrows, if any. */
  timelock: address.optional(),
  /** First block of the deployment: where to start reading the contracts' events. */
  blockNumber: z.number().int().nonnegative(),
});

/** Where the contracts of one chain live and who holds which role. */
export type Deployment = z.infer<typeof deploymentSchema>;

/** Writes `<dir>/<chainId>.json` and returns its path. */
export function saveDeployment(deployment: Deployment, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${deployment.chainId}.json`);
  writeFileSync(file, `${JSON.stringify(deployment, null, 2)}\n`);
  return file;
}

/** Reads a deployment file, refusing one with a missing or malformed field. */
export function loadDeployment(file: string): Deployment {
  const parsed = deploymentSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`invalid deployment file ${file}: ${problems}`);
  }
  return parsed.data;
}
