/**
 * Errors as the data plane's clients (gateway and serving) see them: RFC 9457 problem details over HTTP
 * (`application/problem+json`), with the registry's code, title and status, and over gRPC
 * the registry's status code with the same code and message in the trailers. An error that
 * is not from the registry becomes an Internal error whose message says nothing of it.
 */
import { Errors, WeirError, weirError } from './errors.ts';

/** A problem details body. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  [extension: string]: unknown;
}

/** The registry error of `err`, or an Internal one that hides it. */
export function asWeirError(err: unknown): WeirError {
  return err instanceof WeirError ? err : weirError(Errors.Internal, 'the server failed to handle the request');
}

/** The problem details of an error, with the error's details (say, every validation error) as extensions. */
export function problemOf(err: unknown, instance?: string): Problem {
  const e = asWeirError(err);
  return {
    ...e.details,
    type: `https://weir.dev/problems/${e.code
      .replace(/^WEIR_/, '')
      .toLowerCase()
      .replaceAll('_', '-')}`,
    title: e.definition.title,
    status: e.httpStatus,
    detail: e.message,
    code: e.code,
    ...(instance === undefined ? {} : { instance }),
  };
}
