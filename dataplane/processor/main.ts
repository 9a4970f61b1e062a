/**
 * The processor of one pipeline — for now only its skeleton. It reads and checks the
 * compiled configuration (WEIR_PIPELINE_CONFIG), connects to the pipeline's Kafka, checks
 * that its topics exist, and serves /healthz, /readyz and /metrics on WEIR_LISTEN_HOST
 * (default 0.0.0.0) and WEIR_METRICS_PORT (default 9090). It is ready only while Kafka
 * answers and the topics exist, and stops cleanly on SIGTERM.
 *
 * It does NOT consume from the input topic and never joins the consumer group or commits
 * offsets: the processing stages (enrich, aggregate, materialize, commit in the same
 * transaction as the outputs) come later, and committing offsets of events nobody
 * processed would lose them.
 *
 *   WEIR_PIPELINE_CONFIG=/etc/weir/pipeline.json node dataplane/processor/main.ts
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { createLogger, type Logger } from '../../lib/observability/logger.ts';
import { createRegistry } from '../../lib/observability/metrics.ts';
import { KafkajsTopicAdmin } from '../../lib/kafka/kafkajs-topic-admin.ts';
import { serveHealth } from '../../lib/observability/health-server.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import { loadProcessorConfig, type ProcessorConfig } from '../../lib/platform/processor-config.ts';
import { KafkaReadiness } from './kafka-readiness.ts';
import { loadSettings, type ProcessorSettings } from './settings.ts';

/** The processor's metrics, on its own registry. */
function processorMetrics(registry: Registry, config: ProcessorConfig) {
  new Gauge({
    name: 'weir_processor_info',
    help: 'The pipeline this processor serves.',
    labelNames: ['pipeline', 'consumer_group'],
    registers: [registry],
  })
    .labels(`${config.pipeline.namespace}/${config.pipeline.name}`, config.consumerGroup)
    .set(1);
  return {
    ready: new Gauge({
      name: 'weir_processor_ready',
      help: "1 while Kafka is reachable and the pipeline's topics exist.",
      registers: [registry],
    }),
    checks: new Counter({
      name: 'weir_processor_kafka_checks_total',
      help: "Checks of Kafka and the pipeline's topics, by result.",
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}

/** Runs until SIGTERM or SIGINT; resolves with the exit code. */
async function run(settings: ProcessorSettings, config: ProcessorConfig, log: Logger): Promise<number> {
  const registry = createRegistry();
  const metrics = processorMetrics(registry, config);
  const sasl = config.kafka.sasl;
  if (sasl && !settings.kafkaCredentials)
    throw weirError(
      Errors.InvalidConfig,
      `the pipeline's Kafka takes ${sasl.mechanism} credentials, but WEIR_KAFKA_USERNAME and WEIR_KAFKA_PASSWORD are not set`,
    );
  const admin = new KafkajsTopicAdmin({
    brokers: config.kafka.bootstrapServers,
    clientId: `weir-processor.${config.pipeline.namespace}.${config.pipeline.name}`,
    log,
    requestTimeoutMs: 3_000,
    connectionTimeoutMs: 1_000,
    sasl: sasl && { mechanism: sasl.mechanism, ...settings.kafkaCredentials! },
    tls: config.kafka.tls,
  });
  const readiness = new KafkaReadiness({
    admin,
    topics: Object.values(config.topics),
    log,
    onResult: (result) => {
      metrics.checks.labels(result).inc();
      metrics.ready.set(result === 'ok' ? 1 : 0);
    },
  });
  const stopping = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  const health = await serveHealth({
    host: settings.host,
    port: settings.port,
    registry,
    healthy: () => true,
    ready: () => readiness.ready,
  });
  readiness.start();
  log.info(
    { host: settings.host, port: health.port, consumerGroup: config.consumerGroup, topics: config.topics },
    'processor started (it does not consume yet)',
  );
  const signal = await stopping;
  log.info({ signal }, 'shutting down');
  await readiness.stop();
  await Promise.all([health.close(), admin.close()]);
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
  const log = createLogger({ component: 'weir-processor', level: settings.logLevel, base: { pipeline } });
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
