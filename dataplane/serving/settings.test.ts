import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadServingSettings } from './settings.ts';

const env = { WEIR_REDIS_URL: 'redis://redis:6379', WEIR_POSTGRES_URL: 'postgres://serving@postgres:5432/weir' };

describe('the serving settings', () => {
  it('takes flags over variables over defaults', () => {
    const s = loadServingSettings(['--http-port', '9000'], { ...env, WEIR_HTTP_PORT: '8000', WEIR_GRPC_PORT: '7000' });
    assert.equal(s.httpPort, 9000);
    assert.equal(s.grpcPort, 7000);
    assert.equal(s.metricsPort, 9090);
    assert.equal(s.maxPageSize, 1000);
  });

  it('puts the passwords from the environment into the URLs', () => {
    const s = loadServingSettings([], { ...env, WEIR_REDIS_PASSWORD: 'p@ss', WEIR_POSTGRES_PASSWORD: 's3cret' });
    assert.equal(new URL(s.redisUrl).password, encodeURIComponent('p@ss'));
    assert.equal(new URL(s.postgresUrl).password, 's3cret');
  });

  it('names the flag and variable of a bad value', () => {
    assert.throws(() => loadServingSettings(['--max-page-size', '0'], env), /--max-page-size \(WEIR_MAX_PAGE_SIZE\)/);
    assert.throws(() => loadServingSettings([], { ...env, WEIR_REDIS_URL: '' }), /--redis-url \(WEIR_REDIS_URL\)/);
    assert.throws(
      () => loadServingSettings([], { ...env, WEIR_POSTGRES_URL: 'mysql://x' }),
      /--postgres-url \(WEIR_POSTGRES_URL\)/,
    );
  });
});
