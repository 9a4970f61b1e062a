import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from './main.ts';

describe('loadConfig', () => {
  it("uses client-go's leader election timings and leader election by default", () => {
    const c = loadConfig([], {});
    assert.equal(c.leaderElect, true);
    assert.deepEqual([c.leaseDurationMs, c.renewDeadlineMs, c.retryPeriodMs], [15_000, 10_000, 2_000]);
    assert.equal(c.leaderElectionNamespace, 'weir-system');
  });

  it('prefers flags over WEIR_* variables over defaults', () => {
    const c = loadConfig(['--concurrency=3'], {
      WEIR_CONCURRENCY: '5',
      WEIR_HEALTH_PORT: '9090',
      POD_NAMESPACE: 'platform',
    });
    assert.equal(c.concurrency, 3);
    assert.equal(c.healthPort, 9090);
    assert.equal(c.leaderElectionNamespace, 'platform');
  });

  it('names the flag and the variable when a value is bad', () => {
    assert.throws(
      () => loadConfig(['--concurrency=zero'], {}),
      /--concurrency \(WEIR_CONCURRENCY\) must be an integer of at least 1, got 'zero'/,
    );
    assert.throws(
      () => loadConfig([], { WEIR_LEADER_ELECT: 'yes' }),
      /--leader-elect \(WEIR_LEADER_ELECT\) must be true or false, got 'yes'/,
    );
  });

  it('rejects an unknown flag', () => {
    assert.throws(() => loadConfig(['--concurency=3'], {}), /Unknown option '--concurency'/);
  });
});
