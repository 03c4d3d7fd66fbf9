/**
 * The crawl's address guard against real capsules on loopback. A test hook
 * (setAddressClassifierForTests) lets two loopback capsules stand for public
 * hosts, and a test resolver maps names to the capsules' loopback addresses:
 * so a "public" seed can link to a loopback IP literal, and to a name that
 * resolves to loopback, and the test can see (in the servers' logs) that
 * nothing was sent to them.
 */
import dns from 'node:dns';
import fs from 'node:fs';
import path from 'node:path';
import { requireBuild, runCli, scratchDirs } from './support/cli.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { crawl, ERR_ADDRESS_REFUSED, type CrawlOptions, type CrawlRecord } from '../src/bulk/crawl.js';
import { AddressGuard, setAddressClassifierForTests } from '../src/bulk/address-guard.js';
import { addressClass } from '../src/net/address-class.js';
import type { LookupFunction } from '../src/net/dns-cache.js';
import { parseGeminiUrl } from '../src/protocol/url.js';
import { startGeminispace, type Geminispace } from './support/geminispace.js';
import { startGeminiServer } from './support/gemini-server.js';

const fast = { trust: 'insecure' as const, connectTimeout: 2000, handshakeTimeout: 2000, headerTimeout: 2000, idleTimeout: 1000, totalTimeout: 5000 };

/** A resolver that answers `names` (name -> address) and fails every other name. */
function resolverOf(names: Map<string, string>): LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void) => {
    const address = names.get(hostname);
    process.nextTick(() => {
      if (address === undefined) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '');
      if (options.all) callback(null, [{ address, family: 4 }]);
      else callback(null, address, 4);
    });
  }) as LookupFunction;
}

describe('address guard in a crawl', () => {
  let space: Geminispace;
  let names: Map<string, string>;
  let publicAddresses: Set<string>;
  beforeAll(async () => {
    space = await startGeminispace([
      { name: 'pub', pages: { '/': { body: '=> gemini://inner.test:{{PORT_inner}}/by-name\n=> {{inner}}/by-address\n=> gemini://pub2.test:{{PORT_pub2}}/\n' } } },
      { name: 'pub2', pages: { '/': { body: 'another public capsule\n' } } },
      { name: 'inner', pages: { '/by-name': { body: 'secret\n' }, '/by-address': { body: 'secret\n' } } },
    ]);
    // ports are known only now: write them into the page
    const port = (n: string): string => String(space.get(n).port);
    const page = space.get('pub').def.pages!['/'] as { body: string };
    page.body = page.body.replace('{{PORT_inner}}', port('inner')).replace('{{PORT_pub2}}', port('pub2'));
    names = new Map([
      ['pub.test', space.get('pub').host],
      ['pub2.test', space.get('pub2').host],
      ['inner.test', space.get('inner').host],
    ]);
    publicAddresses = new Set([space.get('pub').host, space.get('pub2').host]);
    setAddressClassifierForTests((address) => (publicAddresses.has(address) ? 'public' : addressClass(address)));
  });
  afterAll(async () => {
    setAddressClassifierForTests(undefined);
    await space?.close();
  });
  afterEach(() => {
    for (const c of space.capsules) c.log.length = 0;
  });

  const run = async (options: CrawlOptions = {}): Promise<CrawlRecord[]> => {
    const records: CrawlRecord[] = [];
    const seed = `gemini://pub.test:${space.get('pub').port}/`;
    for await (const r of crawl([seed], { scope: 'all', delay: 0, requestOptions: { ...fast, lookup: resolverOf(names) }, ...options })) records.push(r);
    return records;
  };

  it('a public seed never reaches a loopback address, by IP literal or by a name resolving to one', async () => {
    const records = await run();
    const inner = space.get('inner');
    const byName = records.find((r) => r.url.endsWith('/by-name'))!;
    const byAddress = records.find((r) => r.url.endsWith('/by-address'))!;
    for (const r of [byName, byAddress]) {
      expect(r.error?.code).toBe(ERR_ADDRESS_REFUSED);
      expect(r.attempts).toBe(0);
      expect(r.status).toBeNull();
    }
    expect(byName.error!.message).toContain(`inner.test (${inner.host}) is a loopback address`);
    expect(byName.error!.message).toContain('--allow-address-class loopback');
    expect(byAddress.error!.message).toContain(`${inner.host} is a loopback address`);
    expect(inner.log).toEqual([]); // not even robots.txt
    expect(inner.server!.maxConcurrentConnections).toBe(0);
    // the same class is followed
    expect(records.find((r) => r.url.startsWith('gemini://pub2.test'))?.status).toBe(20);
    expect(space.get('pub2').log.map((l) => l.path)).toEqual(['/robots.txt?gemfetch', '/']);
  });

  const makeDir = scratchDirs();

  it('keeps allowAddressClasses in the crawl settings; the CLI refuses an unknown class', async () => {
    const dir = makeDir('gemfetch-address-');
    await run({ allowAddressClasses: ['private', 'loopback'], stateDir: dir });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'crawl.json'), 'utf8'))).toMatchObject({ allowAddressClasses: ['loopback', 'private'] });
    await expect(run({ allowAddressClasses: [], stateDir: dir })).rejects.toMatchObject({ code: 'ERR_STATE_MISMATCH' });
    requireBuild();
    const bad = await runCli(makeDir(), ['crawl', '--allow-address-class', 'intranet', 'gemini://127.0.0.1/']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('allow-address-class');
  }, 60_000);

  it('the CLI refuses a link from a loopback seed to a private address literal, sending nothing, and says so in its summary', async () => {
    requireBuild();
    // Every request goes through a proxy on loopback, so even a broken guard sends nothing off this machine;
    // 192.0.2.1 (TEST-NET-1) is in the private class: the guard must refuse it before any request.
    const asked: string[] = [];
    const proxy = await startGeminiServer({ handler: async (ctx) => {
      asked.push(ctx.request);
      const body = ctx.request.endsWith('/out') ? '=> gemini://192.0.2.1/never\n=> /inside\n' : 'inside\n';
      await ctx.write(Buffer.from(`20 text/gemini\r\n${body}`));
      ctx.end('close_notify');
    } });
    try {
      const seed = `gemini://127.0.0.1:${proxy.port}/out`;
      const result = await runCli(makeDir(), ['crawl', '--insecure', '--delay', '0', '--scope', 'all', '--ignore-robots', '-q', '--proxy', `127.0.0.1:${proxy.port}`, seed], { timeoutMs: 60_000 });
      const lines = result.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as CrawlRecord);
      expect(lines.find((r) => r.url === 'gemini://192.0.2.1/never')).toMatchObject({ attempts: 0, status: null, error: { code: ERR_ADDRESS_REFUSED } });
      expect(lines.find((r) => r.url === `gemini://127.0.0.1:${proxy.port}/inside`)?.status).toBe(20);
      expect(asked.some((r) => r.includes('192.0.2.1'))).toBe(false);
      expect(result.code).toBe(0);
      const loud = await runCli(makeDir(), ['crawl', '--insecure', '--delay', '0', '--scope', 'all', '--ignore-robots', '--proxy', `127.0.0.1:${proxy.port}`, seed], { timeoutMs: 60_000 });
      expect(loud.stderr).toContain("1 refused: outside the seeds' address classes (see --allow-address-class)");
    } finally {
      await proxy.close();
    }
  }, 90_000);

  it('allowAddressClasses lets a class through', async () => {
    const records = await run({ allowAddressClasses: ['loopback'] });
    expect(records.find((r) => r.url.endsWith('/by-name'))).toMatchObject({ status: 20, error: null });
    expect(records.find((r) => r.url.endsWith('/by-address'))).toMatchObject({ status: 20, error: null });
  });

  it('a loopback seed may crawl loopback, and does not reach the "public" capsule', async () => {
    const inner = space.get('inner');
    const pub = space.get('pub');
    const innerPage = inner.def.pages!;
    innerPage['/'] = { body: `=> ${inner.url('/by-name')}\n=> ${pub.url('/')}\n` };
    const records: CrawlRecord[] = [];
    for await (const r of crawl([inner.url('/')], { scope: 'all', delay: 0, requestOptions: fast })) records.push(r);
    expect(records.find((r) => r.url === inner.url('/by-name'))?.status).toBe(20);
    expect(records.find((r) => r.url === pub.url('/'))?.error?.code).toBe(ERR_ADDRESS_REFUSED);
    expect(pub.log).toEqual([]);
  });

  it('through a proxy on loopback, a public crawl still works: the connect-time check applies to target hosts only', async () => {
    const proxy = await startGeminiServer({ handler: async (ctx) => {
      await ctx.write(Buffer.from(`20 text/gemini\r\nproxied ${ctx.request}\n`));
      ctx.end('close_notify');
    } });
    try {
      const withProxy = new Map([...names, ['proxy.test', '127.0.0.1']]);
      const records: CrawlRecord[] = [];
      const seed = `gemini://pub.test:${space.get('pub').port}/solo`;
      for await (const r of crawl([seed], { robots: false, delay: 0, requestOptions: { ...fast, lookup: resolverOf(withProxy), proxy: { host: 'proxy.test', port: proxy.port } } })) records.push(r);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ url: seed, status: 20, error: null });
    } finally {
      await proxy.close();
    }
  });

  it('a seed whose lookup failed at the start is fetched once it resolves, not refused as another class', async () => {
    let seedLookups = 0;
    // the first answer for the seed's name is a DNS failure (the guard's start), later ones its address
    const flaky = ((hostname: string, options: dns.LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void) => {
      if (hostname === 'pub.test' && seedLookups++ === 0) {
        process.nextTick(() => callback(Object.assign(new Error('getaddrinfo EAI_AGAIN pub.test'), { code: 'EAI_AGAIN' }), ''));
        return;
      }
      resolverOf(names)(hostname, options, callback);
    }) as LookupFunction;
    const records = await run({ requestOptions: { ...fast, lookup: flaky } });
    const seed = records.find((r) => r.url === `gemini://pub.test:${space.get('pub').port}/`);
    expect(seed?.error?.code).toBeUndefined();
    expect(seed?.status).toBe(20);
    expect(seedLookups).toBeGreaterThan(1);
    // and its class is now the crawl's: the other public capsule is reached, loopback still is not
    expect(space.get('pub2').log.length).toBeGreaterThan(0);
    expect(space.get('inner').log).toHaveLength(0);
  });

  it('refuses at connect time an answer that changed to another class since the check (DNS rebinding)', async () => {
    const answers = [space.get('pub2').host, space.get('inner').host];
    let calls = 0;
    // answers "public" the first time (the guard's check), loopback afterwards (the connection)
    const rebinding = ((hostname: string, options: dns.LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void) => {
      const address = hostname === 'rebind.test' ? answers[Math.min(calls++, 1)]! : names.get(hostname)!;
      process.nextTick(() => (options.all ? callback(null, [{ address, family: 4 }]) : callback(null, address, 4)));
    }) as LookupFunction;
    const guard = new AddressGuard([parseGeminiUrl(`gemini://pub.test/`)], { lookup: rebinding });
    expect(await guard.check(parseGeminiUrl('gemini://rebind.test/'))).toBeUndefined();
    const lookup = guard.lookupFunction(rebinding);
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => lookup('rebind.test', { all: true }, (e) => resolve(e)));
    expect(err?.code).toBe(ERR_ADDRESS_REFUSED);
    expect(err?.message).toContain(`rebind.test (${space.get('inner').host}) is a loopback address`);
  });
});
