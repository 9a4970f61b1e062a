/**
 * The gateway assembled: configuration from the API server, one Kafka producer for every
 * client of every protocol, Redis for limits, idempotency, connection caps and sessions,
 * and the REST/WebSocket, gRPC and health servers. `/readyz` is true only while the
 * configuration is synced, the producer reaches Kafka and the gateway is not draining.
 *
 * Drain (SIGTERM): readiness turns false at once and requests are still served for
 * `drainMs / 4` (at most 5 s), while load balancers take the pod out; then the listeners
 * close, requests and stream messages in flight are answered once Kafka acknowledged them
 * (or refused), WebSocket connections and gRPC streams are closed with "going away" so
 * clients resume their sessions elsewhere, and only then the producer closes. No event is
 * acknowledged that Kafka did not acknowledge first, so none acknowledged is lost.
 */
import type { IncomingMessage } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { IssuerKeys } from '../../lib/auth/issuer-keys.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import { EventProducer, type RecordSender } from '../../lib/kafka/producer.ts';
import { KubeClient } from '../../lib/kube/kube-client.ts';
import { KafkajsRecordSender } from '../../lib/kafka/producer-kafkajs.ts';
import { PlatformaticRecordSender } from '../../lib/kafka/producer-platformatic.ts';
import { serveHealth } from '../../lib/observability/health-server.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import { createRegistry } from '../../lib/observability/metrics.ts';
import { ConnectionLeases } from '../../lib/ratelimit/connection-leases.ts';
import { checkIp, compileIpFilter, normalizeAddress } from '../../lib/ratelimit/ip-filter.ts';
import { RedisLimiter } from '../../lib/ratelimit/redis-limiter.ts';
import { connectRedis } from '../../lib/redis/redis-connection.ts';
import { AppliedPoliciesLease } from './applied-policies-lease.ts';
import { watchConfig } from './config-watch.ts';
import { GatewayConfig } from './gateway-config.ts';
import { createGatewayMetrics } from './gateway-metrics.ts';
import { startGrpcServer } from './grpc-server.ts';
import { IdempotencyStore } from './idempotency.ts';
import { Ingestor } from './ingest.ts';
import { buildRestServer } from './rest-server.ts';
import { SchemaRegistry } from './schema-registry.ts';
import type { GatewaySettings } from './settings.ts';
import { SessionStore } from './stream-session.ts';
import { attachWebSocketIngest } from './websocket-server.ts';

/** A running gateway. */
export interface Gateway {
  httpPort: number;
  grpcPort: number;
  metricsPort: number;
  readonly ready: boolean;
  /** Drains and stops everything; resolves when the process may exit. */
  stop(): Promise<void>;
}

/** The client address of a raw request: the socket's, or the nearest untrusted one a trusted proxy forwarded. */
export function clientAddressOf(trustProxy: readonly string[]): (req: IncomingMessage) => string {
  const trusted = trustProxy.length ? compileIpFilter([{ ipAllow: [...trustProxy] }]) : undefined;
  return (req) => {
    const remote = normalizeAddress(req.socket.remoteAddress ?? '')?.address ?? '';
    if (!trusted || !checkIp(trusted, remote).allowed) return remote;
    const hops = String(req.headers['x-forwarded-for'] ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) if (!checkIp(trusted, hops[i]!).allowed) return hops[i]!;
    return hops[0] ?? remote;
  };
}

/** Starts a gateway; the configuration syncs and Kafka connects in the background. */
export async function startGateway(
  settings: GatewaySettings,
  deps: { kubeConfig: KubeConfig; log: Logger; clock: Clock },
): Promise<Gateway> {
  const { kubeConfig, log, clock } = deps;
  const registry = createRegistry();
  const metrics = createGatewayMetrics(registry);
  const limiterRedis = connectRedis({
    url: settings.redisUrl,
    connectionName: `weir-gateway-limiter:${settings.gatewayId}`,
    log,
    commandTimeoutMs: settings.limiterTimeoutMs,
    offlineQueue: false,
    maxRetriesPerRequest: 0,
    autoPipelining: true,
  });
  const stateRedis = connectRedis({
    url: settings.redisUrl,
    connectionName: `weir-gateway:${settings.gatewayId}`,
    log,
    commandTimeoutMs: 1_000,
    offlineQueue: false,
    maxRetriesPerRequest: 0,
    autoPipelining: true,
  });
  limiterRedis.connect().catch(() => undefined);
  stateRedis.connect().catch(() => undefined);

  // The gateway's only writes are its own Lease; it reads Weir resources and ConfigMaps.
  const client = new KubeClient(kubeConfig, { fieldManager: 'weir-gateway' });
  const config = new GatewayConfig({ keys: new IssuerKeys({ cooldownMs: settings.jwksCooldownMs }), clock, log });
  const watch = watchConfig({ client, config, clock, log });
  const schemas = new SchemaRegistry({ readConfigMap: watch.readConfigMap, log, now: () => clock.now() });
  config.onChange((table) => {
    schemas.retain(new Set(table.pipelines.keys()));
    metrics.pipelines.set(table.pipelines.size);
  });
  const clientId = `weir-gateway.${settings.gatewayId}`;
  const sender: RecordSender =
    settings.kafkaClient === 'kafkajs'
      ? new KafkajsRecordSender({ brokers: settings.kafka.brokers, security: settings.kafka, clientId, log })
      : new PlatformaticRecordSender({ brokers: settings.kafka.brokers, security: settings.kafka, clientId, log });
  const producer = new EventProducer({
    sender,
    clock,
    log,
    onBatch: (records, _bytes, ms, outcome) => {
      metrics.produceDuration.observe(ms / 1000);
      metrics.produceBatchRecords.observe(records);
      if (outcome === 'error') metrics.produceErrors.inc();
    },
  });
  // One producer serves every connection of every protocol.
  metrics.kafkaProducers.set(1);
  const limiter = new RedisLimiter({ redis: limiterRedis, clock, log });
  const idempotency = new IdempotencyStore({
    redis: stateRedis,
    owner: settings.gatewayId,
    ttlMs: settings.idempotencyTtlMs,
  });
  const leases = new ConnectionLeases({ redis: stateRedis, clock, log, ttlMs: settings.connectionLeaseMs });
  const sessions = new SessionStore({ redis: stateRedis, gateway: settings.gatewayId });
  const ingestor = new Ingestor({
    config,
    limiter,
    idempotency,
    schemas,
    producer,
    metrics,
    clock,
    log,
    quotaFailClosed: settings.quotaFailClosed,
    produceTimeoutMs: settings.produceTimeoutMs,
  });
  const limits = { maxEvents: settings.maxBatchEvents, maxDepth: settings.maxDepth };
  const streamDeps = {
    ingestor,
    config,
    leases,
    sessions,
    metrics,
    clock,
    log,
    gatewayId: settings.gatewayId,
    quotaFailClosed: settings.quotaFailClosed,
  };

  let synced = false;
  let draining = false;
  const health = await serveHealth({
    host: settings.host,
    port: settings.metricsPort,
    registry,
    healthy: () => true,
    ready: () => synced && producer.available && !draining,
  });
  const rest = buildRestServer({
    ingestor,
    config,
    metrics,
    log,
    bodyLimit: settings.bodyLimitBytes,
    limits,
    trustProxy: settings.trustProxy,
    produceTimeoutMs: settings.produceTimeoutMs,
  });
  const websocket = attachWebSocketIngest({
    ...streamDeps,
    server: rest.server,
    maxMessageBytes: settings.maxMessageBytes,
    heartbeatMs: settings.heartbeatMs,
    maxInFlight: settings.maxInFlightPerStream,
    clientIp: clientAddressOf(settings.trustProxy),
  });
  await rest.listen({ host: settings.host, port: settings.httpPort });
  const httpAddress = rest.server.address();
  const grpc = await startGrpcServer({
    ...streamDeps,
    host: settings.host,
    port: settings.grpcPort,
    maxMessageBytes: settings.maxMessageBytes,
    limits,
    maxInFlight: settings.maxInFlightPerStream,
  });

  const lease = settings.reportApplied
    ? new AppliedPoliciesLease({
        client,
        namespace: settings.platformNamespace,
        gatewayId: settings.gatewayId,
        clock,
        log,
      })
    : undefined;
  config.onChange((table) => lease?.update(table.applied));

  const stopping = new AbortController();
  watch.start();
  void watch.synced(stopping.signal).then(
    () => {
      synced = true;
      metrics.configReady.set(1);
      log.info(
        { pipelines: config.table.pipelines.size, tenants: config.table.tenantsByNamespace.size },
        'configuration synced',
      );
      void lease?.start();
    },
    () => undefined,
  );
  // Kafka may not be up yet: keep trying until it is, or until the gateway stops.
  void (async () => {
    for (let attempt = 0; !stopping.signal.aborted; attempt++) {
      try {
        await producer.connect();
        log.info({ client: sender.client }, 'Kafka producer connected');
        return;
      } catch (err) {
        if (attempt % 10 === 0)
          log.warn({ err: { message: (err as Error).message } }, 'Kafka not reachable yet; retrying');
        await clock.sleep(Math.min(5_000, 250 * 2 ** Math.min(attempt, 5)), stopping.signal).catch(() => undefined);
      }
    }
  })();
  const kafkaGauge = setInterval(() => metrics.kafkaAvailable.set(producer.available ? 1 : 0), 1_000).unref();

  return {
    httpPort: typeof httpAddress === 'object' && httpAddress ? httpAddress.port : settings.httpPort,
    grpcPort: grpc.port,
    metricsPort: health.port,
    get ready() {
      return synced && producer.available && !draining;
    },
    async stop() {
      draining = true;
      log.info({ drainMs: settings.drainMs }, 'draining');
      await clock.sleep(Math.min(5_000, settings.drainMs / 4));
      const deadline = clock.sleep(settings.drainMs).then(() => 'timeout' as const);
      const drained = Promise.all([rest.close(), websocket.drain(), grpc.drain()]).then(() => 'drained' as const);
      const how = await Promise.race([drained, deadline]);
      if (how === 'timeout') log.warn('drain took longer than allowed; closing what is left');
      stopping.abort();
      clearInterval(kafkaGauge);
      leases.stop();
      await Promise.allSettled([producer.close(), lease?.stop(), watch.stop()]);
      limiterRedis.disconnect();
      stateRedis.disconnect();
      await health.close();
      log.info('stopped');
    },
  };
}
