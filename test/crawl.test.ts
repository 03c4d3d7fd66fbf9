import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { crawl, type CrawlOptions, type CrawlRecord } from '../src/bulk/crawl.js';
import { CrawlJournal, StorageError } from '../src/bulk/crawl-state.js';
import { MAX_MIRROR_NAME_BYTES, mirrorPath } from '../src/files/mirror.js';
import { parseGeminiUrl } from '../src/protocol/url.js';
import { startGeminispace, treePaths, type Capsule, type CapsuleDef, type Geminispace } from './support/geminispace.js';

const fast = { trust: 'insecure' as const, connectTimeout: 5000, handshakeTimeout: 5000, headerTimeout: 5000, idleTimeout: 1000, totalTimeout: 10000 };
const DELAY = 25;

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const SITE_ROBOTS = [
  '# robots for site',
  'User-agent: *',
  'Disallow: /private/',
  '',
  'User-agent: indexer',
  'Disallow: /idx-only/',
  '',
  'User-agent: researcher',
  'Disallow: /research-no/',
].join('\n');

export function worldDefinition(): CapsuleDef[] {
  const plainCount = 8;
  const defs: CapsuleDef[] = [
    {
      name: 'hub',
      pages: {
        '/': {
          body: [
            '# Hub',
            ...['site', 'gemrobots', 'slow44', 'fin', 'stall', 'down', 'tree', 'slow', 'plain0'].map((n) => `=> {{${n}}}/ ${n}`),
            '=> gopher://gopher.example/1/ a gopher hole',
            '=> https://example.org/ the web',
            '=> mailto:someone@example.org mail',
            '=>',
            '=> / myself',
            '=> /#top myself again',
            '```',
            '=> /in-preformatted-not-a-link',
            '```',
          ].join('\n'),
        },
      },
    },
    {
      name: 'site',
      robots: SITE_ROBOTS,
      pages: {
        '/': { body: '=> a.gmi\n=> /old\n=> dup1\n=> dup2\n' },
        '/a.gmi': { body: '=> ../b/c.gmi\n=> /\n=> /private/x.gmi\n=> /research-no/y\n=> /idx-only/z\n=> ./a.gmi\n' },
        '/b/c.gmi': { body: '=> ./d.gmi?q=1\n=> /a.gmi#frag\n=> gopher://elsewhere/\n=> ../../../../b/c.gmi\n' },
        '/b/d.gmi?q=1': { header: '20 text/plain', body: '=> /not-a-link-in-plain-text\n' },
        '/idx-only/z': { body: 'fine for researchers\n' },
        '/old': { header: '30 /new.gmi' },
        '/new.gmi': { body: 'moved here\n' },
        '/dup1': { body: 'same body\n=> dup-child\n' },
        '/dup2': { body: 'same body\n=> dup-child\n' },
        '/dup-child': { body: 'child\n' },
      },
    },
    {
      name: 'gemrobots',
      robots: '# robots as gemtext\n=> / home\n```\nUser-agent: *\nDisallow: /secret\n```\n',
      robotsMime: 'text/gemini',
      pages: { '/': { body: '=> /secret/page\n=> /open\n' }, '/open': { body: 'open\n' } },
    },
    { name: 'slow44', pages: { '/': (_c, n) => (n === 0 ? { header: '44 1' } : { body: 'after the wait\n' }) } },
    { name: 'fin', successEnding: 'fin', pages: { '/': { body: '=> /fin-child\n' }, '/fin-child': { body: 'x' } } },
    { name: 'stall', pages: { '/': { body: '=> /after-stall\n', ending: 'none' }, '/after-stall': { body: 'ok' } } },
    { name: 'down', down: true },
    { name: 'tree', pages: { '/': { body: '=> /tree/\n' } }, tree: { depth: 8, fanout: 2 } },
    { name: 'slow', answerDelayMs: 150, pages: { '/': { body: '=> /s1\n' }, '/s1': { body: 's1' } } },
  ];
  for (let i = 0; i < plainCount; i++) {
    defs.push({
      name: `plain${i}`,
      notFoundEnding: i % 2 === 0 ? 'fin' : 'close_notify',
      pages: {
        '/': { body: `=> p1\n=> /p2\n=> {{plain${(i + 1) % plainCount}}}/ next\n=> /missing\n` },
        '/p1': { body: `=> /\n=> p2\n` },
        '/p2': { body: 'leaf\n' },
      },
    });
  }
  return defs;
}

describe('crawl of a simulated Geminispace', () => {
  let space: Geminispace;
  let records: CrawlRecord[];
  const maxDepth = 5; // hub 0 -> tree / 1 -> /tree/ 2 -> ... level 3 at depth 5
  beforeAll(async () => {
    space = await startGeminispace(worldDefinition());
    records = await collect(crawl([space.get('hub').url('/')], { scope: 'all', maxDepth, delay: DELAY, requestOptions: fast, queries: true, retries: 1, retryBackoff: 20, maxFailures: 2 }));
  }, 20_000);
  afterAll(async () => space?.close());

  const live = (): Capsule[] => space.capsules.filter((c) => !c.def.down);
  const recordOf = (url: string): CrawlRecord | undefined => records.find((r) => r.url === url);

  it('yields one record per queued URL, never the same URL twice', () => {
    const urls = records.map((r) => r.url);
    expect(new Set(urls).size).toBe(urls.length);
    // every request a capsule saw (robots.txt aside) is recorded, and every recorded fetch was seen
    for (const capsule of live()) {
      const requested = capsule.log.map((l) => l.path).filter((p) => p !== '/robots.txt?gemfetch');
      const unique = [...new Set(requested)];
      const mine = records.filter((r) => r.url.startsWith(capsule.url('')) && r.attempts > 0);
      expect(mine.map((r) => new URL(r.url).pathname + new URL(r.url).search).sort(), capsule.def.name).toEqual([...unique].sort());
      if (capsule.def.name !== 'slow44') expect(requested).toEqual(unique);
    }
  });

  it('sends only valid, non-empty gemini requests', () => {
    for (const capsule of live()) {
      for (const request of capsule.server!.requests) {
        const url = parseGeminiUrl(request);
        expect(url.href).toBe(request);
        expect(url.host).toBe(capsule.host);
      }
    }
    expect(records.some((r) => /gopher|https|mailto|in-preformatted/.test(r.url))).toBe(false);
  });

  it('is polite: one connection per host, the delay between requests (server side)', () => {
    for (const capsule of live()) {
      expect(capsule.maxActive, capsule.def.name).toBeLessThanOrEqual(1);
      expect(capsule.server!.maxConcurrentConnections, capsule.def.name).toBeLessThanOrEqual(1);
      for (let i = 1; i < capsule.log.length; i++) {
        expect(capsule.log[i]!.start - capsule.log[i - 1]!.end!).toBeGreaterThanOrEqual(DELAY - 5);
      }
    }
  });

  it('fetches robots.txt once per host, first, as /robots.txt?gemfetch, and obeys it', () => {
    const reached = live().filter((c) => c.log.length > 0);
    expect(reached.length).toBeGreaterThan(12);
    for (const capsule of reached) {
      expect(capsule.log[0]!.path).toBe('/robots.txt?gemfetch');
      expect(capsule.log.filter((l) => l.path.startsWith('/robots.txt'))).toHaveLength(1);
    }
    const site = space.get('site');
    const paths = site.log.map((l) => l.path);
    expect(paths.some((p) => p.startsWith('/private/') || p.startsWith('/research-no/'))).toBe(false);
    expect(paths).toContain('/idx-only/z'); // only the indexer agent is refused
    expect(recordOf(site.url('/private/x.gmi'))).toMatchObject({ attempts: 0, error: { code: 'ERR_ROBOTS_DISALLOWED' } });
    expect(recordOf(site.url('/research-no/y'))?.error?.code).toBe('ERR_ROBOTS_DISALLOWED');
    const gemrobots = space.get('gemrobots');
    expect(gemrobots.log.map((l) => l.path)).not.toContain('/secret/page');
    expect(recordOf(gemrobots.url('/secret/page'))?.error?.code).toBe('ERR_ROBOTS_DISALLOWED');
    expect(recordOf(gemrobots.url('/open'))?.status).toBe(20);
  });

  it('resolves relative links, follows redirects as links, notes duplicates', () => {
    const site = space.get('site');
    expect(recordOf(site.url('/b/c.gmi'))?.status).toBe(20);
    expect(recordOf(site.url('/b/d.gmi?q=1'))).toMatchObject({ status: 20, mimeType: 'text/plain', links: null });
    expect(recordOf(site.url('/not-a-link-in-plain-text'))).toBeUndefined();
    expect(recordOf(site.url('/old'))).toMatchObject({ status: 30, queued: 1 });
    expect(recordOf(site.url('/new.gmi'))).toMatchObject({ status: 20, parent: site.url('/old') });
    const dups = [recordOf(site.url('/dup1'))!, recordOf(site.url('/dup2'))!];
    const duplicate = dups.find((r) => r.duplicateOf !== null)!;
    const original = dups.find((r) => r.duplicateOf === null)!;
    expect(duplicate.duplicateOf).toBe(original.url);
    expect(duplicate.links).toBe(1);
    expect(recordOf(site.url('/dup-child'))?.status).toBe(20);
  });

  it('handles 44, cut responses, stalls, slow and down capsules', () => {
    const slow44 = space.get('slow44');
    expect(recordOf(slow44.url('/'))).toMatchObject({ status: 20, attempts: 2 });
    expect(slow44.log[2]!.start - slow44.log[1]!.end!).toBeGreaterThanOrEqual(950);
    const fin = space.get('fin');
    expect(recordOf(fin.url('/'))).toMatchObject({ complete: false, termination: 'tcp_fin', linksFromIncomplete: true, links: 1 });
    expect(recordOf(fin.url('/fin-child'))?.status).toBe(20);
    const stall = space.get('stall');
    expect(recordOf(stall.url('/'))).toMatchObject({ termination: 'timeout', linksFromIncomplete: true });
    expect(recordOf(stall.url('/after-stall'))?.complete).toBe(true);
    expect(recordOf(space.get('slow').url('/s1'))?.complete).toBe(true);
    const down = recordOf(space.get('down').url('/'))!;
    expect(down.error?.code).toBe('ERR_CONNECT');
    // robots.txt failed (1), then the page (2): maxFailures 2 sets the host aside before a retry
    expect(down.attempts).toBe(1);
  });

  it('stops at maxDepth in a deep generated tree', () => {
    const tree = space.get('tree');
    const fetched = records.filter((r) => r.url.startsWith(tree.url('/tree/'))).map((r) => new URL(r.url).pathname);
    expect(fetched.sort()).toEqual(treePaths(2, maxDepth - 2).sort());
    expect(Math.max(...records.map((r) => r.depth))).toBe(maxDepth);
  });

  it('follows the ring of plain capsules (a cycle) as deep as maxDepth allows', () => {
    // plainN/ is at depth N+1, its pages at N+2
    for (let i = 0; i < 8; i++) {
      const c = space.get(`plain${i}`);
      expect(recordOf(c.url('/')) !== undefined, c.def.name).toBe(i + 1 <= maxDepth);
      for (const p of ['/p1', '/p2', '/missing']) expect(recordOf(c.url(p)) !== undefined, `${c.def.name}${p}`).toBe(i + 2 <= maxDepth);
      if (i + 2 <= maxDepth) expect(recordOf(c.url('/missing'))).toMatchObject({ status: 51, complete: i % 2 === 1 });
    }
  });
});

describe('crawl options', () => {
  let space: Geminispace;
  beforeAll(async () => {
    space = await startGeminispace(worldDefinition().filter((d) => ['hub', 'site', 'plain0', 'plain1'].includes(d.name)));
  });
  afterAll(async () => space?.close());
  const run = (seeds: string[], options: CrawlOptions): Promise<CrawlRecord[]> =>
    collect(crawl(seeds, { delay: 5, requestOptions: fast, queries: true, ...options }));

  it('scope host stays on the seeds hosts; invalid seeds get a record', async () => {
    const records = await run([space.get('plain0').url('/'), 'gemini://'], { scope: 'host' });
    expect(records.find((r) => r.url === 'gemini://')?.error?.code).toBe('ERR_INVALID_URL');
    const hosts = new Set(records.filter((r) => r.attempts > 0).map((r) => new URL(r.url).host));
    expect([...hosts]).toEqual([`${space.get('plain0').host}:${space.get('plain0').port}`]);
  });

  it('scope prefix stays under the seed directory; include and exclude filter', async () => {
    const site = space.get('site');
    const records = await run([site.url('/b/c.gmi')], { scope: 'prefix' });
    expect(records.map((r) => r.url).sort()).toEqual([site.url('/b/c.gmi'), site.url('/b/d.gmi?q=1')]);
    const filtered = await run([site.url('/')], { exclude: [/dup/], include: [/\.gmi/] });
    // the seed is always fetched; /old and /new.gmi: /old does not match the include pattern
    expect(filtered.map((r) => new URL(r.url).pathname).sort()).toEqual(['/', '/a.gmi', '/b/c.gmi', '/b/d.gmi', '/private/x.gmi']);
  });

  it('maxPages bounds the requests; --ignore-robots fetches disallowed pages', async () => {
    const site = space.get('site');
    const before = site.log.length;
    const limited = await run([site.url('/')], { maxPages: 3 });
    expect(limited.filter((r) => r.attempts > 0)).toHaveLength(3);
    expect(site.log.length - before).toBe(4); // robots.txt + 3 pages
    const all = await run([site.url('/')], { robots: false, maxDepth: 2 });
    expect(all.find((r) => r.url === site.url('/private/x.gmi'))?.status).toBe(51);
  });

  it('mirrors bodies inside the directory', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gemfetch-mirror-'));
    try {
      const site = space.get('site');
      const records = await run([site.url('/')], { mirrorDir: dir, maxDepth: 3 });
      const mirrored = records.filter((r) => r.mirrorPath !== null);
      expect(mirrored.length).toBeGreaterThan(4);
      for (const r of mirrored) {
        expect(path.relative(dir, r.mirrorPath!).startsWith('..')).toBe(false);
        expect(fs.readFileSync(r.mirrorPath!).length).toBe(r.bytes);
      }
      expect(fs.existsSync(path.join(dir, `${site.host}_${site.port}`, 'index.gmi'))).toBe(true);
      expect(fs.existsSync(path.join(dir, `${site.host}_${site.port}`, 'b', 'd.gmi%3Fq=1'))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('crawl when mirroring or the journal fails', () => {
  const longSegment = 'a'.repeat(300);
  const longQuery = 'q'.repeat(300);
  let space: Geminispace;
  let dirs: string[] = [];
  beforeAll(async () => {
    space = await startGeminispace([
      {
        name: 'long',
        pages: {
          '/': { body: `=> /${longSegment} long segment\n=> /q?${longQuery} long query\n=> /x\n=> /ok\n` },
          [`/${longSegment}`]: { body: 'long segment body\n' },
          '/q': { header: '20 text/plain', body: 'long query body' },
          '/x': { body: '=> /x/y\n' },
          '/x/y': { body: 'under x\n' },
          '/ok': { body: 'ok\n' },
        },
      },
    ]);
  });
  afterAll(async () => space?.close());
  afterEach(() => {
    vi.restoreAllMocks();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
    dirs = [];
  });
  const tempDir = (): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gemfetch-crawl-fail-'));
    dirs.push(dir);
    return dir;
  };
  const run = (options: CrawlOptions): Promise<CrawlRecord[]> => collect(crawl([space.get('long').url('/')], { delay: 0, requestOptions: fast, queries: true, ...options }));
  const expectedUrls = (): string[] => ['/', `/${longSegment}`, `/q?${longQuery}`, '/x', '/x/y', '/ok'].map((p) => space.get('long').url(p)).sort();

  it('mirrors a page whose path segment or query is 300 bytes under a shortened, hashed name', async () => {
    const dir = tempDir();
    const records = await run({ mirrorDir: dir });
    expect(records.map((r) => r.url).sort()).toEqual(expectedUrls());
    for (const suffix of [`/${longSegment}`, `/q?${longQuery}`]) {
      const record = records.find((r) => r.url === space.get('long').url(suffix))!;
      expect(record, suffix).toMatchObject({ status: 20, complete: true, mirrorError: null });
      expect(fs.readFileSync(record.mirrorPath!).length).toBe(record.bytes);
      const name = path.basename(record.mirrorPath!);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_MIRROR_NAME_BYTES);
      expect(name).toMatch(/#[0-9a-f]{16}$/);
    }
    // no temporary file left behind
    const leftovers = fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.tmp'));
    expect(leftovers).toEqual([]);
  });

  it('records a mirror failure in mirrorError and goes on: /x/y where /x is a file', async () => {
    const records = await run({ mirrorDir: tempDir() });
    const site = space.get('long');
    expect(records.find((r) => r.url === site.url('/x'))).toMatchObject({ status: 20, mirrorError: null });
    const under = records.find((r) => r.url === site.url('/x/y'))!;
    expect(under).toMatchObject({ status: 20, complete: true, mirrorPath: null });
    expect(under.mirrorError).toMatch(/ENOTDIR|EEXIST/);
  });

  it('yields every record and ends when the mirror directory cannot be created (a file stands there)', async () => {
    const file = path.join(tempDir(), 'not-a-dir');
    fs.writeFileSync(file, 'in the way');
    const records = await run({ mirrorDir: path.join(file, 'mirror') });
    expect(records.map((r) => r.url).sort()).toEqual(expectedUrls());
    for (const record of records) {
      expect(record.status).toBe(20);
      expect(record.mirrorPath).toBeNull();
      expect(record.mirrorError).toMatch(/ENOTDIR|EEXIST/);
      expect(record.mirrorError).toContain(file);
    }
  });

  it('records I/O errors other than a layout clash too (ENAMETOOLONG: a mirror root longer than PATH_MAX)', async () => {
    const root = path.join(tempDir(), ...Array.from({ length: 22 }, () => 'd'.repeat(200)));
    const records = await run({ mirrorDir: root });
    expect(records.map((r) => r.url).sort()).toEqual(expectedUrls());
    for (const record of records) expect(record).toMatchObject({ mirrorPath: null, mirrorError: expect.stringMatching(/ENAMETOOLONG/) });
  });

  it('rejects with a StorageError naming the journal when an append fails mid-crawl, after the records already journaled', async () => {
    const state = tempDir();
    const journalFile = path.join(state, 'journal.ndjson');
    const original = CrawlJournal.prototype.append;
    let appends = 0;
    vi.spyOn(CrawlJournal.prototype, 'append').mockImplementation(function (this: CrawlJournal<CrawlRecord>, queued, record) {
      if (record && ++appends === 3) throw new StorageError(`cannot append to the crawl journal ${journalFile}: ENOSPC: no space left on device, write`, journalFile);
      original.call(this, queued, record);
    });
    const seen: CrawlRecord[] = [];
    const failure = await (async () => {
      for await (const record of crawl([space.get('long').url('/')], { delay: 0, requestOptions: fast, queries: true, stateDir: state })) seen.push(record);
    })().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(StorageError);
    expect((failure as StorageError).code).toBe('ERR_STORAGE');
    expect((failure as StorageError).message).toContain(journalFile);
    expect(seen).toHaveLength(2);
    // the journal holds exactly the records yielded
    const journaled = fs.readFileSync(journalFile, 'utf8').trim().split('\n').filter((l) => l.startsWith('{"r"'));
    expect(journaled).toHaveLength(2);
  });
});

describe('mirror paths and the seen-set', () => {
  it('never maps a URL outside the root', () => {
    const root = '/tmp/root';
    for (const u of ['gemini://h/%2E%2E/%2e%2e/x', 'gemini://h/a/../../../etc/passwd', 'gemini://h//x', 'gemini://h/a?../../b', 'gemini://h:1966/']) {
      const target = mirrorPath(root, parseGeminiUrl(u))!;
      expect(target.startsWith('/tmp/root/')).toBe(true);
    }
    expect(mirrorPath(root, parseGeminiUrl('gemini://h/a?x/y'))).toBe('/tmp/root/h/a%3Fx%2Fy');
  });

  it('keeps every name within MAX_MIRROR_NAME_BYTES, distinct for distinct long names', () => {
    const root = '/tmp/root';
    const a = mirrorPath(root, parseGeminiUrl(`gemini://h/${'d'.repeat(250)}/${'x'.repeat(300)}`))!;
    const b = mirrorPath(root, parseGeminiUrl(`gemini://h/${'d'.repeat(250)}/${'x'.repeat(299)}y`))!;
    const names = a.slice(root.length + 1).split('/');
    expect(names).toHaveLength(3);
    for (const name of names) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_MIRROR_NAME_BYTES);
    expect(a).not.toBe(b);
    expect(path.dirname(a)).toBe(path.dirname(b)); // same long directory segment, same shortened name
    const multibyte = mirrorPath(root, parseGeminiUrl(`gemini://h/${'%C3%A9'.repeat(60)}é`));
    expect(Buffer.byteLength(path.basename(multibyte!))).toBeLessThanOrEqual(MAX_MIRROR_NAME_BYTES);
    expect(mirrorPath(root, parseGeminiUrl('gemini://h/short'))).toBe('/tmp/root/h/short');
  });
});

describe('crawl frontier', () => {
  let space: Geminispace;
  const own = Array.from({ length: 8 }, (_, i) => `/p${i}`);
  const gone = Array.from({ length: 30 }, (_, i) => `/g${i}`);
  beforeAll(async () => {
    space = await startGeminispace([
      {
        name: 'many',
        pages: {
          '/': { body: [...own.map((p) => `=> ${p}`), ...gone.map((p) => `=> {{gone}}${p}`)].join('\n') },
          ...Object.fromEntries(own.map((p) => [p, { body: p }])),
        },
      },
      { name: 'gone', down: true },
    ]);
  });
  afterAll(async () => space?.close());

  it('sets aside every URL queued for a host that keeps failing, and keeps perHost on the others', async () => {
    const many = space.get('many');
    const records = await collect(
      crawl([many.url('/')], { scope: 'all', perHost: 2, concurrency: 4, delay: 0, requestOptions: fast, retries: 0, maxFailures: 2 }),
    );
    expect(records).toHaveLength(1 + own.length + gone.length);
    expect(new Set(records.map((r) => r.url)).size).toBe(records.length);
    for (const p of own) expect(records.find((r) => r.url === many.url(p))?.status).toBe(20);
    const goneRecords = records.filter((r) => r.url.startsWith(space.get('gone').url('/')));
    expect(goneRecords).toHaveLength(gone.length);
    const setAside = goneRecords.filter((r) => r.error?.code === 'ERR_HOST_SET_ASIDE');
    expect(setAside.length).toBeGreaterThanOrEqual(gone.length - 2);
    expect(setAside.every((r) => r.attempts === 0 && r.depth === 1 && r.parent === many.url('/'))).toBe(true);
    expect(many.maxActive).toBeLessThanOrEqual(2);
  });
});
