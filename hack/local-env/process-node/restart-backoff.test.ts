import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crashLoopMessage, formatDuration, RestartBackoff } from './restart-backoff.ts';

describe('the restart back-off', () => {
  it('restarts at once the first time, then waits 10 s, doubling up to 5 min', () => {
    const backoff = new RestartBackoff();
    const waits = Array.from({ length: 9 }, () => backoff.next(1_000) / 1000);
    assert.deepEqual(waits, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
  });

  it('starts over once a container ran for 10 minutes', () => {
    const backoff = new RestartBackoff();
    backoff.next(1_000);
    backoff.next(1_000);
    backoff.next(1_000);
    assert.equal(backoff.next(600_000), 0);
    assert.equal(backoff.next(1_000), 10_000);
  });

  it('says what the kubelet says while a container waits', () => {
    assert.equal(
      crashLoopMessage(20_000, 'processor', { name: 'p-1', namespace: 'tenant-a', uid: 'u1' }),
      'back-off 20s restarting failed container=processor pod=p-1_tenant-a(u1)',
    );
    assert.equal(formatDuration(300_000), '5m0s');
    assert.equal(formatDuration(160_000), '2m40s');
  });
});
