import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isNewerVersion, mergeFieldSets } from './apply.ts';

describe('mergeFieldSets', () => {
  it('unites two managedFields field sets, nested keys included', () => {
    const applied = { 'f:metadata': { 'f:labels': { 'f:a': {} } }, 'f:spec': { 'f:hard': { 'f:cpu': {} } } };
    const created = {
      'f:metadata': { 'f:labels': { 'f:b': {} } },
      'f:spec': { 'f:hard': { 'f:cpu': {}, 'f:memory': {} } },
      'f:type': {},
    };
    assert.deepEqual(mergeFieldSets(applied, created), {
      'f:metadata': { 'f:labels': { 'f:a': {}, 'f:b': {} } },
      'f:spec': { 'f:hard': { 'f:cpu': {}, 'f:memory': {} } },
      'f:type': {},
    });
    assert.deepEqual(applied['f:metadata']['f:labels'], { 'f:a': {} }, 'the inputs are left alone');
  });

  it('takes a missing side as empty', () => {
    assert.deepEqual(mergeFieldSets(undefined, { 'f:data': {} }), { 'f:data': {} });
  });
});

describe('isNewerVersion', () => {
  it('compares numeric resource versions and prefers the cache otherwise', () => {
    assert.equal(isNewerVersion('12', '9'), true);
    assert.equal(isNewerVersion('9', '12'), false);
    assert.equal(isNewerVersion('abc', '1'), false);
  });
});
