/** The operator's /healthz, /readyz and /metrics endpoints on one port, as controller-runtime serves them. */
import { createServer } from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** Alive: false makes the kubelet restart the pod. */
  healthy: () => boolean;
  /** Ready: caches synced; false takes the pod out of its Service. */
  ready: () => boolean;
}

/** Starts the server; resolves with the bound port and a close function. */
export async function serveHealth(options: HealthServerOptions): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (path === '/healthz' || path === '/livez') return options.healthy() ? reply(200, 'ok') : reply(500, 'unhealthy');
    if (path === '/readyz') return options.ready() ? reply(200, 'ok') : reply(503, 'not ready');
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => reply(200, text, options.registry.contentType),
        (err: Error) => reply(500, err.message),
      );
      return;
    }
    reply(404, 'not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', resolve);
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
