/**
 * kube-controller-manager (ReplicaSets, garbage collection, namespace deletion, service
 * accounts) and kube-scheduler, both talking to the environment's API server.
 */
import { join } from 'node:path';
import type { ComponentContext } from './component.ts';
import { httpsGet } from './https-probe.ts';
import type { KubeApiserver } from './kube-apiserver.ts';
import { ManagedProcess, waitUntil } from './managed-process.ts';
import { freePort } from './ports.ts';
import { ProcessComponent } from './process-component.ts';

abstract class KubeController extends ProcessComponent {
  readonly dependsOn = ['kube-apiserver'] as const;
  readonly build = ['kube'] as const;
  protected apiserver: KubeApiserver;

  constructor(ctx: ComponentContext, apiserver: KubeApiserver) {
    super(ctx);
    this.apiserver = apiserver;
  }

  protected abstract command(): string;
  protected abstract extraArgs(): string[];

  async prepare(): Promise<void> {
    this.port = await freePort();
    this.proc = new ManagedProcess({
      name: this.name,
      command: this.command(),
      args: [
        `--kubeconfig=${this.apiserver.kubeconfigPath}`,
        `--authentication-kubeconfig=${this.apiserver.kubeconfigPath}`,
        `--authorization-kubeconfig=${this.apiserver.kubeconfigPath}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${this.port}`,
        ...this.extraArgs(),
      ],
      logFile: join(this.ctx.dir, `${this.name}.log`),
      pidFile: this.ctx.pidFile,
    });
  }

  async start(): Promise<void> {
    const proc = this.proc!;
    proc.start();
    // A liveness probe only: the serving certificate is self-signed and not trusted.
    await waitUntil(
      proc,
      'healthy',
      async () => (await httpsGet(`https://127.0.0.1:${this.port}/healthz`)).status === 200,
      60_000,
    );
  }

  env(): Record<string, string> {
    return {};
  }
}

export class KubeControllerManager extends KubeController {
  readonly name = 'kube-controller-manager';

  protected command(): string {
    return this.ctx.tools.kubeControllerManager;
  }

  protected extraArgs(): string[] {
    return [
      `--service-account-private-key-file=${this.apiserver.serviceAccountKeyFile}`,
      `--root-ca-file=${this.apiserver.caFile}`,
      '--use-service-account-credentials=false',
      // The node lifecycle controller lifts the not-ready taint off the process node once
      // it reports Ready, and taints it again if its heartbeats stop, as in a cluster.
      '--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route',
      // Every period the quota controller recounts every ResourceQuota in the cluster; its
      // default is 5 minutes. A quota that names a kind the controller had not found yet
      // when the quota was made (it looks for new CRDs every 30 s) is counted only then, so
      // tests, which install the CRDs and create Tenants at once, run it every 5 s.
      // WEIR_LOCAL_QUOTA_RESYNC sets another period: the benchmarks keep the default, as a
      // cluster does, since each recount costs CPU in proportion to the quotas there are.
      `--resource-quota-sync-period=${process.env.WEIR_LOCAL_QUOTA_RESYNC ?? '5s'}`,
      // At the default 20 requests/s the controller manager, not the API server, caps how
      // fast new namespaces settle: each needs a ServiceAccount, the root CA ConfigMap and
      // its quota counted. Clusters that create tenants in bulk raise this the same way.
      '--kube-api-qps=200',
      '--kube-api-burst=400',
      '--concurrent-resource-quota-syncs=20',
    ];
  }
}

export class KubeScheduler extends KubeController {
  readonly name = 'kube-scheduler';

  protected command(): string {
    return this.ctx.tools.kubeScheduler;
  }

  protected extraArgs(): string[] {
    return [];
  }
}
