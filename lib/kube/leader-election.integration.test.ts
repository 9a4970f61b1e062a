/**
 * Leader election against a real kube-apiserver: run under
 * `node hack/local-env/cli.ts run --with kube-api -- node --test <this file>`.
 * Durations are short so that expiry happens within the test; assertions bound timings
 * loosely from below by what the protocol guarantees and generously from above.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from './kube-client.ts';
import { LeaderElector, type Lease, type LeaseClient } from './leader-election.ts';

const kubeconfig = new KubeConfig();
kubeconfig.loadFromDefault();
const api = new KubeClient(kubeconfig, { fieldManager: 'weir-it' });
const namespace = 'default';
const fast = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };

interface Candidate {
  identity: string;
  elector: LeaderElector;
  startedAt?: number;
  stoppedAt?: number;
  /** When the last write that the API server accepted from this candidate was sent. */
  lastWriteSentAt: number;
  /** From now on every request fails, as if the process had died: nothing is released. */
  crash(): void;
}

/** Starts a candidate for `name`; it is stopped when the test ends. */
function candidate(t: TestContext, name: string, identity: string, durations = fast): Candidate {
  let crashed = false;
  const alive = () => (crashed ? Promise.reject(new Error(`${identity} has crashed`)) : Promise.resolve());
  const client: LeaseClient = {
    read: (ref, options) => alive().then(() => api.read(ref, options)),
    create: (obj, options) => alive().then(() => written(Date.now(), api.create(obj, options))),
    replace: (obj, options) => alive().then(() => written(Date.now(), api.replace(obj, options))),
  };
  const written = async <T>(sentAt: number, request: Promise<T>) => {
    const lease = await request;
    self.lastWriteSentAt = sentAt;
    return lease;
  };
  const elector = new LeaderElector({
    client,
    namespace,
    name,
    identity,
    ...durations,
    onStartedLeading: () => void (self.startedAt = Date.now()),
    onStoppedLeading: () => void (self.stoppedAt = Date.now()),
  });
  const self: Candidate = { identity, elector, lastWriteSentAt: 0, crash: () => void (crashed = true) };
  void elector.run();
  t.after(() => elector.stop());
  return self;
}

async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs}ms`);
    await sleep(50);
  }
}

/** Two candidates for a fresh lease, sorted into the one that won and the one that waits. */
async function election(
  t: TestContext,
  durations = fast,
): Promise<{ name: string; leader: Candidate; follower: Candidate }> {
  const name = `weir-le-${randomUUID().slice(0, 8)}`;
  const candidates = [candidate(t, name, 'a', durations), candidate(t, name, 'b', durations)];
  const leader = await waitFor('a leader', () => candidates.find((c) => c.startedAt !== undefined), 15_000);
  const follower = candidates.find((c) => c !== leader)!;
  return { name, leader, follower };
}

const leaseSpec = async (name: string) =>
  (await api.read<Lease>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { namespace, name } }))?.spec;

describe('LeaderElector against kube-apiserver', { timeout: 60_000 }, () => {
  it('lets exactly one of two candidates lead', async (t) => {
    const { name, leader, follower } = await election(t);
    // Several lease durations: a second leader would have appeared by now if the lease allowed one.
    await sleep(3 * fast.leaseDurationMs);
    assert.equal(follower.startedAt, undefined);
    assert.equal(leader.stoppedAt, undefined);
    assert.equal((await leaseSpec(name))?.holderIdentity, leader.identity);
  });

  it("hands a crashed leader's lease to the other candidate once it has expired", async (t) => {
    const { name, leader, follower } = await election(t);
    await sleep(fast.leaseDurationMs);
    const crashedAt = Date.now();
    leader.crash();
    const takenAt = await waitFor('the takeover', () => follower.startedAt, 15_000);
    assert.ok(
      takenAt - leader.lastWriteSentAt >= fast.leaseDurationMs,
      `taken over ${takenAt - leader.lastWriteSentAt}ms after the leader's last renewal, before the lease expired`,
    );
    assert.ok(takenAt - crashedAt < 10_000, `taken over only ${takenAt - crashedAt}ms after the crash`);
    const lease = await leaseSpec(name);
    assert.equal(lease?.holderIdentity, follower.identity);
    assert.equal(lease?.leaseTransitions, 1);
    // Cut off from the API server, the old leader gives up by its renew deadline.
    await waitFor('the crashed leader stepping down', () => leader.stoppedAt, 10_000);
  });

  it('lets the other candidate take a released lease long before it would expire', async (t) => {
    const slow = { leaseDurationMs: 10_000, renewDeadlineMs: 5_000, retryPeriodMs: 500 };
    const { name, leader, follower } = await election(t, slow);
    await sleep(1_000);
    assert.equal(follower.startedAt, undefined);
    const releasedAt = Date.now();
    await leader.elector.stop();
    assert.notEqual(leader.stoppedAt, undefined);
    const takenAt = await waitFor('the takeover', () => follower.startedAt, slow.leaseDurationMs);
    assert.ok(
      takenAt - releasedAt < slow.leaseDurationMs / 2,
      `taken over ${takenAt - releasedAt}ms after the release`,
    );
    const lease = await leaseSpec(name);
    assert.equal(lease?.holderIdentity, follower.identity);
    assert.equal(lease?.leaseTransitions, 1);
  });
});
