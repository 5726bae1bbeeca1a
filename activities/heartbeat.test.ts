import { MockActivityEnvironment } from '@temporalio/testing';
import { withHeartbeats } from './heartbeat';

describe('withHeartbeats', () => {
  it('heartbeats while the activity runs, returns its result, and stops after', async () => {
    const env = new MockActivityEnvironment();
    let beats = 0;
    env.on('heartbeat', () => beats++);
    const { slow } = withHeartbeats({ slow: async (ms: number) => new Promise<string>((r) => setTimeout(() => r(`slept ${ms}`), ms)) }, 10);
    await expect(env.run(slow, 120)).resolves.toBe('slept 120');
    expect(beats).toBeGreaterThanOrEqual(5);
    const after = beats;
    await new Promise((r) => setTimeout(r, 50));
    expect(beats).toBe(after);
  });

  it('passes failures through', async () => {
    const env = new MockActivityEnvironment();
    const { failing } = withHeartbeats({ failing: async () => Promise.reject(new Error('chain down')) }, 10);
    await expect(env.run(failing)).rejects.toThrow('chain down');
  });
});
