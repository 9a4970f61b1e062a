import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadGatewaySettings } from './settings.ts';

const base = { WEIR_KAFKA_BROKERS: 'k1:9092,k2:9092', WEIR_REDIS_URL: 'redis://redis:6379' };

describe('the gateway settings', () => {
  it('takes defaults for everything but Kafka and Redis', () => {
    const s = loadGatewaySettings([], { ...base, POD_NAME: 'gw-abc', POD_NAMESPACE: 'weir' });
    assert.deepEqual(s.kafkaBrokers, ['k1:9092', 'k2:9092']);
    assert.equal(s.gatewayId, 'gw-abc');
    assert.equal(s.platformNamespace, 'weir');
    assert.equal(s.httpPort, 8080);
    assert.equal(s.kafkaClient, 'platformatic');
    assert.equal(s.quotaFailClosed, false);
  });

  it('lets flags win over variables', () => {
    assert.equal(loadGatewaySettings(['--http-port', '9000'], { ...base, WEIR_HTTP_PORT: '7000' }).httpPort, 9000);
  });

  it("puts the Secret's password into the Redis URL without it being a flag", () => {
    const s = loadGatewaySettings([], { ...base, WEIR_REDIS_PASSWORD: 'p@ss/word' });
    assert.equal(new URL(s.redisUrl).password, encodeURIComponent('p@ss/word'));
  });

  const refusals: [string, string[], Record<string, string>, RegExp][] = [
    ['requires the Kafka brokers', [], { WEIR_REDIS_URL: 'redis://r:1' }, /--kafka-brokers/],
    ['requires a redis URL', [], { WEIR_KAFKA_BROKERS: 'k:1', WEIR_REDIS_URL: 'http://r' }, /--redis-url/],
    [
      'names a bad number and its flag',
      ['--http-port', 'eighty'],
      base,
      /--http-port \(WEIR_HTTP_PORT\) must be an integer/,
    ],
    [
      'names a bad choice and its flag',
      ['--kafka-client', 'rdkafka'],
      base,
      /--kafka-client .* must be one of platformatic, kafkajs/,
    ],
    ['refuses an unknown flag', ['--nope', '1'], base, /nope/],
  ];
  for (const [name, argv, env, message] of refusals)
    it(name, () => assert.throws(() => loadGatewaySettings(argv, env), { message }));
});
