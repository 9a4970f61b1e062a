/**
 * One JSON request to a Flink REST endpoint (the JobManager's or the SQL Gateway's), with
 * a bounded time and Flink's answers turned into errors of the registry: unreachable is
 * FlinkUnavailable, an error answer is FlinkRequestFailed (or FlinkJobNotFound for a job's
 * 404), and the message keeps Flink's root cause without its Java stack.
 */
import { Errors, weirError } from '../errors/errors.ts';

/** How a client reaches one Flink REST endpoint. */
export interface FlinkEndpoint {
  /** Base URL, such as http://flink-jobmanager:8081. */
  url: string;
  /** Time one request may take; 10 s unless given. */
  timeoutMs?: number;
}

export interface FlinkRequest {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** Maps a 404 to FlinkJobNotFound: the path names a job. */
  job?: string;
}

/**
 * The root cause of a Flink error answer: its `errors` list holds a Java stack whose last
 * `Caused by:` line says what went wrong (a SQL validation message, say).
 */
export function rootCause(errors: readonly string[]): string {
  const text = errors.join('\n');
  const causes = [...text.matchAll(/Caused by: ([^\n]*)/g)].map((m) => m[1]!.trim());
  const first = errors.find((e) => !e.startsWith('Internal server error')) ?? errors[0] ?? '';
  const line = causes.at(-1) ?? first.split('\n')[0] ?? '';
  // Java class names of exceptions say little to a user; the message after them says it all.
  const message = line.replace(/^(?:[\w$]+\.)+[\w$]*(?:Exception|Error)(?::\s*)?/, '').trim() || line;
  return message.length > 2000 ? `${message.slice(0, 2000)}…` : message;
}

/** Sends one request and parses the JSON answer; an empty answer resolves to `{}`. */
export async function flinkRequest<T>(endpoint: FlinkEndpoint, path: string, request: FlinkRequest = {}): Promise<T> {
  const method = request.method ?? 'GET';
  const where = `${method} ${new URL(endpoint.url).origin}${path.split('?')[0]}`;
  let res: Response;
  try {
    res = await fetch(`${endpoint.url.replace(/\/$/, '')}${path}`, {
      method,
      headers: request.body === undefined ? undefined : { 'content-type': 'application/json' },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal: AbortSignal.timeout(endpoint.timeoutMs ?? 10_000),
    });
  } catch (err) {
    const reason = (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw weirError(Errors.FlinkUnavailable, `${where}: ${reason}`, { cause: err });
  }
  const text = await res.text().catch(() => '');
  let body: unknown = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { errors: [text.slice(0, 500)] };
  }
  if (res.ok) return body as T;
  const errors = Array.isArray((body as { errors?: unknown }).errors) ? (body as { errors: string[] }).errors : [];
  const message = `${where}: HTTP ${res.status}${errors.length ? `: ${rootCause(errors)}` : ''}`;
  if (res.status === 404 && request.job) throw weirError(Errors.FlinkJobNotFound, message);
  // A JobManager or gateway that is starting or losing leadership answers 503.
  if (res.status === 503) throw weirError(Errors.FlinkUnavailable, message);
  throw weirError(Errors.FlinkRequestFailed, message, { details: { status: res.status, errors } });
}
