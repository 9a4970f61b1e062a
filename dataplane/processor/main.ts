/**
 * The processor of one pipeline. It reads its compiled configuration (WEIR_PIPELINE_CONFIG),
 * joins the pipeline's consumer group on the input and retry topics, and for every batch
 * enriches, masks and aggregates the events, writes results to Redis and Postgres as the
 * tenant, and commits outputs, window state and offsets in one Kafka transaction. It serves
 * /healthz, /readyz and /metrics on WEIR_LISTEN_HOST (default 0.0.0.0) and WEIR_METRICS_PORT
 * (default 9090); it is ready while Kafka answers, the topics exist and its tasks are
 * restored, and on SIGTERM it commits what it has, leaves the group and exits.
 *
 *   WEIR_PIPELINE_CONFIG=/etc/weir/pipeline.json node dataplane/processor/main.ts
 */
// First: kafkajs must load with its read_committed filter fixed, before anything else imports it.
import '../../lib/kafka/consumer-kafkajs-fixed.ts';
import { systemClock } from '../../lib/clock/clock.ts';
import { KafkajsTopicAdmin } from '../../lib/kafka/kafkajs-topic-admin.ts';
import { serveHealth } from '../../lib/observability/health-server.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import { createLogger, type Logger } from '../../lib/observability/logger.ts';
import { createRegistry } from '../../lib/observability/metrics.ts';
import type { KafkaConnection } from '../../lib/kafka/kafka-connection.ts';
import { loadProcessorConfig, type ProcessorConfig } from '../../lib/platform/processor-config.ts';
import { durationMs } from '../../lib/platform/duration.ts';
import { FunctionSandbox, loadSandboxModule } from './engine/function-sandbox.ts';
import { KafkaReadiness } from './kafka-readiness.ts';
import { planPipeline } from './pipeline-plan.ts';
import { processorMetrics } from './processor-metrics.ts';
import { ProcessorRuntime } from './processor-runtime.ts';
import { loadSettings, type ProcessorSettings } from './settings.ts';
import { connectSinks } from './sinks/connect-sinks.ts';

/** Runs until SIGTERM or SIGINT; resolves with the exit code. */
async function run(settings: ProcessorSettings, config: ProcessorConfig, log: Logger): Promise<number> {
  const plan = planPipeline(config);
  const registry = createRegistry();
  const pipeline = `${config.pipeline.namespace}/${config.pipeline.name}`;
  const metrics = processorMetrics(registry, { pipeline, consumerGroup: config.consumerGroup });
  const wasm = config.spec.functions?.length ? await loadSandboxModule() : undefined;
  const functions = new Map(
    (config.spec.functions ?? []).map((f) => [
      f.name,
      new FunctionSandbox(wasm!, {
        name: f.name,
        source: f.source,
        timeoutMs: durationMs(f.timeout),
        memoryBytes: f.memoryMiB * 2 ** 20,
      }),
    ]),
  );
  const backends = await connectSinks({ settings, config, log, registry });
  const sasl = config.kafka.sasl;
  if (sasl && !settings.kafkaCredentials)
    throw weirError(
      Errors.InvalidConfig,
      `the pipeline's Kafka takes ${sasl.mechanism} credentials, but WEIR_KAFKA_USERNAME and WEIR_KAFKA_PASSWORD are not set`,
    );
  // Every Kafka client of the processor connects as the tenant's own user where the Region asks for one.
  const kafka: KafkaConnection = {
    brokers: config.kafka.bootstrapServers,
    sasl: sasl && { mechanism: sasl.mechanism, ...settings.kafkaCredentials! },
    tls: config.kafka.tls,
  };
  const admin = new KafkajsTopicAdmin({
    brokers: config.kafka.bootstrapServers,
    clientId: `weir-processor.${config.pipeline.namespace}.${config.pipeline.name}`,
    log,
    requestTimeoutMs: 3_000,
    connectionTimeoutMs: 1_000,
    sasl: kafka.sasl,
    tls: kafka.tls,
  });
  const readiness = new KafkaReadiness({
    admin,
    topics: Object.values(config.topics).filter((t): t is string => t !== undefined),
    log,
    onResult: (result) => metrics.checks.labels(result).inc(),
  });
  const runtime = new ProcessorRuntime({
    config,
    kafka,
    plan,
    delivery: settings.delivery,
    clock: systemClock,
    log,
    metrics,
    sinks: backends.sinks,
    enricher: backends.enricher,
    mask: backends.mask,
    functions,
    clientId: `weir-processor.${config.pipeline.namespace}.${config.pipeline.name}.${settings.replica}`,
  });
  const ready = () => readiness.ready && runtime.ready;
  const stopping = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  const health = await serveHealth({ host: settings.host, port: settings.port, registry, healthy: () => true, ready });
  const gauge = setInterval(() => metrics.ready.set(ready() ? 1 : 0), 1_000);
  readiness.start();
  log.info(
    {
      host: settings.host,
      port: health.port,
      consumerGroup: config.consumerGroup,
      mode: plan.mode,
      why: plan.modeReason,
      delivery: settings.delivery,
    },
    'processor started',
  );
  await runtime.start();
  const signal = await stopping;
  log.info({ signal }, 'shutting down');
  clearInterval(gauge);
  await readiness.stop();
  await runtime.stop();
  await Promise.all([health.close(), admin.close(), backends.close()]);
  for (const f of functions.values()) f.dispose();
  log.info('stopped');
  return 0;
}

async function main(): Promise<number> {
  let settings: ProcessorSettings;
  try {
    settings = loadSettings(process.env);
  } catch (err) {
    createLogger({ component: 'weir-processor', base: { pipeline: process.env.WEIR_PIPELINE } }).fatal(
      (err as Error).message,
    );
    return 1;
  }
  const bootLog = createLogger({
    component: 'weir-processor',
    level: settings.logLevel,
    base: { pipeline: settings.pipeline },
  });
  let config: ProcessorConfig;
  try {
    config = loadProcessorConfig(settings.configPath);
    planPipeline(config);
  } catch (err) {
    bootLog.fatal((err as Error).message);
    return 1;
  }
  const pipeline = `${config.pipeline.namespace}/${config.pipeline.name}`;
  if (settings.pipeline && settings.pipeline !== pipeline)
    bootLog.warn(
      { configured: pipeline },
      'WEIR_PIPELINE names another pipeline than the configuration; the configuration wins',
    );
  const log = createLogger({
    component: 'weir-processor',
    level: settings.logLevel,
    base: { pipeline, replica: settings.replica },
  });
  // Node prints process warnings to stderr as plain text (kafkajs 2.2.4 sets a negative
  // timeout, which Node 24 warns about); logged here instead, the log stays JSON lines.
  process.removeAllListeners('warning');
  process.on('warning', (warning) =>
    log.warn({ warning: { name: warning.name, message: warning.message } }, 'process warning'),
  );
  return run(settings, config, log);
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (err: Error) => {
      createLogger({ component: 'weir-processor', base: { pipeline: process.env.WEIR_PIPELINE } }).fatal(
        { err },
        'processor failed',
      );
      process.exit(1);
    },
  );
}
