/**
 * kube-apiserver on loopback, backed by the environment's etcd. Clients authenticate
 * with a static token in system:masters; the server's self-signed certificate is the
 * CA written into the kubeconfig, so clients verify TLS.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ComponentContext } from './component.ts';
import { ProcessComponent } from './process-component.ts';
import type { Etcd } from './etcd.ts';
import { httpsGet } from './https-probe.ts';
import { ManagedProcess, waitUntil } from './managed-process.ts';
import { freePort } from './ports.ts';

export class KubeApiserver extends ProcessComponent {
  readonly name = 'kube-apiserver';
  readonly dependsOn = ['etcd'] as const;
  // helm comes along: it is a client of the API server that tests and users reach for.
  readonly build = ['kube', 'helm'] as const;
  #etcd: Etcd;
  readonly token = randomBytes(24).toString('hex');
  certDir = '';
  /** Private key the controller manager signs service account tokens with. */
  serviceAccountKeyFile = '';
  kubeconfigPath = '';

  constructor(ctx: ComponentContext, etcd: Etcd) {
    super(ctx);
    this.#etcd = etcd;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** PEM of the CA that signed the serving certificate. */
  get caFile(): string {
    return join(this.certDir, 'apiserver.crt');
  }

  async prepare(): Promise<void> {
    this.port = await freePort();
    const dir = join(this.ctx.dir, 'kube-apiserver');
    this.certDir = join(dir, 'certs');
    mkdirSync(this.certDir, { recursive: true });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.serviceAccountKeyFile = join(dir, 'sa.key');
    const saPub = join(dir, 'sa.pub');
    writeFileSync(this.serviceAccountKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
    const tokens = join(dir, 'tokens.csv');
    writeFileSync(tokens, `${this.token},weir-admin,weir-admin,"system:masters"\n`, { mode: 0o600 });
    this.kubeconfigPath = join(this.ctx.dir, 'kubeconfig');
    this.proc = new ManagedProcess({
      name: this.name,
      command: this.ctx.tools.kubeApiserver,
      args: [
        `--etcd-servers=${this.#etcd.url}`,
        `--cert-dir=${this.certDir}`,
        `--secure-port=${this.port}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        '--service-cluster-ip-range=10.96.0.0/16',
        '--authorization-mode=RBAC',
        `--token-auth-file=${tokens}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${this.serviceAccountKeyFile}`,
        '--endpoint-reconciler-type=none',
        '--allow-privileged=true',
        '--v=0',
      ],
      // A clean shutdown waits for long-running watches to drain; etcd holds all state,
      // so a short grace keeps restarts in fault-injection tests quick.
      stopGraceMs: 3000,
      logFile: join(this.ctx.dir, 'kube-apiserver.log'),
      pidFile: this.ctx.pidFile,
    });
  }

  async start(): Promise<void> {
    const proc = this.proc!;
    proc.start();
    await waitUntil(
      proc,
      'ready',
      async () => {
        if (!existsSync(this.caFile)) return false;
        const res = await httpsGet(`${this.url}/readyz`, { ca: readFileSync(this.caFile, 'utf8'), token: this.token });
        return res.status === 200;
      },
      90_000,
    );
    this.#writeKubeconfig();
  }

  #writeKubeconfig(): void {
    const ca = readFileSync(this.caFile).toString('base64');
    const kubeconfig = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'weir-local', cluster: { server: this.url, 'certificate-authority-data': ca } }],
      users: [{ name: 'weir-admin', user: { token: this.token } }],
      contexts: [{ name: 'weir-local', context: { cluster: 'weir-local', user: 'weir-admin' } }],
      'current-context': 'weir-local',
    };
    writeFileSync(this.kubeconfigPath, stringify(kubeconfig), { mode: 0o600 });
  }

  env(): Record<string, string> {
    return { KUBECONFIG: this.kubeconfigPath };
  }
}
