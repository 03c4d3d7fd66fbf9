/**
 * Crawler-trap guards: the pure URL checks, then each guard in a real crawl
 * of capsules on loopback (the links a guard refuses are never requested and
 * are counted in the stats), their options, resume, and the CLI summary.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawl, type CrawlOptions, type CrawlRecord, type CrawlStats } from '../src/bulk/crawl.js';
import { repeatsMoreThan, TrapGuards, urlTrap, trapLimits, formatTrapCounts } from '../src/bulk/trap-guards.js';
import { parseGeminiUrl } from '../src/protocol/url.js';
import { startGeminispace, type Geminispace } from './support/geminispace.js';
import { requireBuild, runCli, scratchDirs } from './support/cli.js';

const fast = { trust: 'insecure' as const, connectTimeout: 2000, handshakeTimeout: 2000, headerTimeout: 2000, idleTimeout: 1000, totalTimeout: 5000 };

describe('URL guards (pure)', () => {
  const limits = { maxUrlLength: 60, maxPathDepth: 4, maxSegmentRepeats: 2, queries: false };
  const trap = (url: string, over: Partial<typeof limits> = {}): string | undefined => urlTrap(parseGeminiUrl(url), { ...limits, ...over });

  it('passes ordinary URLs', () => {
    expect(trap('gemini://h.example/')).toBeUndefined();
    expect(trap('gemini://h.example/a/b/c/d.gmi')).toBeUndefined();
    expect(trap('gemini://h.example/a/b/a/b')).toBeUndefined(); // two copies are allowed
    expect(trap('gemini://h.example/2024/01/01/x')).toBeUndefined();
  });

  it('refuses long URLs, deep paths, repeated segment runs and queries', () => {
    expect(trap(`gemini://h.example/${'x'.repeat(60)}`)).toBe('urlLength');
    expect(trap('gemini://h.example/a/b/c/d/e.gmi')).toBe('pathDepth');
    expect(trap('gemini://h.example/a/b/a/b/a/b', { maxPathDepth: 10 })).toBe('repeatedSegments');
    expect(trap('gemini://h.example/a/b/a/b/a/b')).toBe('pathDepth'); // the first guard tripped is named
    expect(trap('gemini://h.example/x/x/x')).toBe('repeatedSegments');
    expect(trap('gemini://h.example/search?q')).toBe('query');
    expect(trap('gemini://h.example/search?q', { queries: true })).toBeUndefined();
  });

  it('0 turns a limit off', () => {
    expect(trap(`gemini://h.example/${'x'.repeat(200)}`, { maxUrlLength: 0 })).toBeUndefined();
    expect(trap('gemini://h.example/1/2/3/4/5/6/7', { maxPathDepth: 0 })).toBeUndefined();
    expect(trap('gemini://h.example/a/a/a', { maxSegmentRepeats: 0 })).toBeUndefined();
  });

  it('finds repeated runs of up to 8 segments anywhere in the path', () => {
    expect(repeatsMoreThan(['p', 'a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c', 'z'], 2)).toBe(true);
    expect(repeatsMoreThan(['a', 'b', 'c', 'a', 'b', 'c'], 2)).toBe(false);
    expect(repeatsMoreThan(['a', 'b', 'a', 'b', 'a', 'b'], 3)).toBe(false);
    const run = Array.from({ length: 8 }, (_, i) => `s${i}`);
    expect(repeatsMoreThan([...run, ...run, ...run], 2)).toBe(true);
    const long = Array.from({ length: 9 }, (_, i) => `s${i}`);
    expect(repeatsMoreThan([...long, ...long, ...long], 2)).toBe(false); // beyond the period checked
  });

  it('queries are followed by default only when a seed has one', () => {
    expect(trapLimits({}, [parseGeminiUrl('gemini://h/')]).queries).toBe(false);
    expect(trapLimits({}, [parseGeminiUrl('gemini://h/'), parseGeminiUrl('gemini://h/s?x')]).queries).toBe(true);
    expect(trapLimits({ queries: false }, [parseGeminiUrl('gemini://h/s?x')]).queries).toBe(false);
  });

  it('counts a per-host budget and every refusal', () => {
    const guards = new TrapGuards({ maxPagesPerHost: 2 }, []);
    guards.noteQueued('a.example:1965');
    expect(guards.admit(parseGeminiUrl('gemini://a.example/1'))).toBeUndefined();
    expect(guards.admit(parseGeminiUrl('gemini://a.example/2'))).toBe('hostBudget');
    expect(guards.admit(parseGeminiUrl('gemini://b.example/1'))).toBeUndefined();
    expect(guards.admit(parseGeminiUrl('gemini://b.example/?q'))).toBe('query');
    expect(guards.counts).toEqual({ hostBudget: 1, urlLength: 0, pathDepth: 0, repeatedSegments: 0, query: 1 });
    expect(guards.total).toBe(2);
    expect(formatTrapCounts(guards.counts)).toBe('1 per-host page budget, 1 query string');
  });
});

describe('trap guards in a crawl', () => {
  let space: Geminispace;
  const makeDir = scratchDirs();
  beforeAll(async () => {
    space = await startGeminispace([
      {
        name: 'traps',
        pages: {
          '/': {
            body: [
              '=> /long/' + 'x'.repeat(600),
              '=> /d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/d16/d17',
              '=> /loop/',
              '=> /search?term',
              '=> /ok.gmi',
            ].join('\n'),
          },
          '/ok.gmi': { body: 'fine\n' },
          // a relative link that nests forever: /loop/a/b/, /loop/a/b/a/b/, ...
          '/loop/': { body: '=> a/b/\n' },
        },
      },
      { name: 'big', tree: { depth: 3, fanout: 3 } }, // 40 pages under /tree/
      { name: 'seedq', pages: { '/s?x': { body: '=> /s?y\n' }, '/s?y': { body: 'found\n' } } },
    ]);
    // every /loop/... page links one level deeper
    for (let n = 1; n <= 5; n++) space.get('traps').def.pages![`/loop/${'a/b/'.repeat(n)}`] = { body: '=> a/b/\n' };
  });
  afterAll(async () => {
    await space?.close();
  });

  const run = async (seeds: string[], options: CrawlOptions = {}): Promise<{ records: CrawlRecord[]; stats: CrawlStats }> => {
    const records: CrawlRecord[] = [];
    let stats: CrawlStats | undefined;
    for await (const r of crawl(seeds, { requestOptions: fast, delay: 0, robots: false, onProgress: (s) => (stats = s), ...options })) records.push(r);
    return { records, stats: stats! };
  };
  const paths = (records: CrawlRecord[]): string[] => records.map((r) => new URL(r.url).pathname + new URL(r.url).search).sort();

  it('refuses long URLs, deep paths, repeated segments and queries by default, and counts them', async () => {
    const traps = space.get('traps');
    traps.log.length = 0;
    const { records, stats } = await run([traps.url('/')]);
    expect(paths(records)).toEqual(['/', '/loop/', '/loop/a/b/', '/loop/a/b/a/b/', '/ok.gmi']);
    expect(stats.trapped).toEqual({ hostBudget: 0, urlLength: 1, pathDepth: 1, repeatedSegments: 1, query: 1 });
    // nothing refused was requested
    expect(traps.log.map((l) => l.path).sort()).toEqual(['/', '/loop/', '/loop/a/b/', '/loop/a/b/a/b/', '/ok.gmi']);
  });

  it('each guard has an option that lets the link through', async () => {
    const traps = space.get('traps');
    const { records, stats } = await run([traps.url('/')], { maxUrlLength: 0, maxPathDepth: 0, queries: true, maxSegmentRepeats: 3 });
    const got = paths(records);
    expect(got).toContain(`/long/${'x'.repeat(600)}`);
    expect(got).toContain('/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/d16/d17');
    expect(got).toContain('/search?term');
    expect(got).toContain('/loop/a/b/a/b/a/b/'); // three copies now pass, four do not
    expect(got).not.toContain('/loop/a/b/a/b/a/b/a/b/');
    expect(stats.trapped).toEqual({ hostBudget: 0, urlLength: 0, pathDepth: 0, repeatedSegments: 1, query: 0 });
  });

  it('follows query links when a seed has a query', async () => {
    const seedq = space.get('seedq');
    const { records, stats } = await run([seedq.url('/s?x')]);
    expect(paths(records)).toEqual(['/s?x', '/s?y']);
    expect(stats.trapped.query).toBe(0);
  });

  it('stops queuing a host at its page budget, across a resume', async () => {
    const big = space.get('big');
    const dir = makeDir('gemfetch-traps-');
    big.log.length = 0;
    // 8 URLs: the seed and 7 links; maxPages stops the first run early so the second resumes
    const first = await run([big.url('/tree/')], { maxPagesPerHost: 8, stateDir: dir, maxPages: 3 });
    expect(first.records.length).toBe(3);
    const second = await run([], { stateDir: dir }); // settings (the budget) come from crawl.json
    const all = [...first.records, ...second.records];
    expect(all.length).toBe(8);
    expect(new Set(all.map((r) => r.url)).size).toBe(8);
    expect(big.log.filter((l) => l.path.startsWith('/tree/')).length).toBe(8);
    expect(second.stats.trapped.hostBudget).toBeGreaterThan(0);
    const settings = JSON.parse(fs.readFileSync(path.join(dir, 'crawl.json'), 'utf8')) as Record<string, unknown>;
    expect(settings).toMatchObject({ maxPagesPerHost: 8, maxUrlLength: 512, maxPathDepth: 16, maxSegmentRepeats: 2, queries: false });
  });

  it('a resumed crawl given another budget is refused, naming it', async () => {
    const big = space.get('big');
    const dir = makeDir('gemfetch-traps-');
    await run([big.url('/tree/')], { maxPagesPerHost: 2, stateDir: dir });
    await expect(run([], { stateDir: dir, maxPagesPerHost: 5 })).rejects.toMatchObject({ code: 'ERR_STATE_MISMATCH', message: expect.stringContaining('maxPagesPerHost 2 (now 5)') });
  });

  it('the CLI takes the options and reports the guards in its summary', async () => {
    requireBuild();
    const traps = space.get('traps');
    const home = makeDir('gemfetch-traps-cli-');
    const result = await runCli(home, ['crawl', '--delay', '0', '--ignore-robots', '--insecure', '--max-path-depth', '20', traps.url('/')], { timeoutMs: 60_000 });
    expect(result.stderr).toContain('links not followed by the trap guards: 1 URL too long, 1 repeated path segments, 1 query string');
    const lines = result.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as CrawlRecord);
    expect(lines.map((r) => new URL(r.url).pathname)).toContain('/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/d16/d17');
    const bad = await runCli(home, ['crawl', '--max-pages-per-host', '-1', traps.url('/')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid value (--max-pages-per-host): needs a whole number');
  }, 90_000);
});
