/**
 * WebSocket ingestion (ws) at `/v1/pipelines/<namespace>/<name>/stream`, on the REST
 * server's port. The upgrade is authenticated (Authorization header, or the subprotocol
 * `weir.bearer.<token>` for browsers) and counted against the connection caps before it is
 * accepted; a refused upgrade gets an HTTP problem answer.
 *
 * Protocol: the server says `{"type":"welcome","session":…,"resumed":…}`; the client sends
 * `{"id":"<message id>","event":{…}}` (optionally `"schemaVersion"`); each message gets
 * `{"type":"ack","id":…,"eventId":…}` once Kafka acknowledged it, or
 * `{"type":"nack","id":…,"status":…,"code":…,"detail":…}`. A client that reconnects with
 * `?session=<id>` resumes: it resends what was not acknowledged, and what had been
 * written is acknowledged again, not written twice.
 *
 * Pings every heartbeat period; a connection that did not answer the last one is dropped.
 * A client that sends faster than it is answered is throttled by pausing its socket once
 * too many of its messages are in flight or too many answers are unsent.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerFromUpgrade, WEIR_SUBPROTOCOL } from '../../lib/auth/bearer-token.ts';
import type { TimerHandle } from '../../lib/clock/clock.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import type { WeirError } from '../../lib/errors/errors.ts';
import { rejectReason, type Outcome } from './ingest.ts';
import { asWeirError, problemOf } from '../../lib/errors/problem.ts';
import { SESSION_ID, StreamSession, type StreamDeps } from './stream-session.ts';

/** Options for {@link attachWebSocketIngest}. */
export interface WebSocketOptions extends StreamDeps {
  server: Server;
  /** Largest message accepted at all (policies may set less); 1 MiB unless given. */
  maxMessageBytes: number;
  heartbeatMs: number;
  /** Messages of one connection in flight before its socket is paused. */
  maxInFlight: number;
  /** Resolves the client address of a request as the REST server does (proxies trusted or not). */
  clientIp: (req: IncomingMessage) => string;
}

const PATH = /^\/v1\/pipelines\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z]([-a-z0-9]*[a-z0-9])?)\/stream$/;
/** Unsent bytes to a client above which its socket is paused. */
const HIGH_WATER = 1024 * 1024;

interface Connection {
  ws: WebSocket;
  socket: Duplex;
  stream: StreamSession;
  alive: boolean;
  paused: boolean;
}

/** Handles upgrades on `server`; returns how to count and drain the connections. */
export function attachWebSocketIngest(o: WebSocketOptions): { readonly connections: number; drain(): Promise<void> } {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: o.maxMessageBytes,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(WEIR_SUBPROTOCOL) ? WEIR_SUBPROTOCOL : false),
  });
  const open = new Set<Connection>();
  let draining = false;

  const refuseUpgrade = (socket: Duplex, err: unknown, path: string) => {
    const problem = problemOf(err, path);
    const error = asWeirError(err);
    const body = JSON.stringify(problem);
    const extra =
      (problem.status === 401 ? 'WWW-Authenticate: Bearer realm="weir"\r\n' : '') +
      (error.retryable ? `Retry-After: ${(error.details?.retryAfterSeconds as number | undefined) ?? 1}\r\n` : '');
    o.metrics.requests.inc({ protocol: 'webSocket', code: String(problem.status) });
    socket.end(
      `HTTP/1.1 ${problem.status} ${problem.title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
    );
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://gateway');
    const match = PATH.exec(url.pathname);
    if (!match)
      return refuseUpgrade(socket, weirError(Errors.NotFound, `nothing to upgrade at ${url.pathname}`), url.pathname);
    if (draining)
      return refuseUpgrade(
        socket,
        weirError(Errors.ShuttingDown, 'this gateway is shutting down; connect again'),
        url.pathname,
      );
    const session = url.searchParams.get('session') ?? undefined;
    if (session !== undefined && !SESSION_ID.test(session))
      return refuseUpgrade(
        socket,
        weirError(Errors.InvalidRequest, 'session must be 1-128 letters, digits, - or _'),
        url.pathname,
      );
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    const clientIp = o.clientIp(req);
    void (async () => {
      let stream: StreamSession;
      try {
        const bearer = bearerFromUpgrade(header('authorization'), header('sec-websocket-protocol'));
        const admitted = await o.ingestor.admit(match[1]!, match[3]!, 'webSocket', bearer, clientIp);
        stream = new StreamSession(o, admitted, 'webSocket', clientIp, header, session);
        await stream.open();
      } catch (err) {
        const route = o.config.route(match[1]!, match[3]!);
        o.metrics.eventsRejected.inc({
          tenant: route?.tenant.name ?? '',
          pipeline: route?.key ?? '',
          protocol: 'webSocket',
          reason: rejectReason(asWeirError(err)),
        });
        return refuseUpgrade(socket, err, url.pathname);
      }
      if (socket.destroyed) return void stream.close();
      wss.handleUpgrade(req, socket, head, (ws) => accept(ws, socket, stream));
    })();
  };

  const accept = (ws: WebSocket, socket: Duplex, stream: StreamSession) => {
    o.metrics.requests.inc({ protocol: 'webSocket', code: '101' });
    const conn: Connection = { ws, socket, stream, alive: true, paused: false };
    open.add(conn);
    const send = (message: object) => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(JSON.stringify(message), () => throttle(conn));
      throttle(conn);
    };
    send({ type: 'welcome', session: stream.session, resumed: stream.resumed, limits: stream.route.streamLimits });
    ws.on('pong', () => (conn.alive = true));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const started = performance.now();
      void handle(conn, data, isBinary).then((answer) => {
        o.metrics.requests.inc({ protocol: 'webSocket', code: String(answer.type === 'ack' ? 202 : answer.status) });
        o.metrics.requestDuration.observe({ protocol: 'webSocket' }, (performance.now() - started) / 1000);
        send(answer);
        throttle(conn);
      });
      throttle(conn);
    });
    ws.on('close', () => {
      open.delete(conn);
      void stream.close();
    });
    ws.on('error', () => ws.terminate());
  };

  /** Pauses reading from a client with too much in flight or unsent, and resumes once it has drained. */
  const throttle = (conn: Connection) => {
    const busy = conn.stream.inFlight >= o.maxInFlight || conn.ws.bufferedAmount > HIGH_WATER;
    if (busy && !conn.paused) {
      conn.paused = true;
      conn.socket.pause();
    } else if (!busy && conn.paused && !draining) {
      conn.paused = false;
      conn.socket.resume();
    }
  };

  const handle = async (conn: Connection, data: Buffer, isBinary: boolean) => {
    let message: { id?: unknown; event?: unknown; schemaVersion?: unknown };
    try {
      if (isBinary) throw new Error('binary');
      message = JSON.parse(data.toString('utf8')) as typeof message;
    } catch {
      return nack(
        undefined,
        weirError(Errors.InvalidRequest, 'a message must be a JSON object {"id": …, "event": {…}}'),
      );
    }
    if (typeof message !== 'object' || message === null) message = {};
    const id = message.id;
    if (typeof id !== 'string' || id.length === 0 || id.length > 256)
      return nack(undefined, weirError(Errors.InvalidRequest, 'a message needs an "id": a string of 1-256 characters'));
    const event = message.event;
    if (typeof event !== 'object' || event === null || Array.isArray(event))
      return nack(
        id,
        weirError(Errors.InvalidEvent, '"event" must be a JSON object', {
          details: { errors: [{ pointer: '/event', message: 'must be a JSON object' }] },
        }),
      );
    const version = message.schemaVersion;
    if (version !== undefined && (!Number.isInteger(version) || (version as number) < 1))
      return nack(id, weirError(Errors.InvalidRequest, '"schemaVersion" must be a positive integer'));
    const outcome = await conn.stream.publish({
      id,
      payload: {
        kind: 'events',
        events: [{ value: event as Record<string, unknown>, json: Buffer.from(JSON.stringify(event)) }],
        batch: false,
      },
      bytes: data.length,
      schemaVersion: version as number | undefined,
    });
    return answerOf(id, outcome);
  };

  // One timer for every connection, on the injected clock.
  let heartbeat: TimerHandle | undefined;
  const beat = () => {
    for (const conn of open) {
      if (!conn.alive) {
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
    heartbeat = o.clock.setTimeout(beat, o.heartbeatMs);
  };
  heartbeat = o.clock.setTimeout(beat, o.heartbeatMs);
  o.server.on('upgrade', onUpgrade);

  return {
    get connections() {
      return open.size;
    },
    /** Stops taking connections and messages, answers what is in flight, then closes every connection with 1001. */
    async drain() {
      draining = true;
      if (heartbeat) o.clock.clearTimeout(heartbeat);
      for (const conn of open) conn.socket.pause();
      await Promise.all(
        [...open].map(async (conn) => {
          await conn.stream.settled();
          // Answers already queued are flushed before the close frame.
          conn.ws.close(1001, 'gateway shutting down; reconnect with the same session');
        }),
      );
      wss.close();
    },
  };
}

type Answer =
  | { type: 'ack'; id: string; eventId: string; replayed: boolean }
  | { type: 'nack'; status: number; [k: string]: unknown };

function nack(id: string | undefined, error: WeirError, retryAfter?: string): Answer {
  const problem = problemOf(error);
  return {
    type: 'nack',
    id,
    status: problem.status,
    code: problem.code,
    detail: problem.detail,
    ...(problem.errors ? { errors: problem.errors } : {}),
    ...(retryAfter ? { retryAfter: Number(retryAfter) } : {}),
  };
}

function answerOf(id: string, outcome: Outcome): Answer {
  if (outcome.ok) return { type: 'ack', id, eventId: outcome.ids[0]!, replayed: outcome.replayed };
  return nack(id, outcome.error, outcome.headers['Retry-After']);
}
