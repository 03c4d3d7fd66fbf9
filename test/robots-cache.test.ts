/**
 * robots.txt caching: the cache file (pure file I/O), then real crawls of
 * capsules on loopback: a resumed crawl reuses a fresh robots.txt and fetches
 * it again after the TTL, a long crawl fetches it again mid-run, and only the
 * first MAX_ROBOTS_BYTES are read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawl, type CrawlOptions, type CrawlRecord } from '../src/bulk/crawl.js';
import { DEFAULT_ROBOTS_TTL, MAX_ROBOTS_BYTES, ROBOTS_CACHE_FILE, RobotsCache } from '../src/bulk/robots-cache.js';
import { startGeminispace, type Geminispace } from './support/geminispace.js';
import { requireBuild, runCli, scratchDirs } from './support/cli.js';

const fast = { trust: 'insecure' as const, connectTimeout: 2000, handshakeTimeout: 2000, headerTimeout: 2000, idleTimeout: 1000, totalTimeout: 5000 };
const makeDir = scratchDirs();

describe('RobotsCache', () => {
  it('stores entries in DIR/robots.ndjson, last one of a host winning, and serves them while fresh', () => {
    const dir = makeDir('gemfetch-robots-');
    const cache = new RobotsCache(dir, 1000);
    cache.put('a:1965', { fetchedAt: 5000, body: 'User-agent: *\nDisallow: /old' });
    cache.put('a:1965', { fetchedAt: 6000, body: 'User-agent: *\nDisallow: /new' });
    cache.put('b:1965', { fetchedAt: 6000, body: null });
    const again = new RobotsCache(dir, 1000);
    expect(again.take('a:1965', 6500)).toEqual({ fetchedAt: 6000, body: 'User-agent: *\nDisallow: /new' });
    expect(again.take('a:1965', 6500)).toBeUndefined(); // handed over once
    expect(again.take('b:1965', 7000)).toBeUndefined(); // 1000 ms old: stale
    expect(new RobotsCache(dir, 1000).take('b:1965', 6999)).toEqual({ fetchedAt: 6000, body: null });
    expect(new RobotsCache(undefined).ttl).toBe(DEFAULT_ROBOTS_TTL);
  });

  it('skips a torn last line and cuts it, so the next entry is readable', () => {
    const dir = makeDir('gemfetch-robots-');
    const file = path.join(dir, ROBOTS_CACHE_FILE);
    fs.writeFileSync(file, `${JSON.stringify({ host: 'a:1965', fetchedAt: 1, body: null })}\n{"host":"b:19`);
    const cache = new RobotsCache(dir, 10);
    expect(fs.readFileSync(file, 'utf8').endsWith('}\n')).toBe(true);
    cache.put('c:1965', { fetchedAt: 2, body: 'x' });
    const again = new RobotsCache(dir, 10);
    expect(again.take('a:1965', 5)).toEqual({ fetchedAt: 1, body: null });
    expect(again.take('b:1965', 5)).toBeUndefined();
    expect(again.take('c:1965', 5)).toEqual({ fetchedAt: 2, body: 'x' });
  });

  it('names the file when it cannot be written', () => {
    const dir = makeDir('gemfetch-robots-');
    fs.mkdirSync(path.join(dir, ROBOTS_CACHE_FILE)); // a directory where the file goes
    expect(() => new RobotsCache(dir)).toThrow(/robots\.txt cache.*robots\.ndjson|robots\.ndjson/);
  });
});

describe('robots.txt TTL in a crawl', () => {
  let space: Geminispace;
  beforeAll(async () => {
    space = await startGeminispace([
      { name: 'site', robots: 'User-agent: *\nDisallow: /no\n', pages: { '/': { body: '=> /a\n=> /b\n=> /c\n=> /no\n' }, '/a': { body: 'a\n' }, '/b': { body: 'b\n' }, '/c': { body: 'c\n' } } },
      { name: 'chain', robots: 'User-agent: *\nDisallow: /never\n', pages: {} },
      { name: 'big', robots: `User-agent: *\nDisallow: /early\n${'# padding\n'.repeat(Math.ceil(MAX_ROBOTS_BYTES / 10))}Disallow: /late\n`, pages: { '/': { body: '=> /early\n=> /late\n' }, '/late': { body: 'late\n' } } },
    ]);
    // chain: /1 -> /2 -> ... -> /6; serving /3 changes the robots.txt (to disallow /6)
    const chain = space.get('chain');
    for (let i = 1; i <= 6; i++) {
      chain.def.pages![`/${i}`] = () => {
        if (i === 3) chain.def.robots = 'User-agent: *\nDisallow: /6\n';
        return { body: i < 6 ? `=> /${i + 1}\n` : 'end\n' };
      };
    }
  });
  afterAll(async () => {
    await space?.close();
  });

  const run = async (seeds: string[], options: CrawlOptions): Promise<CrawlRecord[]> => {
    const records: CrawlRecord[] = [];
    for await (const r of crawl(seeds, { requestOptions: fast, delay: 0, ...options })) records.push(r);
    return records;
  };
  const robotsRequests = (name: string): number => space.get(name).log.filter((l) => l.path === '/robots.txt?gemfetch').length;

  it('a resumed crawl reuses a fresh robots.txt from the state directory, and fetches it again after the TTL', async () => {
    const site = space.get('site');
    const dir = makeDir('gemfetch-robots-state-');
    site.log.length = 0;
    const first = await run([site.url('/')], { stateDir: dir, maxPages: 2, robotsTtl: 1500 });
    expect(first.filter((r) => r.attempts > 0).length).toBe(2);
    expect(robotsRequests('site')).toBe(1);
    const stored = fs.readFileSync(path.join(dir, ROBOTS_CACHE_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { host: string; body: string });
    expect(stored).toEqual([expect.objectContaining({ host: `${site.host}:${site.port}`, body: 'User-agent: *\nDisallow: /no\n' })]);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'crawl.json'), 'utf8'))).toMatchObject({ robotsTtl: 1500 });

    const second = await run([], { stateDir: dir, maxPages: 3 }); // within the TTL (taken from crawl.json)
    expect(robotsRequests('site')).toBe(1); // not asked again
    expect(second.find((r) => r.url === site.url('/no'))?.error?.code ?? 'not reached').toMatch(/ERR_ROBOTS_DISALLOWED|not reached/);

    await sleep(1600);
    const third = await run([], { stateDir: dir });
    expect(robotsRequests('site')).toBe(2); // stale: asked again, before any other request
    const log = site.log.map((l) => l.path);
    expect(log.lastIndexOf('/robots.txt?gemfetch')).toBeLessThan(log.length - third.filter((r) => r.attempts > 0).length);
    const all = [...first, ...second, ...third];
    expect(all.find((r) => r.url === site.url('/no'))?.error?.code).toBe('ERR_ROBOTS_DISALLOWED');
    expect(new Set(all.map((r) => r.url)).size).toBe(all.length);
    expect(all.length).toBe(5);
  }, 30_000);

  it('fetches robots.txt again mid-crawl once it is older than the TTL, and obeys the new one', async () => {
    const chain = space.get('chain');
    const records = await run([chain.url('/1')], { robotsTtl: 300, delay: 150 });
    expect(robotsRequests('chain')).toBeGreaterThanOrEqual(2);
    expect(records.find((r) => r.url === chain.url('/5'))?.status).toBe(20);
    expect(records.find((r) => r.url === chain.url('/6'))?.error?.code).toBe('ERR_ROBOTS_DISALLOWED');
    expect(chain.log.some((l) => l.path === '/6')).toBe(false);
  }, 30_000);

  it('reads at most MAX_ROBOTS_BYTES of a robots.txt', async () => {
    const big = space.get('big');
    const records = await run([big.url('/')], {});
    expect(records.find((r) => r.url === big.url('/early'))?.error?.code).toBe('ERR_ROBOTS_DISALLOWED');
    expect(records.find((r) => r.url === big.url('/late'))?.status).toBe(20); // its rule sits past the limit
  });

  it('the CLI takes --robots-ttl as a duration and refuses a bad one', async () => {
    requireBuild();
    const site = space.get('site');
    const home = makeDir();
    const state = path.join(home, 'state');
    const ok = await runCli(home, ['crawl', '-q', '--insecure', '--delay', '0', '--max-pages', '1', '--robots-ttl', '2h', '--state', state, site.url('/')], { timeoutMs: 60_000 });
    expect(ok.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(state, 'crawl.json'), 'utf8'))).toMatchObject({ robotsTtl: 7_200_000 });
    const bad = await runCli(home, ['crawl', '--robots-ttl', '0', site.url('/')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--robots-ttl 0\b.*must be more than 0/);
  }, 90_000);
});
