import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadGatewaySettings } from './settings.ts';

const base = { WEIR_KAFKA_BROKERS: 'k1:9092,k2:9092', WEIR_REDIS_URL: 'redis://redis:6379' };

describe('the gateway settings', () => {
  it('takes defaults for everything but Kafka and Redis', () => {
    const s = loadGatewaySettings([], { ...base, POD_NAME: 'gw-abc', POD_NAMESPACE: 'weir' });
    assert.deepEqual(s.kafka, { brokers: ['k1:9092', 'k2:9092'] });
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

  it("connects to Kafka as the Secret's SCRAM user, with TLS when asked", () => {
    const s = loadGatewaySettings(['--kafka-tls', 'true'], {
      ...base,
      WEIR_KAFKA_USERNAME: 'weir-gateway',
      WEIR_KAFKA_PASSWORD: 'secret',
      WEIR_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
    });
    assert.deepEqual(s.kafka, {
      brokers: ['k1:9092', 'k2:9092'],
      sasl: { mechanism: 'SCRAM-SHA-256', username: 'weir-gateway', password: 'secret' },
      tls: true,
    });
  });

  const refusals: [string, string[], Record<string, string>, RegExp][] = [
    [
      'refuses a Kafka user without its password',
      [],
      { ...base, WEIR_KAFKA_USERNAME: 'weir-gateway' },
      /WEIR_KAFKA_USERNAME and WEIR_KAFKA_PASSWORD must be set together/,
    ],
    [
      'names a SASL mechanism Weir does not speak',
      ['--kafka-sasl-mechanism', 'PLAIN'],
      base,
      /--kafka-sasl-mechanism .* must be one of SCRAM-SHA-256, SCRAM-SHA-512/,
    ],
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
