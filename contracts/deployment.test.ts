import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.join(__dirname, '..');

/**
 * Requires `module` in a fresh Node with solc unresolvable, as in a production image (`npm ci --omit=dev`), and
 * says how that went.
 */
function requireWithoutSolc(module: string): { status: number | null; stderr: string } {
  const script = `
    const Module = require('node:module');
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      if (request === 'solc' || request.startsWith('solc/')) {
        throw Object.assign(new Error("Cannot find module 'solc' (production images omit devDependencies)"), { code: 'MODULE_NOT_FOUND' });
      }
      return resolve.call(this, request, ...rest);
    };
    require(process.argv[1]);
  `;
  const run = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script, path.join(ROOT, module)], { cwd: ROOT, encoding: 'utf8' });
  return { status: run.status, stderr: run.stderr };
}

// The production modules that read a deployment file: the loader itself, the orchestrator's chain connection, the
// API's wallet and the host worker.
it.each(['contracts/deployment', 'activities/chain/client', 'api/wallet', 'host-worker/run'])('%s loads without solc', (module) => {
  expect(requireWithoutSolc(module)).toEqual({ status: 0, stderr: '' });
});

it('cannot load the contract build without solc, so the check above would see solc if it were loaded', () => {
  const { status, stderr } = requireWithoutSolc('contracts/build');
  expect(status).not.toBe(0);
  expect(stderr).toMatch(/Cannot find module 'solc' \(production images omit devDependencies\)/);
});
