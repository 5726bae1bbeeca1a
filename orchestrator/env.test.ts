import { readOrchestratorEnv } from './env';

const base = { DEPLOYMENT_FILE: 'deployments/31337.json', SETTLER_KEY: `0x${'1'.repeat(64)}` };

describe('orchestrator configuration', () => {
  it('names the bad variable', () => {
    expect(() => readOrchestratorEnv({ ...base, SETTLER_KEY: 'nope' })).toThrow(/SETTLER_KEY: must be a 0x-prefixed 32-byte hex private key/);
  });

  it('never lets a production orchestrator load the crash fixture', () => {
    expect(() => readOrchestratorEnv({ ...base, ZANSOC_TEST_CRASH: 'after-settle' })).toThrow(/ZANSOC_TEST_CRASH: is a test fixture/);
    expect(readOrchestratorEnv({ ...base, ZANSOC_TEST_CRASH: 'after-settle', NODE_ENV: 'test' }).ZANSOC_TEST_CRASH).toBe('after-settle');
  });
});
