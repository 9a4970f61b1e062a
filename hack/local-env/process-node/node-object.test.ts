import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { desiredNode, machineFacts, nodeConditions, type NodeFacts } from './node-object.ts';

const facts: NodeFacts = {
  name: 'weir-process-node',
  cpus: 2,
  memoryBytes: 24 * 1024 ** 3,
  ephemeralStorageBytes: 100 * 1024 ** 3,
  maxPods: 110,
  kubeletVersion: 'v1.36.3',
  architecture: 'amd64',
  kernelVersion: '6.1.0',
  osImage: 'Debian GNU/Linux 12 (bookworm)',
  machineID: 'm',
  bootID: 'b',
  address: '127.0.0.1',
};

describe('the Node', () => {
  it('offers the machine as capacity and allocatable, in the units the scheduler reads', () => {
    const node = desiredNode(facts);
    assert.deepEqual(node.status.allocatable, {
      cpu: '2',
      memory: '25165824Ki',
      pods: '110',
      'ephemeral-storage': '104857600Ki',
    });
    assert.deepEqual(node.status.capacity, node.status.allocatable);
    assert.equal(node.metadata.labels['kubernetes.io/hostname'], 'weir-process-node');
    assert.equal(node.status.nodeInfo.kubeletVersion, 'v1.36.3');
  });

  it('is Ready without pressure, and keeps transition times while nothing changes', () => {
    const first = nodeConditions(undefined, 'T0');
    assert.deepEqual(
      first.map((c) => `${c.type}=${c.status}`),
      ['MemoryPressure=False', 'DiskPressure=False', 'PIDPressure=False', 'Ready=True'],
    );
    const later = nodeConditions(first, 'T1');
    assert.deepEqual(
      later.map((c) => [c.lastHeartbeatTime, c.lastTransitionTime]),
      Array(4).fill(['T1', 'T0']),
    );
  });

  it('says why it is not ready when the agent stops', () => {
    const stopped = nodeConditions(nodeConditions(undefined, 'T0'), 'T1', {
      reason: 'ProcessNodeStopped',
      message: 'the process node agent stopped',
    });
    const ready = stopped.find((c) => c.type === 'Ready')!;
    assert.deepEqual([ready.status, ready.reason, ready.lastTransitionTime], ['False', 'ProcessNodeStopped', 'T1']);
  });

  it('reads the facts of this machine', () => {
    const here = machineFacts({ name: 'n', maxPods: 10, kubeletVersion: 'v1', rootDir: '/' });
    assert.ok(here.cpus >= 1);
    assert.ok(here.memoryBytes > 0);
    assert.ok(here.ephemeralStorageBytes > 0);
  });
});
