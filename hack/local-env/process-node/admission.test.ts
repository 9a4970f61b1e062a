import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { admissionProblem, refusedView } from './admission.ts';
import { podPhase } from './pod-status.ts';

const WEIR = 'ghcr.io/weir-dev/weir:0.1.0';

function pod(spec: Partial<NonNullable<V1Pod['spec']>>): V1Pod {
  return {
    metadata: { name: 'p', namespace: 'ns' },
    spec: { containers: [{ name: 'processor', image: WEIR }], ...spec },
  };
}

describe('pod admission', () => {
  it("runs pods whose containers all use Weir's image", () => {
    assert.equal(admissionProblem(pod({ volumes: [{ name: 'config', configMap: { name: 'c' } }] }), [WEIR]), undefined);
  });

  it('refuses any other image, naming the container and the images it runs', () => {
    assert.deepEqual(
      admissionProblem(
        pod({
          containers: [
            { name: 'processor', image: WEIR },
            { name: 'proxy', image: 'nginx:1.27' },
          ],
        }),
        [WEIR],
      ),
      {
        reason: 'UnsupportedImage',
        message: `the process node runs only Weir's image (${WEIR}); container proxy uses nginx:1.27`,
      },
    );
  });

  it('runs other images when told they are Weir images too', () => {
    assert.equal(
      admissionProblem(pod({ containers: [{ name: 'c', image: 'weir:dev' }] }), [WEIR, 'weir:dev']),
      undefined,
    );
  });

  it('refuses init containers and volumes it cannot provide', () => {
    assert.equal(
      admissionProblem(pod({ initContainers: [{ name: 'init', image: WEIR }] }), [WEIR])?.reason,
      'UnsupportedPod',
    );
    assert.match(
      admissionProblem(pod({ volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'd' } }] }), [WEIR])
        ?.message ?? '',
      /not data \(persistentVolumeClaim\)/,
    );
  });
});

describe('a refused pod', () => {
  const problem = { reason: 'UnsupportedImage', message: "the process node runs only Weir's image" };

  it('fails when nothing would replace it', () => {
    const view = refusedView(pod({}), problem, '127.0.0.1', 'T0');
    assert.equal(podPhase(view), 'Failed');
    assert.deepEqual(view.failure, problem);
  });

  it('stays Pending with its containers waiting for the reason when a controller owns it, so that its ReplicaSet does not replace it in a loop', () => {
    const owned = {
      ...pod({}),
      metadata: {
        name: 'p',
        namespace: 'ns',
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u', controller: true }],
      },
    };
    const view = refusedView(owned, problem, '127.0.0.1', 'T0');
    assert.equal(podPhase(view), 'Pending');
    assert.equal(view.failure, undefined);
    assert.deepEqual(view.containers[0]!.state, { kind: 'waiting', ...problem });
  });
});
