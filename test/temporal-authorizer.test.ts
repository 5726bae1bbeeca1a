import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The authorizer's and claim mapper's Go tests (temporal-server/authorizer_test.go), run where CI runs tests: every
 * rule of the tables, and every API of the workflow, operator and admin services a host is denied.
 */
jest.setTimeout(600_000);

it('passes go test in temporal-server/', async () => {
  const { stdout } = await promisify(execFile)('go', ['test', '-count=1', '-v', './...'], {
    cwd: join(__dirname, '../temporal-server'),
    env: { ...process.env, GOFLAGS: '-mod=mod -buildvcs=false' },
    maxBuffer: 16 * 1024 * 1024,
  });
  const passed = [...stdout.matchAll(/^--- PASS: (\w+)/gm)].map((m) => m[1]);
  expect(passed).toEqual(expect.arrayContaining([
    'TestCommonNamesMapToIdentities', 'TestOnlyAdminsHoldARole', 'TestNoClaimsIsDenied', 'TestAdminsMayCallAnything',
    'TestHostPollsOnlyItsOwnQueue', 'TestHostAnswersOnlyHostActivities', 'TestHostStartsAndStopsItsWorker',
    'TestHostIsDeniedEverythingElse', 'TestAPIStartsAndReadsButNeverTouchesTasks',
  ]));
  expect(stdout).not.toMatch(/^--- FAIL/m);
});
