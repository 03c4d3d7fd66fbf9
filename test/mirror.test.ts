/**
 * Regression tests for `crawl --mirror` (issues 9 and 10): a body that did
 * not arrive complete (cut by a size limit, a timeout, FIN or RST without
 * close_notify) is saved as NAME.partial, never under its final name, and the
 * record says so; names are visible and shell-safe (no dotfiles, no leading
 * `-`); a symbolic link planted in the mirror tree is never followed.
 * A real server on 127.0.0.1; the files are checked on disk.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawl, type CrawlOptions, type CrawlRecord } from '../src/bulk/crawl.js';
import { respondWith, routes, startGeminiServer, type GeminiTestServer } from './support/gemini-server.js';
import { requireBuild, runCli, scratchDirs } from './support/cli.js';

const BIG = Buffer.alloc(64 * 1024, 'b');
const SLOW_START = 'the start of a body that then stalls\n';
const PAGES = ['/whole.gmi', '/cut.gmi', '/reset.gmi', '/big.gmi', '/slow.gmi', '/.hidden', '/-rf', '/a.partial', '/sub/deep.gmi'];

describe('crawl --mirror', () => {
  const scratch = scratchDirs();
  let server: GeminiTestServer;
  beforeAll(async () => {
    server = await startGeminiServer({
      handler: routes({
        '/': respondWith('20 text/gemini', PAGES.map((p) => `=> ${p}`).join('\n')),
        '/whole.gmi': respondWith('20 text/gemini', 'whole\n'),
        '/cut.gmi': respondWith('20 text/gemini', 'cut by FIN\n', 'fin'),
        '/reset.gmi': respondWith('20 text/gemini', 'cut by RST\n', 'reset'),
        '/big.gmi': respondWith('20 text/gemini', BIG),
        '/slow.gmi': respondWith('20 text/gemini', SLOW_START, 'none'),
        '/.hidden': respondWith('20 text/plain', 'dot'),
        '/-rf': respondWith('20 text/plain', 'dash'),
        '/a.partial': respondWith('20 text/plain', 'whole, despite its name'),
        '/sub/deep.gmi': respondWith('20 text/gemini', 'deep\n'),
      }),
    });
  });
  afterAll(async () => server?.close());

  const run = async (mirrorDir: string): Promise<Map<string, CrawlRecord>> => {
    const options: CrawlOptions = {
      mirrorDir,
      delay: 0,
      retries: 0,
      requestOptions: { trust: 'insecure', maxBytes: 4096, idleTimeout: 300, totalTimeout: 5000 },
    };
    const byPath = new Map<string, CrawlRecord>();
    for await (const record of crawl([server.url('/')], options)) byPath.set(new URL(record.url).pathname, record);
    return byPath;
  };
  const hostDir = (root: string): string => path.join(root, `127.0.0.1_${server.port}`);

  it('saves whole bodies under their names and cut ones (size limit, timeout, FIN, RST) only as NAME.partial, with mirrorPartial', async () => {
    const root = scratch('gemfetch-mirror-');
    const records = await run(root);
    const host = hostDir(root);
    expect(fs.readdirSync(host).sort()).toEqual(
      ['%2Drf', '%2Ehidden', 'a%2Epartial', 'big.gmi.partial', 'cut.gmi.partial', 'index.gmi', 'reset.gmi.partial', 'slow.gmi.partial', 'sub', 'whole.gmi'].sort(),
    );
    expect(records.get('/whole.gmi')).toMatchObject({ complete: true, mirrorPath: path.join(host, 'whole.gmi'), mirrorPartial: false, mirrorError: null });
    expect(fs.readFileSync(path.join(host, 'whole.gmi'), 'utf8')).toBe('whole\n');
    expect(fs.readFileSync(path.join(host, 'sub', 'deep.gmi'), 'utf8')).toBe('deep\n');
    // (an RST may reach the client after its FIN, so a reset page may also end as tcp_fin)
    const cut: Array<[string, RegExp, Buffer]> = [
      ['/cut.gmi', /^tcp_fin$/, Buffer.from('cut by FIN\n')],
      ['/reset.gmi', /^tcp_(reset|fin)$/, Buffer.from('cut by RST\n')],
      ['/big.gmi', /^size_limit$/, BIG],
      ['/slow.gmi', /^timeout$/, Buffer.from(SLOW_START)],
    ];
    for (const [page, termination, sent] of cut) {
      const record = records.get(page)!;
      const partial = path.join(host, `${page.slice(1)}.partial`);
      expect(record, page).toMatchObject({ complete: false, termination: expect.stringMatching(termination), mirrorPath: partial, mirrorPartial: true, mirrorError: null });
      const onDisk = fs.readFileSync(partial);
      expect(onDisk.length, page).toBe(record.bytes);
      expect(onDisk.equals(sent.subarray(0, onDisk.length)), page).toBe(true);
    }
    expect(fs.readFileSync(path.join(host, 'a%2Epartial'), 'utf8')).toBe('whole, despite its name');
    expect(records.get('/a.partial')).toMatchObject({ complete: true, mirrorPartial: false });
    expect(fs.readFileSync(path.join(host, '%2Ehidden'), 'utf8')).toBe('dot');
    expect(fs.readFileSync(path.join(host, '%2Drf'), 'utf8')).toBe('dash');
  });

  it('refuses a symbolic link planted in the mirror tree: nothing is written through it, the records say why', async () => {
    const root = scratch('gemfetch-mirror-');
    const elsewhere = scratch('gemfetch-elsewhere-');
    fs.symlinkSync(elsewhere, hostDir(root));
    const records = await run(root);
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    const success = [...records.values()].filter((r) => r.status === 20);
    expect(success.length).toBe(PAGES.length + 1);
    for (const record of success) {
      expect(record, record.url).toMatchObject({ mirrorPath: null, mirrorPartial: false });
      expect(record.mirrorError, record.url).toContain(`${hostDir(root)} is a symbolic link`);
    }

    // a link deeper down, below a real host directory
    const root2 = scratch('gemfetch-mirror-');
    fs.mkdirSync(hostDir(root2));
    fs.symlinkSync(elsewhere, path.join(hostDir(root2), 'sub'));
    const records2 = await run(root2);
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    expect(records2.get('/sub/deep.gmi')!.mirrorError).toContain('is a symbolic link');
    expect(records2.get('/whole.gmi')).toMatchObject({ mirrorPath: path.join(hostDir(root2), 'whole.gmi'), mirrorError: null });
  });

  // Without the fix both exited 0: the mirror was lost with nothing said (with -q) beyond each record's mirrorError.
  describe('gemfetch crawl --mirror: a body that could not be mirrored is a local I/O failure', () => {
    const crawlCli = (mirror: string, home: string) =>
      runCli(home, ['crawl', '-q', '-k', '--delay', '0', '--max-size', '4K', '--idle-timeout', '300ms', '--mirror', mirror, server.url('/')], { timeoutMs: 20_000 });

    it('a link planted in the tree: the crawl goes on, then exit 1 and stderr counts the bodies not mirrored', async () => {
      requireBuild();
      const root = scratch('gemfetch-mirror-');
      const elsewhere = scratch('gemfetch-elsewhere-');
      fs.symlinkSync(elsewhere, hostDir(root));
      const r = await crawlCli(root, scratch('gemfetch-home-'));
      const records = r.stdout.toString().trim().split('\n').map((line) => JSON.parse(line) as CrawlRecord);
      expect(records.filter((record) => record.status === 20).length).toBe(PAGES.length + 1);
      expect(fs.readdirSync(elsewhere)).toEqual([]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${PAGES.length + 1} bodies were not mirrored (see mirrorError in the records); first: cannot mirror`);
      expect(r.stderr).toContain(`${hostDir(root)} is a symbolic link`);
    });

    it.skipIf(!fs.existsSync('/proc/1/status'))('a mirror directory that cannot be made (under /proc) fails before any request: exit 1, naming it', async () => {
      const before = server.requests.length;
      const r = await crawlCli('/proc/1/gemfetch-x', scratch('gemfetch-home-'));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('--mirror /proc/1/gemfetch-x: cannot create the directory /proc/1/gemfetch-x');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(server.requests.length).toBe(before);
    });
  });

  it('a mirror root that is itself a symbolic link (chosen by the user) is followed', async () => {
    const real = scratch('gemfetch-mirror-');
    const link = path.join(scratch('gemfetch-mirror-'), 'link');
    fs.symlinkSync(real, link);
    const records = await run(link);
    expect(records.get('/whole.gmi')).toMatchObject({ mirrorError: null, mirrorPath: path.join(hostDir(link), 'whole.gmi') });
    expect(fs.readFileSync(path.join(hostDir(real), 'whole.gmi'), 'utf8')).toBe('whole\n');
  });
});
