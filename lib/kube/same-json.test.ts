import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sameJson } from './same-json.ts';

describe('sameJson', () => {
  it('treats a status read back from the API server, keys sorted, as the one written', () => {
    const written = {
      phase: 'Ready',
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Ready',
          message: 'ok',
          observedGeneration: 1,
          lastTransitionTime: '2026-11-24T08:00:00Z',
        },
      ],
    };
    const readBack = JSON.parse(
      '{"conditions":[{"lastTransitionTime":"2026-11-24T08:00:00Z","message":"ok","observedGeneration":1,"reason":"Ready","status":"True","type":"Ready"}],"phase":"Ready"}',
    );
    assert.notEqual(JSON.stringify(written), JSON.stringify(readBack));
    assert.equal(sameJson(written, readBack), true);
  });

  it('ignores members that are undefined, since they are never stored', () => {
    assert.equal(sameJson({ topics: [{ name: 't', topicId: undefined }] }, { topics: [{ name: 't' }] }), true);
  });

  it('sees a changed value, a changed list order and a missing member', () => {
    assert.equal(sameJson({ phase: 'Ready' }, { phase: 'Degraded' }), false);
    assert.equal(sameJson({ list: [1, 2] }, { list: [2, 1] }), false);
    assert.equal(sameJson({ a: 1, b: 2 }, { a: 1 }), false);
    assert.equal(sameJson(undefined, {}), false);
  });
});
