import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admitCall, callFailed, callSucceeded, CLOSED, type BreakerState } from './store-breaker.ts';

const settings = { failuresToOpen: 3, openMs: 1000, probeTimeoutMs: 2000 };

describe('the rate-limit store breaker', () => {
  it('lets every call through while closed', () => {
    assert.deepEqual(admitCall(CLOSED, 0, settings), { call: true, state: CLOSED });
  });

  it('stays closed for fewer failures in a row than it takes to open', () => {
    let state: BreakerState = CLOSED;
    state = callFailed(state, 0, settings);
    state = callFailed(state, 0, settings);
    assert.deepEqual(state, { kind: 'closed', failures: 2 });
  });

  it('forgets failures once a call succeeds', () => {
    assert.deepEqual(callSucceeded(), CLOSED);
  });

  it('opens after enough failures in a row and refuses calls until the open time is over', () => {
    let state: BreakerState = { kind: 'closed', failures: 2 };
    state = callFailed(state, 5_000, settings);
    assert.deepEqual(state, { kind: 'open', until: 6_000 });
    assert.equal(admitCall(state, 5_999, settings).call, false);
  });

  it('lets one probe through after the open time, and no second one while it is out', () => {
    const probing = admitCall({ kind: 'open', until: 6_000 }, 6_000, settings);
    assert.deepEqual(probing, { call: true, state: { kind: 'probing', since: 6_000 } });
    assert.equal(admitCall(probing.state, 6_500, settings).call, false);
  });

  it('opens again when the probe fails', () => {
    assert.deepEqual(callFailed({ kind: 'probing', since: 6_000 }, 6_100, settings), { kind: 'open', until: 7_100 });
  });

  it('lets another probe through when one never came back', () => {
    assert.equal(admitCall({ kind: 'probing', since: 6_000 }, 8_000, settings).call, true);
  });
});
