import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

/**
 * The workflows bundled once per test run (jest's globalSetup writes it), so the test files that run workflows
 * share one webpack build instead of making one per worker.
 */
export const WORKFLOW_BUNDLE = join(__dirname, '../../.jest-cache/workflow-bundle.js');

const ENV = 'ZANSOC_WORKFLOW_BUNDLE';

/** Bundles the workflows as they are now and tells this run's test files where the bundle is. */
export async function writeWorkflowBundle(): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quiet });
  mkdirSync(join(WORKFLOW_BUNDLE, '..'), { recursive: true });
  writeFileSync(WORKFLOW_BUNDLE, code);
  process.env[ENV] = WORKFLOW_BUNDLE;
}

/** Worker options that load this run's bundle, or bundle afresh when the run made none (never a stale one). */
export function workflowBundle(): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  const codePath = process.env[ENV];
  return codePath && existsSync(codePath) ? { workflowBundle: { codePath } } : { workflowsPath: require.resolve('../../workflows') };
}

const quiet = { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} };
