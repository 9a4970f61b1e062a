import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSettings } from './settings.ts';

describe('the processor settings', () => {
  it('listens on every address at port 9090 unless told otherwise', () => {
    const s = loadSettings({ WEIR_PIPELINE_CONFIG: '/etc/weir/pipeline.json' });
    assert.deepEqual([s.host, s.port, s.logLevel, s.pipeline], ['0.0.0.0', 9090, 'info', undefined]);
  });

  it('binds where the process node tells it to', () => {
    const s = loadSettings({
      WEIR_PIPELINE_CONFIG: '/c.json',
      WEIR_LISTEN_HOST: '127.42.0.7',
      WEIR_METRICS_PORT: '0',
      WEIR_PIPELINE: 'tenant-a/clicks',
    });
    assert.deepEqual([s.host, s.port, s.pipeline], ['127.42.0.7', 0, 'tenant-a/clicks']);
  });

  it('delivers exactly once unless told at-least-once, and refuses anything else', () => {
    assert.equal(loadSettings({ WEIR_PIPELINE_CONFIG: '/c.json' }).delivery, 'exactly-once');
    assert.equal(
      loadSettings({ WEIR_PIPELINE_CONFIG: '/c.json', WEIR_PROCESSOR_DELIVERY: 'at-least-once' }).delivery,
      'at-least-once',
    );
    assert.throws(
      () => loadSettings({ WEIR_PIPELINE_CONFIG: '/c.json', WEIR_PROCESSOR_DELIVERY: 'maybe' }),
      /WEIR_PROCESSOR_DELIVERY must be/,
    );
  });

  it("reads the tenant's Redis and Postgres credentials when given, and names a missing one", () => {
    const redis = {
      WEIR_REDIS_ENDPOINT: '127.0.0.1:6379',
      WEIR_REDIS_USERNAME: 'u',
      WEIR_REDIS_PASSWORD: 'p',
      WEIR_REDIS_KEY_PREFIX: 'tenant:a:',
    };
    const s = loadSettings({ WEIR_PIPELINE_CONFIG: '/c.json', ...redis });
    assert.deepEqual(s.redis, { endpoint: '127.0.0.1:6379', username: 'u', password: 'p', keyPrefix: 'tenant:a:' });
    assert.equal(s.postgres, undefined);
    assert.throws(
      () => loadSettings({ WEIR_PIPELINE_CONFIG: '/c.json', ...redis, WEIR_REDIS_PASSWORD: '' }),
      /WEIR_REDIS_PASSWORD is not set, though other credentials of that backend are/,
    );
  });

  it('names the variable that is missing or malformed', () => {
    assert.throws(() => loadSettings({}), /WEIR_PIPELINE_CONFIG is not set/);
    assert.throws(
      () => loadSettings({ WEIR_PIPELINE_CONFIG: '/c.json', WEIR_METRICS_PORT: 'http' }),
      /WEIR_METRICS_PORT must be a port number, got 'http'/,
    );
  });
});
