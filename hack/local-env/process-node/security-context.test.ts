import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { runAs } from './security-context.ts';

function pod(podContext: object, containerContext?: object): V1Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'u' },
    spec: { securityContext: podContext, containers: [{ name: 'c', securityContext: containerContext }] },
  };
}

describe("a container's user", () => {
  it("runs as the pod's runAsUser, with group 0 unless given, when the agent is root", () => {
    const p = pod({ runAsNonRoot: true, runAsUser: 65532 });
    assert.deepEqual(runAs(p, p.spec!.containers[0]!, 0), { uid: 65532, gid: 0 });
  });

  it("lets the container's security context win over the pod's", () => {
    const p = pod({ runAsUser: 1000, runAsGroup: 1000 }, { runAsUser: 2000 });
    assert.deepEqual(runAs(p, p.spec!.containers[0]!, 0), { uid: 2000, gid: 1000 });
  });

  it('refuses a runAsNonRoot container that would run as root, as the kubelet does', () => {
    const p = pod({ runAsNonRoot: true });
    assert.throws(() => runAs(p, p.spec!.containers[0]!, 0), {
      reason: 'CreateContainerConfigError',
      message: 'container has runAsNonRoot and image will run as root (pod: "p_ns(u)", container: c)',
    } as object);
  });

  it('runs as the agent when the agent cannot switch users', () => {
    const p = pod({ runAsNonRoot: true, runAsUser: 65532 });
    assert.deepEqual(runAs(p, p.spec!.containers[0]!, 1000), {});
  });
});
