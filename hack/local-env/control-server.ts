/**
 * A loopback HTTP endpoint through which test processes stop and start components of the
 * environment that runs them, for fault injection. Its URL carries a random token.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { LocalEnv } from './local-env.ts';

/** Serves the control API for the environment; resolves with the URL to give clients. */
export async function serveControl(env: LocalEnv): Promise<{ url: string; close: () => Promise<void> }> {
  const token = randomBytes(16).toString('hex');
  const actions: Record<string, (name: string) => Promise<void>> = {
    stop: (n) => env.stopComponent(n),
    start: (n) => env.startComponent(n),
    restart: (n) => env.restartComponent(n),
  };
  const server: Server = createServer((req, res) => {
    const parts = (req.url ?? '').split('/').filter(Boolean);
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (parts[0] !== token) return reply(404, { error: 'not found' });
    if (req.method === 'GET' && parts.length === 2 && parts[1] === 'components') return reply(200, env.status());
    const action = actions[parts[3] ?? ''];
    if (req.method === 'POST' && parts.length === 4 && parts[1] === 'components' && action) {
      action(parts[2]!).then(
        () => reply(200, env.status()),
        (err: Error) => reply(409, { error: err.message }),
      );
      return;
    }
    reply(404, { error: 'use GET /components or POST /components/<name>/(stop|start|restart)' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/${token}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
