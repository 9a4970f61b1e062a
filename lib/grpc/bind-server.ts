/** Binding a gRPC server the way every Weir service does. */
import * as grpc from '@grpc/grpc-js';

/** Binds `server` without TLS (the mesh or ingress terminates it) on `host:port`; resolves with the bound port. */
export function bindInsecure(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${host.includes(':') ? `[${host}]` : host}:${port}`,
      grpc.ServerCredentials.createInsecure(),
      (err, bound) => (err ? reject(err) : resolve(bound)),
    ),
  );
}
