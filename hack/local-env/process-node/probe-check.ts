/**
 * One probe of a running container, as the kubelet makes it: an HTTP GET, a TCP connect or
 * a command, against the pod's IP, within the probe's timeout.
 */
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createConnection } from 'node:net';
import type { V1Container, V1Probe } from '@kubernetes/client-node';

/** What one probe found; `message` says why it failed. */
export interface ProbeOutcome {
  ok: boolean;
  message?: string;
}

/** What a probe needs to know about the container it checks. */
export interface ProbeTarget {
  podIP: string;
  container: V1Container;
  /** For exec probes: how the container's own processes are run. */
  exec?: { env: NodeJS.ProcessEnv; cwd: string; uid?: number; gid?: number };
}

/** A probe port given by name is the container port of that name. */
export function resolvePort(port: number | string | undefined, container: V1Container): number {
  if (typeof port === 'number') return port;
  if (port !== undefined && /^\d+$/.test(port)) return Number(port);
  const named = container.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`port "${port}" is not a named port of container ${container.name}`);
  return named.containerPort;
}

function httpGet(
  probe: NonNullable<V1Probe['httpGet']>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  const port = resolvePort(probe.port as number | string, target.container);
  const host = probe.host || target.podIP;
  const https = probe.scheme?.toUpperCase() === 'HTTPS';
  const url = `${https ? 'https' : 'http'}://${host}:${port}${probe.path || '/'}`;
  const headers: Record<string, string> = {
    'user-agent': 'kube-probe/weir-process-node',
    accept: '*/*',
    connection: 'close',
  };
  for (const h of probe.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
  return new Promise((resolve) => {
    const req = (https ? httpsRequest : httpRequest)(
      url,
      { method: 'GET', headers, timeout: timeoutMs, agent: false, rejectUnauthorized: false },
      (res) => {
        const status = res.statusCode ?? 0;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < 1024) body += chunk;
        });
        res.on('end', () =>
          resolve(
            status >= 200 && status < 400
              ? { ok: true }
              : {
                  ok: false,
                  message: `HTTP probe failed with statuscode: ${status}${body ? ` (${body.trim().slice(0, 200)})` : ''}`,
                },
          ),
        );
        res.on('error', (err) => resolve({ ok: false, message: `Get "${url}": ${err.message}` }));
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)),
    );
    req.on('error', (err) => resolve({ ok: false, message: `Get "${url}": ${err.message}` }));
    req.end();
  });
}

function tcpSocket(
  probe: NonNullable<V1Probe['tcpSocket']>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  const port = resolvePort(probe.port as number | string, target.container);
  const host = probe.host || target.podIP;
  return new Promise((resolve) => {
    const socket = createConnection({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ ok: true });
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` });
    });
    socket.once('error', (err) => resolve({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` }));
  });
}

function exec(command: string[], target: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome> {
  const how = target.exec;
  if (!how || command.length === 0) return Promise.resolve({ ok: false, message: 'exec probe without a command' });
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), {
      env: how.env,
      cwd: how.cwd,
      uid: how.uid,
      gid: how.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      if (output.length < 1024) output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (err) => resolve({ ok: false, message: err.message }));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve({ ok: true });
      else if (signal) resolve({ ok: false, message: `command timed out after ${timeoutMs / 1000}s` });
      else
        resolve({
          ok: false,
          message: `command exited with ${code}${output.trim() ? `: ${output.trim().slice(0, 200)}` : ''}`,
        });
    });
  });
}

/** Runs the probe once against the container. */
export function runProbe(probe: V1Probe, target: ProbeTarget): Promise<ProbeOutcome> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  try {
    if (probe.httpGet) return httpGet(probe.httpGet, target, timeoutMs);
    if (probe.tcpSocket) return tcpSocket(probe.tcpSocket, target, timeoutMs);
    if (probe.exec) return exec(probe.exec.command ?? [], target, timeoutMs);
  } catch (err) {
    return Promise.resolve({ ok: false, message: (err as Error).message });
  }
  return Promise.resolve({ ok: false, message: 'grpc probes are not supported by the process node' });
}
