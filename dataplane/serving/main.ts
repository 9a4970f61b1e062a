/**
 * Weir serving: one multi-tenant process answering REST and GraphQL (WEIR_HTTP_PORT, 8080),
 * gRPC (WEIR_GRPC_PORT, 8081) and /healthz, /readyz, /metrics (WEIR_METRICS_PORT, 9090)
 * over the aggregation results in Redis and Postgres, configured live from the Tenants and
 * Pipelines of the cluster. See settings.ts for every flag.
 *
 *   WEIR_REDIS_URL=redis://redis:6379 WEIR_POSTGRES_URL=postgres://serving@postgres/weir node dataplane/serving/main.ts
 */
import { IssuerKeys } from '../../lib/auth/issuer-keys.ts';
import { systemClock } from '../../lib/clock/clock.ts';
import { KubeClient } from '../../lib/kube/kube-client.ts';
import { podKubeConfig } from '../../lib/kube/pod-kube-config.ts';
import { createLogger } from '../../lib/observability/logger.ts';
import { watchServingConfig } from './config-watch.ts';
import { ServingConfig } from './serving-config.ts';
import { startServing } from './serving.ts';
import { loadServingSettings, type ServingSettings } from './settings.ts';

async function main(): Promise<number> {
  let settings: ServingSettings;
  try {
    settings = loadServingSettings(process.argv.slice(2), process.env);
  } catch (err) {
    createLogger({ component: 'weir-serving' }).fatal((err as Error).message);
    return 1;
  }
  const log = createLogger({
    component: 'weir-serving',
    level: settings.logLevel,
    base: { serving: settings.servingId },
  });
  const clock = systemClock;
  const config = new ServingConfig({ keys: new IssuerKeys({ cooldownMs: settings.jwksCooldownMs }), clock });
  // Serving writes nothing to the API server: it lists and watches Tenants and Pipelines.
  const client = new KubeClient(podKubeConfig(process.env), { fieldManager: 'weir-serving' });
  const source = watchServingConfig({ client, config, clock, log });
  const serving = await startServing(settings, { config, source, log, clock });
  log.info(
    { host: settings.host, httpPort: serving.httpPort, grpcPort: serving.grpcPort, metricsPort: serving.metricsPort },
    'serving started',
  );
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info({ signal }, 'shutting down');
  await serving.stop();
  return 0;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (err: Error) => {
      createLogger({ component: 'weir-serving' }).fatal({ err }, 'serving failed');
      process.exit(1);
    },
  );
}
