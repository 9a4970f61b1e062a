/** Registry errors as gRPC answers, for every data-plane service that speaks gRPC. */
import * as grpc from '@grpc/grpc-js';
import { asWeirError } from './problem.ts';

/** A registry error as a gRPC status, with Weir's code and the retry hint in the trailers. */
export function grpcError(err: unknown): Partial<grpc.StatusObject> {
  const e = asWeirError(err);
  const metadata = new grpc.Metadata();
  metadata.set('weir-code', e.code);
  const retry = e.details?.retryAfterSeconds;
  if (e.retryable) metadata.set('retry-after', String(typeof retry === 'number' ? retry : 1));
  return { code: e.grpcStatus, details: e.message, metadata };
}
