/**
 * Pod IPs on loopback. Linux routes all of 127.0.0.0/8 to `lo`, so every pod can get an
 * address of its own and bind its ports there without clashing with other pods, as pods
 * on a real node do in their own network namespaces. Addresses are handed out in turn, not
 * lowest-first, so that a new pod does not get the address a pod that just died had.
 */

/** Parses `a.b.c.d` into a 32-bit number. */
export function ipToNumber(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    throw new Error(`not an IPv4 address: '${ip}'`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** Hands out the addresses of a CIDR inside 127.0.0.0/8, one per pod. */
export class PodIpPool {
  readonly cidr: string;
  /** First and last usable address: the network and broadcast addresses are left out. */
  readonly #first: number;
  readonly #last: number;
  #next: number;
  readonly #byPod = new Map<string, string>();
  readonly #taken = new Set<string>();

  constructor(cidr: string) {
    const match = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
    if (!match) throw new Error(`pod CIDR must look like 127.42.0.0/16, got '${cidr}'`);
    const prefix = Number(match[2]);
    const base = ipToNumber(match[1]!);
    if (prefix < 8 || prefix > 30) throw new Error(`pod CIDR ${cidr}: the prefix must be between 8 and 30`);
    const size = 2 ** (32 - prefix);
    const network = base - (base % size);
    if (network !== base)
      throw new Error(`pod CIDR ${cidr}: ${match[1]} is not the network address (${numberToIp(network)})`);
    if (numberToIp(network).split('.')[0] !== '127')
      throw new Error(`pod CIDR ${cidr} is not inside 127.0.0.0/8: only loopback addresses reach no one else`);
    this.cidr = cidr;
    this.#first = network + 1;
    this.#last = network + size - 2;
    this.#next = this.#first;
  }

  /** The address a pod holds, if any. */
  get(pod: string): string | undefined {
    return this.#byPod.get(pod);
  }

  contains(ip: string): boolean {
    try {
      const n = ipToNumber(ip);
      return n >= this.#first && n <= this.#last;
    } catch {
      return false;
    }
  }

  /**
   * Gives the pod the address it already had (after the agent restarted), if that is in
   * the pool and nobody else holds it. Returns whether it did.
   */
  reserve(pod: string, ip: string): boolean {
    if (this.#byPod.get(pod) === ip) return true;
    if (!this.contains(ip) || this.#taken.has(ip) || this.#byPod.has(pod)) return false;
    this.#byPod.set(pod, ip);
    this.#taken.add(ip);
    return true;
  }

  /**
   * Gives the pod the next free address that `usable` accepts (for example: nothing else
   * on the machine listens on the pod's ports there). A pod that holds one keeps it.
   */
  async allocate(pod: string, usable: (ip: string) => boolean | Promise<boolean> = () => true): Promise<string> {
    const held = this.#byPod.get(pod);
    if (held) return held;
    const size = this.#last - this.#first + 1;
    for (let tried = 0; tried < size; tried++) {
      const candidate = numberToIp(this.#next);
      this.#next = this.#next === this.#last ? this.#first : this.#next + 1;
      if (this.#taken.has(candidate)) continue;
      // Held while `usable` runs, so that two pods allocating at once cannot get the same one.
      this.#taken.add(candidate);
      if (await usable(candidate)) {
        this.#byPod.set(pod, candidate);
        return candidate;
      }
      this.#taken.delete(candidate);
    }
    throw new Error(`no free pod IP left in ${this.cidr}`);
  }

  /** Frees the pod's address. */
  release(pod: string): void {
    const ip = this.#byPod.get(pod);
    if (ip === undefined) return;
    this.#byPod.delete(pod);
    this.#taken.delete(ip);
  }
}
