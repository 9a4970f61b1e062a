/**
 * The Secrets a Region references — admin credentials of its backends, a CA bundle — read
 * only in the platform namespace (the operator may read no other Secret), and cached for a
 * short time so that rotation is picked up without a read per reconcile.
 */
import type { Clock } from '../../lib/clock/clock.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import { decode, type SecretData } from './credentials.ts';

/** How long what was read from a Secret is used before the Secret is read again. */
const TTL_MS = 30_000;

/** Username and password of a credentials Secret, and the Secret's resourceVersion. */
export interface Credentials {
  username?: string;
  password?: string;
  version: string;
}

export class RegionSecrets {
  #client: Pick<KubeClient, 'read'>;
  #platformNamespace: string;
  #clock: Clock;
  #cache = new Map<string, { at: number; secret: SecretData }>();

  constructor(options: { client: Pick<KubeClient, 'read'>; platformNamespace: string; clock: Clock }) {
    this.#client = options.client;
    this.#platformNamespace = options.platformNamespace;
    this.#clock = options.clock;
  }

  /** The Secret `namespace/name`; throws InvalidSpec if it is outside the platform namespace or missing. */
  async read(ref: { namespace: string; name: string }): Promise<SecretData> {
    const key = `${ref.namespace}/${ref.name}`;
    if (ref.namespace !== this.#platformNamespace)
      throw weirError(
        Errors.InvalidSpec,
        `Secret ${key}: a Region's Secrets must be in the platform namespace ${this.#platformNamespace}`,
      );
    const now = this.#clock.monotonic();
    const cached = this.#cache.get(key);
    if (cached && now - cached.at < TTL_MS) return cached.secret;
    const secret = await this.#client.read<SecretData>({ apiVersion: 'v1', kind: 'Secret', metadata: ref });
    if (!secret) throw weirError(Errors.InvalidSpec, `Secret ${key} does not exist`);
    this.#cache.set(key, { at: now, secret });
    return secret;
  }

  /** The keys `username` and `password` of a credentials Secret; none without a reference. */
  async credentials(ref: { namespace: string; name: string } | undefined): Promise<Credentials> {
    if (!ref) return { version: '' };
    const secret = await this.read(ref);
    return {
      username: decode(secret, 'username'),
      password: decode(secret, 'password'),
      version: secret.metadata?.resourceVersion ?? '',
    };
  }

  /** One key of a Secret as text; throws InvalidSpec if it is not there. */
  async key(ref: { namespace: string; name: string; key: string }): Promise<string> {
    const value = decode(await this.read(ref), ref.key);
    if (value === undefined)
      throw weirError(Errors.InvalidSpec, `Secret ${ref.namespace}/${ref.name} has no key ${ref.key}`);
    return value;
  }
}
