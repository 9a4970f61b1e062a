import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acceptPolicies, findConflicts, policiesFor, policyKey } from './policy-set.ts';
import { policy, rule } from './testing/policies.ts';

const older = '2030-01-01T00:00:00Z';
const newer = '2030-01-02T00:00:00Z';
const newest = '2030-01-03T00:00:00Z';
const names = (list: { metadata?: { name?: string } }[]) => list.map((p) => p.metadata?.name);

describe('conflicts between rate-limit policies', () => {
  it('finds two policies with a rule of the same name for the same pipeline', () => {
    const a = policy('a', { targetRef: { kind: 'Pipeline', name: 'orders' }, rules: [rule('per-device')] });
    const b = policy('b', { targetRef: { kind: 'Pipeline', name: 'orders' }, rules: [rule('per-device'), rule('x')] });
    assert.deepEqual(Object.fromEntries(findConflicts([a, b])), { 'tenant-acme/a': ['b'], 'tenant-acme/b': ['a'] });
  });

  it('sees no conflict between the same rule name on different pipelines', () => {
    const a = policy('a', { targetRef: { kind: 'Pipeline', name: 'orders' }, rules: [rule('r')] });
    const b = policy('b', { targetRef: { kind: 'Pipeline', name: 'clicks' }, rules: [rule('r')] });
    assert.deepEqual(Object.fromEntries(findConflicts([a, b])), { 'tenant-acme/a': [], 'tenant-acme/b': [] });
  });

  it('sees no conflict between a namespace-wide policy and a pipeline policy: both apply', () => {
    const a = policy('a', { rules: [rule('r')] });
    const b = policy('b', { targetRef: { kind: 'Pipeline', name: 'orders' }, rules: [rule('r')] });
    assert.deepEqual(findConflicts([a, b]).get('tenant-acme/a'), []);
  });

  it('sees no conflict between namespaces', () => {
    const a = policy('a', { rules: [rule('r')] });
    const b = policy('a', { rules: [rule('r')] }, { namespace: 'tenant-globex' });
    assert.deepEqual(findConflicts([a, b]).get('tenant-globex/a'), []);
  });

  it('finds two namespace-wide policies with the same rule name', () => {
    const a = policy('a', { rules: [rule('r')] });
    const b = policy('b', { rules: [rule('r')] });
    assert.deepEqual(findConflicts([a, b]).get('tenant-acme/b'), ['a']);
  });
});

describe('accepting rate-limit policies', () => {
  it('accepts the oldest of conflicting policies and refuses the newer one whole', () => {
    const a = policy('a', { rules: [rule('r'), rule('s')] }, { created: older });
    const b = policy('b', { rules: [rule('r'), rule('t')] }, { created: newer });
    const { accepted, refused } = acceptPolicies([b, a]);
    assert.deepEqual(names(accepted), ['a']);
    assert.deepEqual(Object.fromEntries(refused), { 'tenant-acme/b': ['a'] });
  });

  it('accepts a policy that conflicts only with a refused one', () => {
    const a = policy('a', { rules: [rule('r')] }, { created: older });
    const b = policy('b', { rules: [rule('r'), rule('s')] }, { created: newer });
    const c = policy('c', { rules: [rule('s')] }, { created: newest });
    const { accepted, refused, conflicts } = acceptPolicies([a, b, c]);
    assert.deepEqual(names(accepted), ['a', 'c']);
    assert.deepEqual([...refused.keys()], ['tenant-acme/b']);
    assert.deepEqual(conflicts.get('tenant-acme/c'), ['b']);
  });

  it('breaks a tie of creation times by name', () => {
    const { accepted } = acceptPolicies([
      policy('zeta', { rules: [rule('r')] }),
      policy('alpha', { rules: [rule('r')] }),
    ]);
    assert.deepEqual(names(accepted), ['alpha']);
  });

  it('accepts every policy when none conflict', () => {
    const list = [policy('a', { rules: [rule('r')] }), policy('b', { rules: [rule('s')] })];
    assert.deepEqual(names(acceptPolicies(list).accepted).sort(), ['a', 'b']);
  });
});

describe('the policies that apply to a pipeline', () => {
  const wide = policy('wide', { rules: [rule('w')] }, { created: newer });
  const orders = policy(
    'orders',
    { targetRef: { kind: 'Pipeline', name: 'orders' }, rules: [rule('o')] },
    { created: older },
  );
  const clicks = policy('clicks', { targetRef: { kind: 'Pipeline', name: 'clicks' }, rules: [rule('c')] });
  const foreign = policy('foreign', { rules: [rule('f')] }, { namespace: 'tenant-globex' });

  it("puts the namespace's own policies first, then the pipeline's, and leaves out the others", () => {
    assert.deepEqual(names(policiesFor([orders, clicks, wide, foreign], 'tenant-acme', 'orders')), ['wide', 'orders']);
  });

  it("never applies another namespace's policies", () => {
    assert.deepEqual(names(policiesFor([foreign], 'tenant-acme', 'orders')), []);
  });

  it('keys policies by namespace and name', () => assert.equal(policyKey(foreign), 'tenant-globex/foreign'));
});
