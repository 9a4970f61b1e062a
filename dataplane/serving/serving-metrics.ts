/**
 * Serving's Prometheus metrics. Only tenants serving knows appear as label values, so no
 * client can make up label values.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Registers serving's metrics on `registry`. */
export function createServingMetrics(registry: Registry) {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'weir_serving_requests_total',
      help: 'Requests answered, per protocol (rest, graphql, grpc) and answer (HTTP status).',
      labelNames: ['protocol', 'code'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'weir_serving_request_duration_seconds',
      help: 'Time from receiving a request to answering it, per protocol.',
      labelNames: ['protocol'],
      buckets: latencyBuckets,
      registers,
    }),
    backendCalls: new Counter({
      name: 'weir_serving_backend_calls_total',
      help: 'Round trips to the result stores, per backend (redis, postgres); a batch of reads is one.',
      labelNames: ['backend'],
      registers,
    }),
    subscribers: new Gauge({
      name: 'weir_serving_subscribers',
      help: 'Open live subscriptions (GraphQL subscriptions and gRPC watches), per tenant.',
      labelNames: ['tenant'],
      registers,
    }),
    channels: new Gauge({
      name: 'weir_serving_redis_channels',
      help: 'Redis update channels subscribed to, one per aggregation with subscribers whatever their number.',
      registers,
    }),
    configReady: new Gauge({
      name: 'weir_serving_config_synced',
      help: '1 once Tenants and Pipelines have been listed.',
      registers,
    }),
    pipelines: new Gauge({
      name: 'weir_serving_pipelines',
      help: 'Pipelines serving serves.',
      registers,
    }),
  };
}

export type ServingMetrics = ReturnType<typeof createServingMetrics>;
