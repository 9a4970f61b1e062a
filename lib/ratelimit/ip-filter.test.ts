import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkIp, compileCidrs, compileIpFilter, normalizeAddress } from './ip-filter.ts';

describe('IP allow and deny lists', () => {
  const cases: [string, { ipAllow?: string[]; ipDeny?: string[] }[], string, boolean][] = [
    ['lets everyone through when no list is set', [{}], '203.0.113.9', true],
    ['lets a client in an allowed network through', [{ ipAllow: ['10.0.0.0/8'] }], '10.20.30.40', true],
    ['refuses a client outside every allowed network', [{ ipAllow: ['10.0.0.0/8'] }], '192.168.1.1', false],
    [
      'refuses a denied client even when it is also allowed',
      [{ ipAllow: ['10.0.0.0/8'], ipDeny: ['10.6.0.0/16'] }],
      '10.6.1.1',
      false,
    ],
    ['checks an IPv4-mapped IPv6 address as IPv4', [{ ipDeny: ['127.0.0.0/8'] }], '::ffff:127.0.0.1', false],
    ['matches IPv6 networks', [{ ipAllow: ['2001:db8::/32'] }], '2001:db8::42', true],
    ['refuses an IPv6 client when only IPv4 networks are allowed', [{ ipAllow: ['10.0.0.0/8'] }], '2001:db8::1', false],
    ['takes a bare address as a single host', [{ ipDeny: ['198.51.100.7'] }], '198.51.100.7', false],
    ['lets the next host of a single-host entry through', [{ ipDeny: ['198.51.100.7'] }], '198.51.100.8', true],
    [
      'requires the client in every allow list of several policies',
      [{ ipAllow: ['10.0.0.0/8'] }, { ipAllow: ['10.1.0.0/16'] }],
      '10.2.0.1',
      false,
    ],
    ['refuses an address it cannot parse when a list is set', [{ ipAllow: ['0.0.0.0/0'] }], 'not-an-ip', false],
  ];
  for (const [name, policies, ip, allowed] of cases) {
    it(name, () => assert.equal(checkIp(compileIpFilter(policies), ip).allowed, allowed));
  }

  it('says which kind of list refused the client', () => {
    const filter = compileIpFilter([{ ipAllow: ['10.0.0.0/8'], ipDeny: ['10.9.0.0/16'] }]);
    assert.deepEqual(checkIp(filter, '10.9.0.1'), { allowed: false, reason: 'denied', list: 0 });
    assert.deepEqual(checkIp(filter, '11.0.0.1'), { allowed: false, reason: 'not-allowed', list: 0 });
  });

  it('names the entry that is not a network', () => {
    assert.throws(() => compileCidrs(['10.0.0.0/8', '10.0.0.0/33']), /"10.0.0.0\/33" is not a network/);
    assert.throws(() => compileCidrs(['example.com/24']), /"example.com\/24"/);
  });

  it('normalizes bracketed and zoned IPv6 addresses', () => {
    assert.deepEqual(normalizeAddress('[::1]'), { address: '::1', family: 'ipv6' });
    assert.deepEqual(normalizeAddress('fe80::1%eth0'), { address: 'fe80::1', family: 'ipv6' });
    assert.equal(normalizeAddress('300.1.1.1'), undefined);
  });
});
