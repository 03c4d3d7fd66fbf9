/** Pure classification of IP addresses (no DNS, no sockets). */
import { describe, expect, it } from 'vitest';
import { addressClass } from '../src/net/address-class.js';

describe('addressClass', () => {
  const cases: Array<[string, string | undefined]> = [
    ['127.0.0.1', 'loopback'],
    ['127.200.3.4', 'loopback'],
    ['0.0.0.0', 'loopback'],
    ['::1', 'loopback'],
    ['::', 'loopback'],
    ['[::1]', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.128.0.1', 'public'],
    ['224.0.0.1', 'private'],
    ['255.255.255.255', 'private'],
    ['198.18.0.1', 'private'],
    ['192.0.2.5', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fec0::1', 'private'],
    ['ff02::1', 'private'],
    ['2001:db8::1', 'private'],
    ['1.1.1.1', 'public'],
    ['93.184.216.34', 'public'],
    ['2a01:4f8::1', 'public'],
    ['2606:4700:4700::1111', 'public'],
    // IPv6 carrying IPv4: the IPv4 address decides
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:192.168.0.1', 'private'],
    ['::ffff:1.2.3.4', 'public'],
    ['0:0:0:0:0:ffff:169.254.1.1', 'link-local'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['2002:c0a8:0101::1', 'private'], // 6to4 of 192.168.1.1
    ['2002:0808:0808::1', 'public'],
    // not addresses
    ['example.org', undefined],
    ['', undefined],
    ['1.2.3', undefined],
    ['::ffff:999.1.1.1', undefined],
  ];
  for (const [address, expected] of cases) {
    it(`${address || '(empty)'} is ${expected ?? 'not an address'}`, () => {
      expect(addressClass(address)).toBe(expected);
    });
  }
});
