import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PipelineSpec, TopicRoles } from '../../crds/pipeline.ts';
import { Errors, hasCode } from '../errors/errors.ts';
import { consumerGroup, topicName } from './pipeline-names.ts';
import { loadProcessorConfig, parseProcessorConfig, serializeProcessorConfig } from './processor-config.ts';

/** A configuration as the operator serializes it, parsed back. */
function operatorOutput(): Record<string, unknown> {
  const spec = PipelineSpec.parse({ source: { partitions: 3 } });
  const text = serializeProcessorConfig({
    pipeline: { namespace: 'tenant-acme', name: 'clicks' },
    consumerGroup: consumerGroup('tenant-acme', 'clicks'),
    kafka: { bootstrapServers: ['127.0.0.1:9092'] },
    topics: Object.fromEntries(TopicRoles.map((role) => [role, topicName('tenant-acme', 'clicks', role)])) as Record<
      (typeof TopicRoles)[number],
      string
    >,
    tenant: { name: 'acme', piiFields: ['/user/email'] },
    spec,
  });
  return JSON.parse(text) as Record<string, unknown>;
}

function writeTemp(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'weir-processor-config-')), 'pipeline.json');
  writeFileSync(path, content);
  return path;
}

describe('the processor configuration', () => {
  it('accepts what it serialized', () => {
    const config = parseProcessorConfig(operatorOutput());
    assert.deepEqual(config.pipeline, { namespace: 'tenant-acme', name: 'clicks' });
    assert.equal(config.topics.Input, 'weir.tenant-acme.clicks.input');
    assert.equal(config.topics.DeadLetter, 'weir.tenant-acme.clicks.dlq');
    assert.equal(config.spec.source.partitions, 3);
  });

  it('names the missing field', () => {
    const raw = operatorOutput();
    delete (raw.topics as Record<string, unknown>).Input;
    assert.throws(
      () => parseProcessorConfig(raw),
      (err: Error) => hasCode(err, Errors.InvalidConfig) && /topics\.Input: /.test(err.message),
    );
  });

  it('names a bad list element by its index', () => {
    const raw = { ...operatorOutput(), kafka: { bootstrapServers: ['127.0.0.1:9092', 'no-port'] } };
    assert.throws(() => parseProcessorConfig(raw), /kafka\.bootstrapServers\[1\]: must be host:port/);
  });

  it('accepts bracketed IPv6 bootstrap servers', () => {
    const raw = { ...operatorOutput(), kafka: { bootstrapServers: ['[::1]:9092', '[2001:db8::7]:19092'] } };
    assert.deepEqual(parseProcessorConfig(raw).kafka.bootstrapServers, ['[::1]:9092', '[2001:db8::7]:19092']);
  });

  it('refuses to serialize what it would refuse to read', () => {
    const raw = operatorOutput();
    delete (raw.topics as Record<string, unknown>).Changelog;
    assert.throws(
      () => serializeProcessorConfig(raw as never),
      /compiled processor configuration is invalid: topics\.Changelog/,
    );
  });

  it('names the tenant and its PII fields', () => {
    assert.deepEqual(parseProcessorConfig(operatorOutput()).tenant, { name: 'acme', piiFields: ['/user/email'] });
  });

  it('refuses a configuration without any Kafka bootstrap server', () => {
    const raw = { ...operatorOutput(), kafka: { bootstrapServers: [] } };
    assert.throws(() => parseProcessorConfig(raw), /kafka\.bootstrapServers: /);
  });

  it('refuses a pipeline spec the CRD would refuse, naming the spec field', () => {
    const raw = operatorOutput();
    (raw.spec as { source: { partitions: unknown } }).source.partitions = 'three';
    assert.throws(() => parseProcessorConfig(raw), /spec\.source\.partitions: /);
  });

  it('names the file when it is not JSON or cannot be read', () => {
    const path = writeTemp('{ not json');
    assert.throws(() => loadProcessorConfig(path), new RegExp(`the configuration ${path} is not JSON`));
    assert.throws(
      () => loadProcessorConfig(`${path}.missing`),
      /cannot read the configuration .*pipeline\.json\.missing/,
    );
  });

  it('reads a valid file', () => {
    const path = writeTemp(JSON.stringify(operatorOutput()));
    assert.equal(loadProcessorConfig(path).consumerGroup, 'weir.tenant-acme.clicks.processor');
  });
});
