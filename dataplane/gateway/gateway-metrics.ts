/**
 * The gateway's Prometheus metrics. The metering counters are what a bill is computed
 * from: per tenant and pipeline, events and bytes accepted (acknowledged by Kafka), events
 * rejected by reason, and events limited (and shadow-limited) by limit. Only tenants and
 * pipelines the gateway knows appear as label values — requests for unknown ones are
 * counted without them — so no client can make up label values.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Protocol } from './routing-table.ts';

/** Why events were refused; the `reason` label of the rejected counter. */
export type RejectReason =
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'ip_denied'
  | 'invalid'
  | 'too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'store_unavailable'
  | 'kafka_unavailable'
  | 'not_ready'
  | 'conflict'
  | 'internal';

const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Registers the gateway's metrics on `registry`. */
export function createGatewayMetrics(registry: Registry) {
  const registers = [registry];
  return {
    eventsAccepted: new Counter({
      name: 'weir_gateway_events_accepted_total',
      help: 'Events acknowledged by Kafka, per tenant, pipeline and protocol.',
      labelNames: ['tenant', 'pipeline', 'protocol'],
      registers,
    }),
    bytesAccepted: new Counter({
      name: 'weir_gateway_bytes_accepted_total',
      help: 'Payload bytes of events acknowledged by Kafka, per tenant, pipeline and protocol.',
      labelNames: ['tenant', 'pipeline', 'protocol'],
      registers,
    }),
    eventsRejected: new Counter({
      name: 'weir_gateway_events_rejected_total',
      help: 'Events refused, per tenant, pipeline, protocol and reason.',
      labelNames: ['tenant', 'pipeline', 'protocol', 'reason'],
      registers,
    }),
    eventsLimited: new Counter({
      name: 'weir_gateway_events_limited_total',
      help: 'Events refused by a rate limit, per tenant, pipeline and limit.',
      labelNames: ['tenant', 'pipeline', 'limit'],
      registers,
    }),
    eventsShadowLimited: new Counter({
      name: 'weir_gateway_events_shadow_limited_total',
      help: 'Events a Shadow-mode limit would have refused (they were not), per tenant, pipeline and limit.',
      labelNames: ['tenant', 'pipeline', 'limit'],
      registers,
    }),
    invalidEvents: new Counter({
      name: 'weir_gateway_events_invalid_total',
      help: 'Events refused by schema validation or as malformed, per tenant and pipeline.',
      labelNames: ['tenant', 'pipeline'],
      registers,
    }),
    requests: new Counter({
      name: 'weir_gateway_requests_total',
      help: 'Requests and stream messages handled, per protocol and answer (HTTP status).',
      labelNames: ['protocol', 'code'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'weir_gateway_request_duration_seconds',
      help: 'Time from receiving a request or stream message to answering it, per protocol.',
      labelNames: ['protocol'],
      buckets: latencyBuckets,
      registers,
    }),
    produceDuration: new Histogram({
      name: 'weir_gateway_kafka_produce_duration_seconds',
      help: 'Time Kafka took to acknowledge one batch.',
      buckets: latencyBuckets,
      registers,
    }),
    produceBatchRecords: new Histogram({
      name: 'weir_gateway_kafka_batch_records',
      help: 'Records per batch sent to Kafka.',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000],
      registers,
    }),
    produceErrors: new Counter({
      name: 'weir_gateway_kafka_produce_errors_total',
      help: 'Batches Kafka did not acknowledge.',
      registers,
    }),
    limiterDecisions: new Histogram({
      name: 'weir_gateway_ratelimit_decision_duration_seconds',
      help: 'Time one rate-limit decision took, per source (store, failOpen, failClosed).',
      labelNames: ['source'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers,
    }),
    storeUnavailable: new Counter({
      name: 'weir_gateway_ratelimit_store_unavailable_total',
      help: 'Decisions made by a failure mode because Redis could not be asked, per mode.',
      labelNames: ['mode'],
      registers,
    }),
    connections: new Gauge({
      name: 'weir_gateway_stream_connections',
      help: 'Open WebSocket connections and gRPC streams on this gateway, per tenant and protocol.',
      labelNames: ['tenant', 'protocol'],
      registers,
    }),
    connectionsRefused: new Counter({
      name: 'weir_gateway_stream_connections_refused_total',
      help: 'Streams refused because a connection cap was reached, per tenant and cap.',
      labelNames: ['tenant', 'cap'],
      registers,
    }),
    configReady: new Gauge({
      name: 'weir_gateway_config_synced',
      help: '1 once Tenants, Pipelines and RateLimitPolicies have been listed.',
      registers,
    }),
    kafkaAvailable: new Gauge({
      name: 'weir_gateway_kafka_available',
      help: '1 while the producer reaches Kafka.',
      registers,
    }),
    kafkaProducers: new Gauge({
      name: 'weir_gateway_kafka_producers',
      help: 'Kafka producers this process holds, whatever the number of clients.',
      registers,
    }),
    pipelines: new Gauge({
      name: 'weir_gateway_pipelines',
      help: 'Pipelines the gateway serves.',
      registers,
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

/** Labels of a request whose pipeline may be unknown: unknown ones get empty labels. */
export function meteringLabels(
  route: { tenant: { name: string }; key: string } | undefined,
  protocol: Protocol,
): { tenant: string; pipeline: string; protocol: Protocol } {
  return { tenant: route?.tenant.name ?? '', pipeline: route?.key ?? '', protocol };
}
