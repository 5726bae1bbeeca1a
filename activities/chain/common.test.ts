import { sendOnce } from './common';

/** A step whose state on chain is `state` and whose send does what `send` says. */
function step(state: { done: boolean }, send: () => Promise<string>) {
  const calls = { reads: 0, checks: 0, sends: 0 };
  const result = sendOnce({
    doing: 'testing',
    read: async () => {
      calls.reads++;
      return { ...state };
    },
    already: (s) => (s.done ? 'happened before' : null),
    check: () => {
      calls.checks++;
    },
    send: () => {
      calls.sends++;
      return send();
    },
  });
  return { result, calls };
}

it('answers what happened, without checking or sending, when the step already happened', async () => {
  const { result, calls } = step({ done: true }, async () => 'sent');
  await expect(result).resolves.toBe('happened before');
  expect(calls).toEqual({ reads: 1, checks: 0, sends: 0 });
});

it('checks, then sends once, when the step has not happened', async () => {
  const { result, calls } = step({ done: false }, async () => 'sent');
  await expect(result).resolves.toBe('sent');
  expect(calls).toEqual({ reads: 1, checks: 1, sends: 1 });
});

it('answers what happened when a send fails because the step happened meanwhile', async () => {
  const state = { done: false };
  const { result, calls } = step(state, async () => {
    state.done = true; // another attempt got there first
    throw new Error('reverted');
  });
  await expect(result).resolves.toBe('happened before');
  expect(calls).toEqual({ reads: 2, checks: 1, sends: 1 });
});

it('fails with the send error, read again, when the step still has not happened', async () => {
  const failure = new Error('connection refused');
  const { result, calls } = step({ done: false }, async () => {
    throw failure;
  });
  await expect(result).rejects.toBe(failure);
  expect(calls).toEqual({ reads: 2, checks: 1, sends: 1 });
});

it('sends nothing when the check refuses', async () => {
  let sends = 0;
  const refused = sendOnce({
    doing: 'testing',
    read: async () => 0,
    already: () => null,
    check: () => {
      throw new Error('refused');
    },
    send: async () => ++sends,
  });
  await expect(refused).rejects.toThrow('refused');
  expect(sends).toBe(0);
});
