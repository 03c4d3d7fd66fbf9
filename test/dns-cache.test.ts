/**
 * The client's DNS cache: answers reused within the TTL and never beyond it,
 * failures never reused, concurrent lookups resolved once, the number of names
 * bounded. The resolver under the cache is the system's (`dns.lookup` of
 * `localhost`), counted; a failing resolver is a function that answers
 * ENOTFOUND as `dns.lookup` does.
 */
import dns from 'node:dns';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Client } from '../src/net/client.js';
import { DnsCache, type LookupFunction } from '../src/net/dns-cache.js';
import { respondWith } from './support/gemini-server.js';
import { INSECURE_OPTIONS, perTestCleanup, rejection } from './support/harness.js';

const perTest = perTestCleanup();

/** dns.lookup, counting calls per host name; `failures` names fail (ENOTFOUND) that many more times. */
function countingResolver(failures: Record<string, number> = {}): { lookup: LookupFunction; calls: string[] } {
  const calls: string[] = [];
  const lookup = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    calls.push(hostname);
    if ((failures[hostname] ?? 0) > 0) {
      failures[hostname]!--;
      const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
      setImmediate(() => callback(err));
      return;
    }
    dns.lookup(hostname, options, callback as never);
  }) as LookupFunction;
  return { lookup, calls };
}

/** One lookup through `lookup`, as net.connect makes it. */
function lookUp(lookup: LookupFunction, hostname: string, options: dns.LookupOptions = {}): Promise<{ address: unknown; family?: unknown }> {
  return new Promise((resolve, reject) => {
    lookup(hostname, options, (err, address, family) => (err ? reject(err) : resolve({ address, family })));
  });
}

describe('DnsCache', () => {
  it('answers a name again from memory within the TTL, in the form asked for (one address or all)', async () => {
    const resolver = countingResolver();
    const lookup = new DnsCache().lookupFunction(resolver.lookup, 10_000);
    const one = await lookUp(lookup, 'localhost', { family: 4 });
    const again = await lookUp(lookup, 'localhost', { family: 4 });
    const all = await lookUp(lookup, 'localhost', { family: 4, all: true });
    expect(one).toEqual({ address: '127.0.0.1', family: 4 });
    expect(again).toEqual(one);
    expect(all.address).toEqual([{ address: '127.0.0.1', family: 4 }]);
    expect(resolver.calls).toEqual(['localhost']);
  });

  it('asks the resolver again once the TTL has passed', async () => {
    const resolver = countingResolver();
    const lookup = new DnsCache().lookupFunction(resolver.lookup, 40);
    await lookUp(lookup, 'localhost', { family: 4 });
    await lookUp(lookup, 'localhost', { family: 4 });
    expect(resolver.calls).toHaveLength(1);
    await sleep(80);
    await lookUp(lookup, 'localhost', { family: 4 });
    expect(resolver.calls).toHaveLength(2);
  });

  it('honours the shorter TTL of a later lookup over an answer cached with a longer one', async () => {
    const resolver = countingResolver();
    const cache = new DnsCache();
    await lookUp(cache.lookupFunction(resolver.lookup, 60_000), 'localhost', { family: 4 });
    await sleep(30);
    await lookUp(cache.lookupFunction(resolver.lookup, 10), 'localhost', { family: 4 });
    expect(resolver.calls).toHaveLength(2);
  });

  it('never reuses a failure: the next lookup asks again', async () => {
    const resolver = countingResolver({ localhost: 1 });
    const lookup = new DnsCache().lookupFunction(resolver.lookup, 10_000);
    await expect(lookUp(lookup, 'localhost', { family: 4 })).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(await lookUp(lookup, 'localhost', { family: 4 })).toEqual({ address: '127.0.0.1', family: 4 });
    expect(resolver.calls).toHaveLength(2);
  });

  it('resolves a name once for concurrent lookups, and hands a failure to every one of them', async () => {
    const resolver = countingResolver();
    const lookup = new DnsCache().lookupFunction(resolver.lookup, 10_000);
    const answers = await Promise.all(Array.from({ length: 5 }, () => lookUp(lookup, 'localhost', { family: 4 })));
    for (const a of answers) expect(a).toEqual({ address: '127.0.0.1', family: 4 });
    expect(resolver.calls).toHaveLength(1);

    const failing = countingResolver({ 'nowhere.invalid': 1 });
    const failingLookup = new DnsCache().lookupFunction(failing.lookup, 10_000);
    const results = await Promise.allSettled(Array.from({ length: 3 }, () => lookUp(failingLookup, 'nowhere.invalid')));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(failing.calls).toHaveLength(1);
  });

  it('a resolver that throws fails that lookup only; the next one asks again', async () => {
    let calls = 0;
    const throwing = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
      if (calls++ === 0) throw Object.assign(new TypeError('resolver broke'), { code: 'EBROKE' });
      dns.lookup(hostname, options, callback as never);
    }) as LookupFunction;
    const lookup = new DnsCache().lookupFunction(throwing, 10_000);
    await expect(lookUp(lookup, 'localhost', { family: 4 })).rejects.toThrow('resolver broke');
    expect(await lookUp(lookup, 'localhost', { family: 4 })).toEqual({ address: '127.0.0.1', family: 4 });
    expect(calls).toBe(2);
  });

  it('does not join a lookup stuck longer than the TTL: the resolver is asked again', async () => {
    let calls = 0;
    const stuckOnce = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
      if (calls++ === 0) return; // never answers
      dns.lookup(hostname, options, callback as never);
    }) as LookupFunction;
    const lookup = new DnsCache().lookupFunction(stuckOnce, 40);
    void lookUp(lookup, 'localhost', { family: 4 }).catch(() => {});
    await sleep(60);
    expect(await lookUp(lookup, 'localhost', { family: 4 })).toEqual({ address: '127.0.0.1', family: 4 });
    expect(calls).toBe(2);
  });

  it('keeps answers apart per address family and per resolver', async () => {
    const resolver = countingResolver();
    const other = countingResolver();
    const cache = new DnsCache();
    await lookUp(cache.lookupFunction(resolver.lookup, 10_000), 'localhost', { family: 4 });
    await lookUp(cache.lookupFunction(resolver.lookup, 10_000), 'localhost', { family: 0 });
    await lookUp(cache.lookupFunction(other.lookup, 10_000), 'localhost', { family: 4 });
    expect(resolver.calls).toHaveLength(2);
    expect(other.calls).toHaveLength(1);
  });

  it('holds at most maxEntries names, dropping the oldest', async () => {
    const names = ['a.localhost', 'b.localhost', 'c.localhost'];
    const calls: string[] = [];
    const fixed = ((hostname: string, _options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
      calls.push(hostname);
      setImmediate(() => callback(null, [{ address: '127.0.0.1', family: 4 }]));
    }) as LookupFunction;
    const cache = new DnsCache(2);
    const lookup = cache.lookupFunction(fixed, 10_000);
    for (const name of names) await lookUp(lookup, name);
    expect(cache.size).toBe(2);
    await lookUp(lookup, 'c.localhost'); // still held
    await lookUp(lookup, 'a.localhost'); // dropped: asked again
    expect(calls).toEqual([...names, 'a.localhost']);
  });

  it('ttl 0 is the resolver itself', () => {
    const resolver = countingResolver();
    expect(new DnsCache().lookupFunction(resolver.lookup, 0)).toBe(resolver.lookup);
  });
});

describe('Client DNS cache', () => {
  const localhostUrl = (port: number): string => `gemini://localhost:${port}/`;

  it('resolves a host once for a run of fetches, and for every fetch with dnsCacheTtl 0', async () => {
    const server = await perTest.serve(respondWith('20 text/plain', 'hello'));
    const cached = countingResolver();
    const client = new Client({ ...INSECURE_OPTIONS, family: 4, lookup: cached.lookup });
    for (let i = 0; i < 3; i++) expect((await client.fetch(localhostUrl(server.port))).complete).toBe(true);
    expect(cached.calls).toEqual(['localhost']);

    const uncached = countingResolver();
    const noCache = new Client({ ...INSECURE_OPTIONS, family: 4, lookup: uncached.lookup, dnsCacheTtl: 0 });
    for (let i = 0; i < 3; i++) expect((await noCache.fetch(localhostUrl(server.port))).complete).toBe(true);
    expect(uncached.calls).toHaveLength(3);
  });

  it('a failed lookup is ERR_DNS naming the host, and is not remembered', async () => {
    const server = await perTest.serve(respondWith('20 text/plain', 'hello'));
    const resolver = countingResolver({ localhost: 1 });
    const client = new Client({ ...INSECURE_OPTIONS, family: 4, lookup: resolver.lookup });
    const err = await rejection(client.fetch(localhostUrl(server.port)));
    expect(err.code).toBe('ERR_DNS');
    expect(err.message).toContain('localhost');
    expect((await client.fetch(localhostUrl(server.port))).complete).toBe(true);
    expect(resolver.calls).toHaveLength(2);
  });

  it('refuses unusable options before connecting', async () => {
    expect(() => new Client({ dnsCacheTtl: -1 })).toThrow(/dnsCacheTtl/);
    expect(() => new Client({ lookup: 'dns' as never })).toThrow(/lookup/);
  });
});
