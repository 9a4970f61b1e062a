/**
 * The local environment's Flink session cluster, through its own REST APIs: a JobManager
 * with one registered TaskManager, a SQL Gateway that runs a query on it, and a
 * TaskManager that can be killed and started again for fault injection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasLocalEnv, startComponent, stopComponent } from './control-client.ts';

function env(name: string): string {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run under hack/local-env/cli.ts run --with flink`);
  return value;
}

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json' } });
  const text = await res.text();
  assert.ok(res.ok, `${init?.method ?? 'GET'} ${url}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

interface Overview {
  taskmanagers: number;
  'slots-total': number;
  'flink-version': string;
}

describe('the local Flink session cluster', () => {
  it('runs Flink 2.2.1 with one TaskManager that offers slots', async () => {
    const overview = await json<Overview>(`${env('WEIR_FLINK_JOBMANAGER_URL')}/overview`);
    assert.equal(overview['flink-version'], '2.2.1');
    assert.equal(overview.taskmanagers, 1);
    assert.ok(overview['slots-total'] >= 1);
    assert.match(env('WEIR_FLINK_SAVEPOINT_DIR'), /^file:\/\//);
  });

  it('answers a query through the SQL Gateway, computed by a job on the TaskManager', async () => {
    const gateway = env('WEIR_FLINK_SQL_GATEWAY_URL');
    const { sessionHandle } = await json<{ sessionHandle: string }>(`${gateway}/v1/sessions`, {
      method: 'POST',
      body: '{}',
    });
    const { operationHandle } = await json<{ operationHandle: string }>(
      `${gateway}/v1/sessions/${sessionHandle}/statements`,
      { method: 'POST', body: JSON.stringify({ statement: 'SELECT SUM(x) FROM (VALUES (1), (2), (39)) AS t(x)' }) },
    );
    let next: string | undefined =
      `/v1/sessions/${sessionHandle}/operations/${operationHandle}/result/0?rowFormat=JSON`;
    const rows: unknown[][] = [];
    for (let i = 0; next && i < 300; i++) {
      const page: { resultType: string; nextResultUri?: string; results?: { data?: { fields: unknown[] }[] } } =
        await json(`${gateway}${next}`);
      rows.push(...(page.results?.data ?? []).map((d) => d.fields));
      if (page.resultType === 'EOS') break;
      next = page.nextResultUri;
      await sleep(100);
    }
    // The sum is updated as rows arrive (a changelog); its last value is the answer.
    assert.deepEqual(rows.at(-1), [42]);
    await fetch(`${gateway}/v1/sessions/${sessionHandle}`, { method: 'DELETE' });
  });

  it('replaces a killed TaskManager with a new one when it is started again', async () => {
    assert.ok(hasLocalEnv());
    const jobManager = env('WEIR_FLINK_JOBMANAGER_URL');
    const ids = async () =>
      (await json<{ taskmanagers: { id: string }[] }>(`${jobManager}/taskmanagers`)).taskmanagers.map((t) => t.id);
    const [before] = await ids();
    await stopComponent('flink-taskmanager');
    await startComponent('flink-taskmanager');
    assert.ok((await ids()).some((id) => id !== before));
  });
});
