/**
 * The process node: a kubelet stand-in that runs the pods scheduled to it that use Weir's
 * image as local Node.js processes (see agent.ts). The local environment starts it as its
 * `process-node` component; it talks to the cluster in KUBECONFIG.
 *
 *   node hack/local-env/process-node/main.ts --root-dir <dir> [--node-name weir-process-node]
 *     [--pod-cidr 127.42.0.0/16] [--images ghcr.io/weir-dev/weir:0.1.0,...] [--max-pods 110]
 *     [--pid-file <environment pid file>] [--log-level info]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadConfig } from '../../../operator/main.ts';
import { systemClock } from '../../../lib/clock/clock.ts';
import { loadKubeConfig } from '../../../lib/kube/kube-config.ts';
import { ProcessNodeAgent } from './agent.ts';
import { imageRoot } from './image-root.ts';

/** How long pods get to stop when the agent itself stops. */
const SHUTDOWN_GRACE_MS = 5_000;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'node-name': { type: 'string', default: 'weir-process-node' },
      'pod-cidr': { type: 'string', default: '127.42.0.0/16' },
      // The operator's default processor image, so that the two cannot drift apart.
      images: { type: 'string', default: loadConfig([], {}).processorImage },
      'max-pods': { type: 'string', default: '110' },
      'root-dir': { type: 'string' },
      'pid-file': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
    },
  });
  if (!values['root-dir']) throw new Error('--root-dir is required: the directory for pod volumes and logs');
  const maxPods = Number(values['max-pods']);
  if (!Number.isInteger(maxPods) || maxPods < 1)
    throw new Error(`--max-pods must be a positive integer, got '${values['max-pods']}'`);
  const rootDir = values['root-dir'];
  const log = pino({ level: values['log-level'], base: { component: 'weir-process-node', node: values['node-name'] } });
  const image = imageRoot(join(import.meta.dirname, '..', '..', '..'), rootDir);
  if (image.staged)
    log.info(
      { image: image.dir, files: image.files },
      'the repository is private to its owner: containers run from a staged image of it',
    );
  const agent = new ProcessNodeAgent({
    kubeConfig: loadKubeConfig(),
    nodeName: values['node-name'],
    images: values.images
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    podCidr: values['pod-cidr'],
    maxPods,
    rootDir,
    repoRoot: image.dir,
    pidFile: values['pid-file'] ?? join(rootDir, 'pids'),
    containerPidFile: join(rootDir, 'container-pids'),
    clock: systemClock,
    log,
  });
  const stopping = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await agent.start();
  const signal = await stopping;
  log.info({ signal }, 'stopping: every pod stops with the node');
  await agent.stop(SHUTDOWN_GRACE_MS);
  log.info('stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`weir-process-node: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
