/**
 * The close_notify census: figures from a real crawl of simulated capsules
 * (some end responses with close_notify, some with a bare TCP FIN, one only
 * on success pages, one speaks TLS 1.2 only, one has a CA-issued certificate),
 * checked against what the capsules were told to do; the CLI's
 * `survey --from-crawl` on a state directory and on an output file; the
 * table and chart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { census, formatCensusChart, formatCensusTable, type Census, type CensusLine } from '../src/bulk/census.js';
import { crawl, type CrawlRecord } from '../src/bulk/crawl.js';
import { createCertificate } from '../src/trust/selfsigned.js';
import { startGeminispace, type Geminispace } from './support/geminispace.js';
import { ptyAvailable, requireBuild, runCli, runInPty, scratchDirs } from './support/cli.js';

const fast = { trust: 'insecure' as const, connectTimeout: 2000, handshakeTimeout: 2000, headerTimeout: 2000, idleTimeout: 1000, totalTimeout: 5000, maxBytes: 2000 };
const makeDir = scratchDirs();

/**
 * What each capsule serves, page by page: [path, status class, ends with close_notify].
 * The crawl reaches exactly these (plus one page cut by maxBytes, left out of the census).
 */
const PLAN: Record<string, { tls: string; issuer: string; pages: Array<[string, string, boolean]> }> = {
  good: { tls: 'TLSv1.3', issuer: 'self-signed', pages: [['/', '2x', true], ['/a', '2x', true], ['/b', '2x', true], ['/missing', '5x', true]] },
  bad: { tls: 'TLSv1.3', issuer: 'self-signed', pages: [['/', '2x', false], ['/a', '2x', false], ['/missing', '5x', false]] },
  mixed: { tls: 'TLSv1.3', issuer: 'self-signed', pages: [['/', '2x', true], ['/x', '2x', true], ['/missing', '5x', false]] },
  old: { tls: 'TLSv1.2', issuer: 'self-signed', pages: [['/', '2x', true]] },
  signed: { tls: 'TLSv1.3', issuer: 'Census Test CA', pages: [['/', '2x', true], ['/gone', '5x', false]] },
};

/** The census figures the plan implies for one group (computed here from PLAN, not from the records). */
function expected(filter: (capsule: string, page: [string, string, boolean]) => boolean): Pick<CensusLine, 'uris' | 'capsules'> {
  const uris = { total: 0, closeNotify: 0, share: 0 };
  const capsules = { total: 0, always: 0, sometimes: 0, never: 0, share: 0 };
  for (const [name, plan] of Object.entries(PLAN)) {
    const pages = plan.pages.filter((p) => filter(name, p));
    if (pages.length === 0) continue;
    const closed = pages.filter((p) => p[2]).length;
    uris.total += pages.length;
    uris.closeNotify += closed;
    capsules.total++;
    if (closed === pages.length) capsules.always++;
    else if (closed === 0) capsules.never++;
    else capsules.sometimes++;
  }
  uris.share = uris.closeNotify / uris.total;
  capsules.share = capsules.always / capsules.total;
  return { uris, capsules };
}

describe('close_notify census of a crawl', () => {
  let space: Geminispace;
  let records: CrawlRecord[];
  let result: Census;
  beforeAll(async () => {
    const ca = createCertificate({ commonName: 'Census Test CA', isCA: true });
    space = await startGeminispace([
      { name: 'good', pages: { '/': { body: '=> /a\n=> /b\n=> /missing\n=> /huge\n' }, '/a': { body: 'a\n' }, '/b': { body: 'b\n' }, '/huge': { body: 'x'.repeat(10_000) } } },
      { name: 'bad', successEnding: 'fin', notFoundEnding: 'fin', pages: { '/': { body: '=> /a\n=> /missing\n' }, '/a': { body: 'a\n' } } },
      { name: 'mixed', notFoundEnding: 'fin', pages: { '/': { body: '=> /x\n=> /missing\n' }, '/x': { body: 'x\n' } } },
      { name: 'old', maxVersion: 'TLSv1.2', pages: { '/': { body: 'old\n' } } },
      { name: 'signed', issuer: { cert: ca.cert, key: ca.key }, pages: { '/': { body: '=> /gone\n' }, '/gone': { header: '52 Gone', ending: 'fin' } } },
    ]);
    records = [];
    const seeds = Object.keys(PLAN).map((n) => space.get(n).url('/'));
    for await (const r of crawl(seeds, { requestOptions: fast, delay: 0 })) records.push(r);
    result = await census(records);
  }, 60_000);
  afterAll(async () => {
    await space?.close();
  });
  const line = (by: string, key: string): CensusLine | undefined => result.lines.find((l) => l.by === by && l.key === key);

  it('the crawl reached every planned page (and the cut one)', () => {
    const planned = Object.entries(PLAN).flatMap(([n, p]) => p.pages.map(([pagePath]) => space.get(n).url(pagePath)));
    expect(records.map((r) => r.url).sort()).toEqual([...planned, space.get('good').url('/huge')].sort());
    expect(records.find((r) => r.url.endsWith('/huge'))?.termination).toBe('size_limit');
  });

  it('counts URIs and capsules overall, leaving out what gemfetch cut', () => {
    expect(result.records).toBe(records.length);
    expect(result.noResponse).toBe(0);
    expect(result.undetermined).toBe(1);
    expect(line('all', 'all')).toMatchObject(expected(() => true));
    // the plan: 13 URIs, 8 with close_notify; capsules good/old always, mixed/signed sometimes, bad never
    expect(line('all', 'all')!.uris).toMatchObject({ total: 13, closeNotify: 8 });
    expect(line('all', 'all')!.capsules).toMatchObject({ total: 5, always: 2, sometimes: 2, never: 1 });
  });

  it('splits by status class', () => {
    expect(line('status', '2x')).toMatchObject(expected((_, p) => p[1] === '2x'));
    expect(line('status', '5x')).toMatchObject(expected((_, p) => p[1] === '5x'));
    expect(result.lines.filter((l) => l.by === 'status').map((l) => l.key).sort()).toEqual(['2x', '5x']);
  });

  it('splits by TLS version', () => {
    expect(line('tls', 'TLSv1.2')).toMatchObject(expected((n) => PLAN[n]!.tls === 'TLSv1.2'));
    expect(line('tls', 'TLSv1.3')).toMatchObject(expected((n) => PLAN[n]!.tls === 'TLSv1.3'));
  });

  it('splits by certificate issuer', () => {
    expect(line('issuer', 'self-signed')).toMatchObject(expected((n) => PLAN[n]!.issuer === 'self-signed'));
    expect(line('issuer', 'Census Test CA')).toMatchObject(expected((n) => PLAN[n]!.issuer === 'Census Test CA'));
    expect(records.find((r) => r.url === space.get('signed').url('/'))?.certificate).toEqual({ issuer: 'Census Test CA', selfSigned: false });
  });

  it('formats a table and a chart', () => {
    const table = formatCensusTable(result);
    expect(table.split('\n')[0]).toMatch(/^split\s+group\s+URIs\s+close_notify\s+capsules\s+always\s+sometimes\s+never$/);
    expect(table).toMatch(/^all\s+all\s+13\s+61\.5%\s+5\s+40\.0%\s+2\s+1$/m);
    expect(table).toContain('1 cut by gemfetch (size limit, timeout, interrupt) left out');
    const chart = formatCensusChart(result, 10);
    expect(chart).toMatch(/^all all\s+██████░░░░\s+61\.5% \| ████░░░░░░\s+40\.0%$/m);
  });

  it('gemfetch survey --from-crawl reads a state directory or an output file and writes the same NDJSON', async () => {
    requireBuild();
    const home = makeDir('gemfetch-census-');
    const state = path.join(home, 'state');
    const out = path.join(home, 'records.ndjson');
    const seeds = Object.keys(PLAN).map((n) => space.get(n).url('/'));
    const crawled = await runCli(home, ['crawl', '-q', '--insecure', '--delay', '0', '--max-size', '2000', '--state', state, '-o', out, ...seeds], { timeoutMs: 60_000 });
    expect(crawled.stderr).toBe('');
    const fromState = await runCli(home, ['survey', '--from-crawl', state]);
    const fromFile = await runCli(home, ['survey', '--from-crawl', out]);
    expect(fromState.code).toBe(0);
    expect(fromFile.code).toBe(0);
    const lines = fromState.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as CensusLine & { census: string });
    expect(fromFile.stdout.toString()).toBe(fromState.stdout.toString());
    expect(lines[0]).toMatchObject({ census: 'close_notify', by: 'all', key: 'all', ...expected(() => true) });
    expect(lines.find((l) => l.by === 'tls' && l.key === 'TLSv1.2')).toMatchObject(expected((n) => PLAN[n]!.tls === 'TLSv1.2'));
    expect(fromState.stderr).toMatch(/^all\s+all\s+13\s+61\.5%/m);
    expect(fromState.stderr).not.toContain('█'); // no chart when stderr is not a terminal
    if (ptyAvailable()) {
      // on a terminal (stdout to a file, stderr the terminal): the table and the chart
      const tty = await runInPty(home, ['survey', '--from-crawl', state], { shellSuffix: `> ${JSON.stringify(path.join(home, 'census.ndjson'))}` });
      expect(tty.code).toBe(0);
      expect(tty.output).toMatch(/all\s+all\s+13\s+61\.5%/);
      expect(tty.output).toContain('close_notify share: URIs | capsules (always)');
      expect(tty.output).toMatch(/all all\s+█+░+\s+61\.5% \| █+░+\s+40\.0%/);
      expect(fs.readFileSync(path.join(home, 'census.ndjson'), 'utf8')).toBe(fromState.stdout.toString());
    }
  }, 90_000);

  it('refuses a --from-crawl that is not a crawl, with hosts, or a file of other lines', async () => {
    requireBuild();
    const home = makeDir('gemfetch-census-');
    const missing = await runCli(home, ['survey', '--from-crawl', path.join(home, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--from-crawl');
    const empty = await runCli(home, ['survey', '--from-crawl', home]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('no journal.ndjson');
    const junk = path.join(home, 'junk.txt');
    fs.writeFileSync(junk, 'gemini://example.org/\n');
    const notJson = await runCli(home, ['survey', '--from-crawl', junk]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('line 1 is not JSON');
    const onItself = await runCli(home, ['survey', '--from-crawl', junk, '-o', junk]);
    expect(onItself.code).toBe(2);
    expect(onItself.stderr).toContain('is the --from-crawl file');
    expect(fs.readFileSync(junk, 'utf8')).toBe('gemini://example.org/\n');
    const withHosts = await runCli(home, ['survey', '--from-crawl', junk, 'example.org']);
    expect(withHosts.code).toBe(2);
    expect(withHosts.stderr).toContain('give no hosts with it');
  }, 60_000);
});
