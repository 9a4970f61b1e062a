import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setCondition, summarize } from './conditions.ts';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const t1 = new Date('2026-01-01T00:05:00.000Z');

describe('setCondition', () => {
  it('stamps a new condition with the time and the generation', () => {
    const [c] = setCondition(
      [],
      { type: 'Ready', status: 'False', reason: 'Provisioning', message: 'creating' },
      3,
      t0,
    );
    assert.deepEqual(c, {
      type: 'Ready',
      status: 'False',
      reason: 'Provisioning',
      message: 'creating',
      observedGeneration: 3,
      lastTransitionTime: '2026-01-01T00:00:00Z',
    });
  });

  it('keeps lastTransitionTime when only the reason, message or generation change', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, 1, t0);
    const [c] = setCondition(first, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, 2, t1);
    assert.equal(c?.lastTransitionTime, '2026-01-01T00:00:00Z');
    assert.equal(c?.reason, 'B');
    assert.equal(c?.observedGeneration, 2);
  });

  it('moves lastTransitionTime when the status flips', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, 1, t0);
    const [c] = setCondition(first, { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }, 1, t1);
    assert.equal(c?.lastTransitionTime, '2026-01-01T00:05:00Z');
  });

  it('leaves the other conditions alone and keeps them sorted by type', () => {
    let conditions = setCondition([], { type: 'Redis', status: 'True', reason: 'Ready', message: '' }, 1, t0);
    conditions = setCondition(conditions, { type: 'Namespace', status: 'True', reason: 'Ready', message: '' }, 1, t0);
    assert.deepEqual(
      conditions.map((c) => c.type),
      ['Namespace', 'Redis'],
    );
  });
});

describe('summarize', () => {
  it('is Ready when every part is True', () => {
    assert.equal(
      summarize([{ type: 'A', status: 'True', reason: 'Ok', message: '' }], 'Ready', 'all good').status,
      'True',
    );
  });

  it('names the first failing part in the Ready message', () => {
    const ready = summarize(
      [
        { type: 'Namespace', status: 'True', reason: 'Ready', message: '' },
        { type: 'Redis', status: 'False', reason: 'BackendUnreachable', message: 'connect ECONNREFUSED' },
      ],
      'Ready',
      '',
    );
    assert.deepEqual(ready, {
      type: 'Ready',
      status: 'False',
      reason: 'BackendUnreachable',
      message: 'Redis: connect ECONNREFUSED',
    });
  });
});
