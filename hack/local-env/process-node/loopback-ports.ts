/**
 * Whether a pod could bind its ports on a loopback address. Other environments on the same
 * machine (each with its own process node) or other programs may already listen there;
 * such an address is skipped rather than handed to a pod that would then fail to start.
 */
import { createServer } from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';

/** The TCP container ports of the pod. */
export function podPorts(pod: V1Pod): number[] {
  return (pod.spec?.containers ?? []).flatMap((c) =>
    (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort),
  );
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** True when nothing listens on any of `ports` at `ip` (or on the wildcard address). */
export async function portsFree(ip: string, ports: number[]): Promise<boolean> {
  for (const port of ports) if (!(await canBind(ip, port))) return false;
  return true;
}
