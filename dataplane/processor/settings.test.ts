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

  it('names the variable that is missing or malformed', () => {
    assert.throws(() => loadSettings({}), /WEIR_PIPELINE_CONFIG is not set/);
    assert.throws(
      () => loadSettings({ WEIR_PIPELINE_CONFIG: '/c.json', WEIR_METRICS_PORT: 'http' }),
      /WEIR_METRICS_PORT must be a port number, got 'http'/,
    );
  });
});
