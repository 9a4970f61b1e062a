/**
 * Used by tests that run under `hack/local-env/cli.ts run` to stop and start components
 * of the environment around them (WEIR_LOCAL_ENV points at its control endpoint).
 */

function controlUrl(): string {
  const url = process.env.WEIR_LOCAL_ENV;
  if (!url) throw new Error('WEIR_LOCAL_ENV is not set: run the tests under hack/local-env/cli.ts run');
  return url;
}

/** Whether the tests run inside a local environment they can inject faults into. */
export function hasLocalEnv(): boolean {
  return Boolean(process.env.WEIR_LOCAL_ENV);
}

async function call(method: 'GET' | 'POST', path: string): Promise<Record<string, string>> {
  const res = await fetch(`${controlUrl()}${path}`, { method });
  const body = (await res.json()) as Record<string, string>;
  if (!res.ok) throw new Error(`local environment: ${body.error ?? res.status}`);
  return body;
}

/** Stops a component (kube-apiserver, kafka, redis, postgres, ...) and waits until it is down. */
export function stopComponent(name: string): Promise<Record<string, string>> {
  return call('POST', `/components/${name}/stop`);
}

/** Starts a stopped component and waits until it is healthy. */
export function startComponent(name: string): Promise<Record<string, string>> {
  return call('POST', `/components/${name}/start`);
}

export function restartComponent(name: string): Promise<Record<string, string>> {
  return call('POST', `/components/${name}/restart`);
}

/** Which components run now. */
export function componentStatus(): Promise<Record<string, string>> {
  return call('GET', '/components');
}
