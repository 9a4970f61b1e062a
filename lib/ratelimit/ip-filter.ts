/**
 * IP allow and deny lists of RateLimitPolicies (`ipAllow`, `ipDeny`), on Node's BlockList.
 * A client must be in every allow list that is set and in no deny list; an IPv4 client
 * seen through a dual-stack socket (`::ffff:10.1.2.3`) is checked as the IPv4 address it is.
 */
import { BlockList, isIP } from 'node:net';

/** Networks in CIDR notation, compiled once per policy generation. */
export interface IpFilter {
  /** Each list that is set must contain the client; empty when nothing restricts. */
  allow: BlockList[];
  deny: BlockList[];
}

/** Why a client was refused, or that it may pass. */
export type IpVerdict = { allowed: true } | { allowed: false; reason: 'denied' | 'not-allowed'; list: number };

/** An address and its family, with IPv4-mapped IPv6 addresses turned back into IPv4. */
export function normalizeAddress(address: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const plain = mapped ? mapped[1]! : address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const version = isIP(plain);
  if (version === 4) return { address: plain, family: 'ipv4' };
  if (version === 6) return { address: plain, family: 'ipv6' };
  return undefined;
}

/** A BlockList of CIDRs; throws a TypeError naming the first entry that is not a network. */
export function compileCidrs(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const slash = cidr.lastIndexOf('/');
    const base = normalizeAddress(slash < 0 ? cidr : cidr.slice(0, slash));
    const prefix = slash < 0 ? undefined : Number(cidr.slice(slash + 1));
    const max = base?.family === 'ipv4' ? 32 : 128;
    if (!base || (prefix !== undefined && (!Number.isInteger(prefix) || prefix < 0 || prefix > max)))
      throw new TypeError(`${JSON.stringify(cidr)} is not a network in CIDR notation`);
    list.addSubnet(base.address, prefix ?? max, base.family);
  }
  return list;
}

/** Combines the allow and deny lists of several policies. */
export function compileIpFilter(
  lists: readonly { ipAllow?: readonly string[]; ipDeny?: readonly string[] }[],
): IpFilter {
  return {
    allow: lists.filter((l) => l.ipAllow?.length).map((l) => compileCidrs(l.ipAllow!)),
    deny: lists.filter((l) => l.ipDeny?.length).map((l) => compileCidrs(l.ipDeny!)),
  };
}

/** Whether a client address may pass the filter; an address that cannot be parsed never passes a set list. */
export function checkIp(filter: IpFilter, address: string): IpVerdict {
  if (filter.allow.length === 0 && filter.deny.length === 0) return { allowed: true };
  const ip = normalizeAddress(address);
  for (const [list, deny] of filter.deny.entries())
    if (!ip || deny.check(ip.address, ip.family)) return { allowed: false, reason: 'denied', list };
  for (const [list, allow] of filter.allow.entries())
    if (!ip || !allow.check(ip.address, ip.family)) return { allowed: false, reason: 'not-allowed', list };
  return { allowed: true };
}
