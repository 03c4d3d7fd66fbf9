/**
 * Crawl etiquette seen from the capsule's side (real servers on loopback):
 * 44 SLOW DOWN backs off exponentially for the rest of the crawl, an integer
 * META only lengthens the wait, and the crawler identifies itself with
 * /robots.txt?gemfetch before anything else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawl, type CrawlRecord } from '../src/bulk/crawl.js';
import { startGeminispace, type Geminispace } from './support/geminispace.js';

const fast = { trust: 'insecure' as const, connectTimeout: 2000, handshakeTimeout: 2000, headerTimeout: 2000, idleTimeout: 1000, totalTimeout: 5000 };
/** Timers fire late on a loaded machine, never early; 10 ms for clock granularity between processes' views. */
const SLACK = 10;

describe('44 SLOW DOWN in a crawl', () => {
  let space: Geminispace;
  beforeAll(async () => {
    space = await startGeminispace([
      // 44 twice (no META), then the page; its link comes after
      { name: 'doubling', pages: { '/': (_c, n) => (n < 2 ? { header: '44 slow down' } : { body: '=> /next\n' }), '/next': { body: 'next\n' } } },
      // delay 600 ms: a 44 with META 1 doubles it to 1200 ms; META must not cut that to 1 s
      { name: 'meta', pages: { '/': (_c, n) => (n === 0 ? { header: '44 1' } : { body: 'ok\n' }) } },
    ]);
  });
  afterAll(async () => {
    await space?.close();
  });
  const run = async (seed: string, delay: number): Promise<CrawlRecord[]> => {
    const records: CrawlRecord[] = [];
    for await (const r of crawl([seed], { requestOptions: fast, delay })) records.push(r);
    return records;
  };

  it('doubles the wait at each 44 and keeps the doubled delay for the host', async () => {
    const doubling = space.get('doubling');
    const records = await run(doubling.url('/'), 0);
    expect(records.find((r) => r.url === doubling.url('/'))).toMatchObject({ status: 20, attempts: 3 });
    expect(records.find((r) => r.url === doubling.url('/next'))?.status).toBe(20);
    const log = doubling.log;
    expect(log.map((l) => l.path)).toEqual(['/robots.txt?gemfetch', '/', '/', '/', '/next']);
    const gap = (i: number): number => log[i]!.start - log[i - 1]!.end!;
    expect(gap(2)).toBeGreaterThanOrEqual(1000 - SLACK); // first 44: 0 -> 1 s
    expect(gap(3)).toBeGreaterThanOrEqual(2000 - SLACK); // second 44: 1 s -> 2 s
    expect(gap(4)).toBeGreaterThanOrEqual(2000 - SLACK); // the host's delay stays 2 s for the rest of the crawl
  }, 30_000);

  it('an integer META shorter than the doubled delay does not shorten the wait', async () => {
    const meta = space.get('meta');
    await run(meta.url('/'), 600);
    const log = meta.log.filter((l) => l.path === '/');
    expect(log).toHaveLength(2);
    expect(log[1]!.start - log[0]!.end!).toBeGreaterThanOrEqual(1200 - SLACK);
  }, 30_000);
});
