/**
 * The Weir ingestion gateway: one multi-tenant process serving every pipeline's REST and
 * WebSocket endpoints (WEIR_HTTP_PORT, 8080), gRPC (WEIR_GRPC_PORT, 8081) and /healthz,
 * /readyz, /metrics (WEIR_METRICS_PORT, 9090), configured live from the Tenants, Pipelines
 * and RateLimitPolicies of the cluster. See settings.ts for every flag.
 *
 *   WEIR_KAFKA_BROKERS=kafka:9092 WEIR_REDIS_URL=redis://redis:6379 node dataplane/gateway/main.ts
 */
import { systemClock } from '../../lib/clock/clock.ts';
import { createLogger } from '../../lib/observability/logger.ts';
import { podKubeConfig } from '../../lib/kube/pod-kube-config.ts';
import { startGateway } from './gateway.ts';
import { loadGatewaySettings, type GatewaySettings } from './settings.ts';

async function main(): Promise<number> {
  let settings: GatewaySettings;
  try {
    settings = loadGatewaySettings(process.argv.slice(2), process.env);
  } catch (err) {
    createLogger({ component: 'weir-gateway' }).fatal((err as Error).message);
    return 1;
  }
  const log = createLogger({
    component: 'weir-gateway',
    level: settings.logLevel,
    base: { gateway: settings.gatewayId },
  });
  // Node prints process warnings as plain text (kafkajs sets a negative timeout); logged here, the log stays JSON.
  process.removeAllListeners('warning');
  process.on('warning', (warning) =>
    log.warn({ warning: { name: warning.name, message: warning.message } }, 'process warning'),
  );
  const gateway = await startGateway(settings, { kubeConfig: podKubeConfig(process.env), log, clock: systemClock });
  log.info(
    {
      host: settings.host,
      httpPort: gateway.httpPort,
      grpcPort: gateway.grpcPort,
      metricsPort: gateway.metricsPort,
      kafkaClient: settings.kafkaClient,
    },
    'gateway started',
  );
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info({ signal }, 'shutting down');
  await gateway.stop();
  return 0;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (err: Error) => {
      createLogger({ component: 'weir-gateway' }).fatal({ err }, 'gateway failed');
      process.exit(1);
    },
  );
}
