/** The processor's process-level settings, from the environment its pod gives it. */
import { Errors, weirError } from '../../lib/errors/errors.ts';

/** Where the processor finds its configuration, serves its endpoints and how much it logs. */
export interface ProcessorSettings {
  /** Path of the compiled configuration (WEIR_PIPELINE_CONFIG). */
  configPath: string;
  /** `namespace/name` of the pipeline (WEIR_PIPELINE), for logs written before the configuration is read. */
  pipeline: string | undefined;
  /** Address /healthz, /readyz and /metrics listen on (WEIR_LISTEN_HOST, default 0.0.0.0). */
  host: string;
  /** Their port (WEIR_METRICS_PORT, default 9090: the Deployment's `metrics` port). */
  port: number;
  logLevel: string;
  /** The tenant's Kafka user and password (WEIR_KAFKA_USERNAME, WEIR_KAFKA_PASSWORD), from its credentials Secret. */
  kafkaCredentials?: { username: string; password: string };
}

/** Reads the settings; a missing or malformed variable is an InvalidConfig error that names it. */
export function loadSettings(env: NodeJS.ProcessEnv): ProcessorSettings {
  const configPath = env.WEIR_PIPELINE_CONFIG;
  if (!configPath)
    throw weirError(
      Errors.InvalidConfig,
      'WEIR_PIPELINE_CONFIG is not set: it must name the compiled pipeline configuration (pipeline.json)',
    );
  const rawPort = env.WEIR_METRICS_PORT ?? '9090';
  const port = Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw weirError(Errors.InvalidConfig, `WEIR_METRICS_PORT must be a port number, got '${rawPort}'`);
  return {
    configPath,
    pipeline: env.WEIR_PIPELINE || undefined,
    host: env.WEIR_LISTEN_HOST || '0.0.0.0',
    port,
    logLevel: env.WEIR_LOG_LEVEL || 'info',
    kafkaCredentials:
      env.WEIR_KAFKA_USERNAME && env.WEIR_KAFKA_PASSWORD
        ? { username: env.WEIR_KAFKA_USERNAME, password: env.WEIR_KAFKA_PASSWORD }
        : undefined,
  };
}
