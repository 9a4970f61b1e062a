/**
 * The Node the process node registers, as a kubelet would describe this machine: labels,
 * capacity and allocatable (CPUs, memory, disk and pods), the Ready and pressure
 * conditions, addresses and node info.
 */
import { readFileSync, statfsSync } from 'node:fs';
import { availableParallelism, hostname, release, totalmem } from 'node:os';

/** What the Node says about the machine and the agent. */
export interface NodeFacts {
  name: string;
  cpus: number;
  memoryBytes: number;
  ephemeralStorageBytes: number;
  maxPods: number;
  /** Reported as the kubelet version; the API server's own version, so that version skew checks pass. */
  kubeletVersion: string;
  architecture: string;
  kernelVersion: string;
  osImage: string;
  machineID: string;
  bootID: string;
  /** The address the Node is reached at, and its pods' host IP. */
  address: string;
}

function readTrimmed(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The facts of this machine. */
export function machineFacts(options: {
  name: string;
  maxPods: number;
  kubeletVersion: string;
  rootDir: string;
}): NodeFacts {
  const osRelease = readTrimmed('/etc/os-release');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? 'Linux';
  let ephemeralStorageBytes = 0;
  try {
    const fs = statfsSync(options.rootDir);
    ephemeralStorageBytes = fs.blocks * fs.bsize;
  } catch {
    // Left at zero: the scheduler only checks it for pods that ask for ephemeral storage.
  }
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
  return {
    name: options.name,
    cpus: availableParallelism(),
    memoryBytes: totalmem(),
    ephemeralStorageBytes,
    maxPods: options.maxPods,
    kubeletVersion: options.kubeletVersion,
    architecture: arch[process.arch] ?? process.arch,
    kernelVersion: release(),
    osImage: pretty,
    machineID: readTrimmed('/etc/machine-id') || hostname(),
    bootID: readTrimmed('/proc/sys/kernel/random/boot_id'),
    address: '127.0.0.1',
  };
}

/** Labels every kubelet sets, plus one that says what this node is. */
export function nodeLabels(facts: NodeFacts): Record<string, string> {
  return {
    'kubernetes.io/hostname': facts.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': facts.architecture,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': facts.architecture,
    'weir.dev/process-node': 'true',
  };
}

/** A node condition as the API has it. */
export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
}

/**
 * Ready (or not, with `notReady`'s reason) and no memory, disk or PID pressure. A condition
 * whose status stays keeps its lastTransitionTime from `previous`.
 */
export function nodeConditions(
  previous: NodeCondition[] | undefined,
  now: string,
  notReady?: { reason: string; message: string },
): NodeCondition[] {
  const make = (type: string, status: NodeCondition['status'], reason: string, message: string): NodeCondition => {
    const before = previous?.find((c) => c.type === type);
    return {
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: before?.status === status ? before.lastTransitionTime : now,
    };
  };
  return [
    make('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'process node has sufficient memory available'),
    make('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'process node has no disk pressure'),
    make('PIDPressure', 'False', 'KubeletHasSufficientPID', 'process node has sufficient PID available'),
    notReady
      ? make('Ready', 'False', notReady.reason, notReady.message)
      : make('Ready', 'True', 'KubeletReady', 'process node is posting ready status'),
  ];
}

/** The Node's status but for its conditions. */
export function nodeStatusFacts(facts: NodeFacts) {
  const capacity = {
    cpu: String(facts.cpus),
    memory: `${Math.floor(facts.memoryBytes / 1024)}Ki`,
    pods: String(facts.maxPods),
    'ephemeral-storage': `${Math.floor(facts.ephemeralStorageBytes / 1024)}Ki`,
  };
  return {
    capacity,
    // Nothing is reserved for system daemons: the pods are ordinary processes of this machine.
    allocatable: capacity,
    addresses: [
      { type: 'InternalIP', address: facts.address },
      { type: 'Hostname', address: facts.name },
    ],
    // No kubelet API: `kubectl logs` and `exec` do not work; the logs are files (see README).
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: {
      machineID: facts.machineID,
      systemUUID: facts.machineID,
      bootID: facts.bootID,
      kernelVersion: facts.kernelVersion,
      osImage: facts.osImage,
      containerRuntimeVersion: `process://${process.version}`,
      kubeletVersion: facts.kubeletVersion,
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: facts.architecture,
    },
  };
}

/** The Node as first registered; its conditions follow in a status update. */
export function desiredNode(facts: NodeFacts) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: facts.name, labels: nodeLabels(facts), annotations: { 'node.alpha.kubernetes.io/ttl': '0' } },
    spec: {},
    status: nodeStatusFacts(facts),
  };
}
