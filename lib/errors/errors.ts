/**
 * Weir's one registry of errors, in the manner of fastify's `lib/errors.js`: every error
 * is defined once here with a stable code, the HTTP status and gRPC status it maps to, and
 * whether retrying can help. Callers branch on the code (`hasCode`), never on an error's
 * class name or message text; the gateway and serving take their HTTP and gRPC answers
 * from the same table.
 */

/** gRPC status codes (grpc/grpc `doc/statuscodes.md`), by name. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatusName = keyof typeof GrpcStatus;

/** One kind of error: its code, what it maps to, and a short title for problem+json. */
export interface ErrorDefinition {
  /** Stable, upper-case code that callers and clients branch on, such as `WEIR_KAFKA_UNAVAILABLE`. */
  readonly code: string;
  /** HTTP status for REST answers. */
  readonly httpStatus: number;
  /** gRPC status name for gRPC answers. */
  readonly grpcStatus: GrpcStatusName;
  /** Whether trying again later can succeed (a controller retries with backoff; clients may too). */
  readonly retryable: boolean;
  /** A one-line summary, the `title` of a problem+json answer. */
  readonly title: string;
}

function define(
  code: string,
  httpStatus: number,
  grpcStatus: GrpcStatusName,
  retryable: boolean,
  title: string,
): ErrorDefinition {
  return Object.freeze({ code: `WEIR_${code}`, httpStatus, grpcStatus, retryable, title });
}

/** Every error Weir raises on purpose. */
export const Errors = {
  // Configuration and specs.
  InvalidConfig: define('INVALID_CONFIG', 500, 'FAILED_PRECONDITION', false, 'Invalid configuration'),
  InvalidSpec: define('INVALID_SPEC', 422, 'INVALID_ARGUMENT', false, 'Invalid resource spec'),
  Unsupported: define('UNSUPPORTED', 501, 'UNIMPLEMENTED', false, 'Not supported'),
  /** A reconcile that retrying cannot fix until the object changes (controller-runtime's TerminalError). */
  Terminal: define('TERMINAL', 500, 'FAILED_PRECONDITION', false, 'Cannot be reconciled as it is'),

  /** A user-defined reducer threw, ran past its CPU time or memory, or returned what is not JSON. */
  UserFunctionFailed: define(
    'USER_FUNCTION_FAILED',
    422,
    'FAILED_PRECONDITION',
    false,
    'A user-defined function failed',
  ),

  // Backends.
  KafkaUnavailable: define('KAFKA_UNAVAILABLE', 503, 'UNAVAILABLE', true, 'Kafka is unavailable'),
  KafkaRequestFailed: define('KAFKA_REQUEST_FAILED', 502, 'UNAVAILABLE', true, 'A Kafka request failed'),
  RedisUnavailable: define('REDIS_UNAVAILABLE', 503, 'UNAVAILABLE', true, 'Redis is unavailable'),
  PostgresUnavailable: define('POSTGRES_UNAVAILABLE', 503, 'UNAVAILABLE', true, 'Postgres is unavailable'),
  KubernetesRequestFailed: define(
    'KUBERNETES_REQUEST_FAILED',
    502,
    'UNAVAILABLE',
    true,
    'A Kubernetes API request failed',
  ),
  FlinkUnavailable: define('FLINK_UNAVAILABLE', 503, 'UNAVAILABLE', true, 'Flink is unavailable'),
  FlinkRequestFailed: define('FLINK_REQUEST_FAILED', 502, 'UNAVAILABLE', true, 'A Flink REST request failed'),
  /** Flink refused a SQL statement (it does not validate or plan): the same statement fails again. */
  FlinkStatementFailed: define('FLINK_STATEMENT_FAILED', 422, 'INVALID_ARGUMENT', false, 'Flink refused a statement'),
  FlinkJobNotFound: define('FLINK_JOB_NOT_FOUND', 404, 'NOT_FOUND', false, 'No such Flink job'),

  // Requests to the data plane.
  Unauthenticated: define('UNAUTHENTICATED', 401, 'UNAUTHENTICATED', false, 'Authentication required'),
  InvalidToken: define('INVALID_TOKEN', 401, 'UNAUTHENTICATED', false, 'Invalid token'),
  /** The keys of a token's issuer could not be fetched: the token may be fine, try again. */
  IssuerUnavailable: define('ISSUER_UNAVAILABLE', 503, 'UNAVAILABLE', true, 'Token issuer keys unavailable'),
  Forbidden: define('FORBIDDEN', 403, 'PERMISSION_DENIED', false, 'Forbidden'),
  NotFound: define('NOT_FOUND', 404, 'NOT_FOUND', false, 'Not found'),
  MethodNotAllowed: define('METHOD_NOT_ALLOWED', 405, 'UNIMPLEMENTED', false, 'Method not allowed'),
  NotAcceptable: define('NOT_ACCEPTABLE', 406, 'INVALID_ARGUMENT', false, 'Not acceptable'),
  Conflict: define('CONFLICT', 409, 'ALREADY_EXISTS', false, 'Conflict'),
  PayloadTooLarge: define('PAYLOAD_TOO_LARGE', 413, 'RESOURCE_EXHAUSTED', false, 'Payload too large'),
  UnsupportedMediaType: define('UNSUPPORTED_MEDIA_TYPE', 415, 'INVALID_ARGUMENT', false, 'Unsupported media type'),
  InvalidRequest: define('INVALID_REQUEST', 400, 'INVALID_ARGUMENT', false, 'Invalid request'),
  InvalidEvent: define('INVALID_EVENT', 400, 'INVALID_ARGUMENT', false, 'Invalid event'),
  HeadersTooLarge: define('HEADERS_TOO_LARGE', 431, 'RESOURCE_EXHAUSTED', false, 'Request headers too large'),
  RateLimited: define('RATE_LIMITED', 429, 'RESOURCE_EXHAUSTED', true, 'Rate limit exceeded'),
  QuotaExceeded: define('QUOTA_EXCEEDED', 429, 'RESOURCE_EXHAUSTED', true, 'Quota exceeded'),
  TooManyConnections: define(
    'TOO_MANY_CONNECTIONS',
    429,
    'RESOURCE_EXHAUSTED',
    true,
    'Too many concurrent connections',
  ),
  QueryTooComplex: define('QUERY_TOO_COMPLEX', 400, 'INVALID_ARGUMENT', false, 'Query too complex'),
  DeadlineExceeded: define('DEADLINE_EXCEEDED', 504, 'DEADLINE_EXCEEDED', true, 'Deadline exceeded'),
  NotReady: define('NOT_READY', 503, 'UNAVAILABLE', true, 'Not ready'),
  ShuttingDown: define('SHUTTING_DOWN', 503, 'UNAVAILABLE', true, 'Shutting down'),
  Internal: define('INTERNAL', 500, 'INTERNAL', true, 'Internal error'),
} as const satisfies Record<string, ErrorDefinition>;

/** Extra, machine-readable facts an error carries (problem+json extension members). */
export type ErrorDetails = Record<string, unknown>;

/** An error from the registry. `message` says what happened, for a person. */
export class WeirError extends Error {
  readonly code: string;
  readonly definition: ErrorDefinition;
  readonly details: ErrorDetails | undefined;

  constructor(definition: ErrorDefinition, message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = definition.code;
    this.definition = definition;
    this.details = options.details;
  }

  get httpStatus(): number {
    return this.definition.httpStatus;
  }

  get grpcStatus(): number {
    return GrpcStatus[this.definition.grpcStatus];
  }

  get retryable(): boolean {
    return this.definition.retryable;
  }
}

/** Makes an error of the registry. */
export function weirError(
  definition: ErrorDefinition,
  message: string,
  options?: { cause?: unknown; details?: ErrorDetails },
): WeirError {
  return new WeirError(definition, message, options);
}

/** Whether `err` is an error of the registry with the definition's code. */
export function hasCode(err: unknown, definition: ErrorDefinition): err is WeirError {
  return err instanceof WeirError && err.code === definition.code;
}

/** Whether a controller should retry after `err`: registry errors say so; anything else is retried. */
export function isRetryable(err: unknown): boolean {
  return err instanceof WeirError ? err.retryable : true;
}

/** The message of an error, without stack or request bodies that might hold secrets. */
export function errorSummary(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
