/**
 * Adversarial review of issue 12 (review3): a crawl state directory damaged
 * by hand, by a disk fault or by another program. Resume and the census must
 * skip what is not a gemfetch line (and say so), never fail on it, and a
 * resumed crawl must not fetch again what the journal recorded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CensusCounter, formatCensusTable, type CensusInput } from '../src/bulk/census.js';
import { crawl, type CrawlRecord } from '../src/bulk/crawl.js';
import { CrawlJournal, JOURNAL_FILE, MAX_JOURNAL_LINE_BYTES, journalRecords } from '../src/bulk/crawl-state.js';
import { Frontier } from '../src/bulk/frontier.js';
import { MAX_CACHE_LINE_BYTES, ROBOTS_CACHE_FILE, RobotsCache } from '../src/bulk/robots-cache.js';
import { startGeminispace, type Geminispace } from './support/geminispace.js';
import { requireBuild, runCli, scratchDirs } from './support/cli.js';

const makeDir = scratchDirs();
const fast = { trust: 'insecure' as const, idleTimeout: 2000, totalTimeout: 10_000 };

/** Record lines a damaged journal may hold: JSON, with an `r` key, but not a record. */
const NOT_RECORDS = ['{"r":null}', '{"r":"x"}', '{"r":[1,2]}', '{"r":{}}', '{"r":{"url":5}}'];

describe('a damaged crawl journal', () => {
  let space: Geminispace;
  beforeAll(async () => {
    space = await startGeminispace([{ name: 'h', pages: { '/': { body: '=> /a\n=> /b\n' }, '/a': { body: 'a\n' }, '/b': { body: 'b\n' } } }]);
  });
  afterAll(async () => {
    await space?.close();
  });

  it('opens with record lines that are not records skipped and counted, not handed to onRecord', async () => {
    const state = path.join(makeDir('gemfetch-damaged-'), 'state');
    fs.mkdirSync(state);
    const lines = ['{"q":"gemini://h/a","d":0,"p":null}', ...NOT_RECORDS, '{"r":{"url":"gemini://h/a","attempts":1}}'];
    fs.writeFileSync(path.join(state, JOURNAL_FILE), `${lines.join('\n')}\n`);
    const seen: unknown[] = [];
    const frontier = new Frontier();
    const { journal, contents } = await CrawlJournal.open<CrawlRecord>(state, (r) => seen.push(r), frontier);
    journal.close();
    frontier.close();
    expect(contents.skippedLines).toBe(NOT_RECORDS.length);
    expect(contents.recordCount).toBe(1);
    expect(contents.pendingCount).toBe(0);
    expect(seen).toEqual([{ url: 'gemini://h/a', attempts: 1 }]);
  });

  it('is read a bounded line at a time: 560 MB of damage without a newline (longer than any string) is skipped, the entries around it kept, both when resuming and when records are re-read', async () => {
    const state = path.join(makeDir('gemfetch-damaged-'), 'state');
    fs.mkdirSync(state);
    const file = path.join(state, JOURNAL_FILE);
    fs.writeFileSync(file, '{"q":"gemini://h/a","d":0,"p":null}\n{"r":{"url":"gemini://h/a","attempts":1}}\n');
    // a sparse hole of NUL bytes: held whole it is past V8's string limit (~536 MB); before, opening failed ERR_STORAGE
    const hole = 560 * 1024 * 1024;
    fs.truncateSync(file, fs.statSync(file).size + hole);
    fs.appendFileSync(file, '\n{"q":"gemini://h/b","d":1,"p":"gemini://h/a"}\n{"r":{"url":"gemini://h/b","attempts":1}}\n');
    const frontier = new Frontier();
    const { journal, contents } = await CrawlJournal.open<CrawlRecord>(state, () => {}, frontier);
    journal.close();
    frontier.close();
    expect(contents.skippedLines).toBe(1);
    expect(contents.recordCount).toBe(2);
    expect(contents.pendingCount).toBe(0);
    const urls: string[] = [];
    for await (const r of journalRecords<CrawlRecord>(state)) urls.push(r.url);
    expect(urls).toEqual(['gemini://h/a', 'gemini://h/b']);
    fs.rmSync(file);
    expect(hole).toBeGreaterThan(MAX_JOURNAL_LINE_BYTES);
  }, 120_000);

  it('resumes a crawl whose journal holds non-records and records with fields of the wrong type, without fetching a recorded URL again', async () => {
    const state = path.join(makeDir('gemfetch-damaged-'), 'state');
    fs.mkdirSync(state);
    const h = space.get('h');
    const lines = [
      JSON.stringify({ q: h.url('/'), d: 0, p: null }),
      ...NOT_RECORDS,
      // a 2x record without sha256, and one whose sha256 is a number: the duplicate check must not read them as strings
      JSON.stringify({ r: { url: h.url('/'), status: 20, attempts: 1, duplicateOf: null } }),
      JSON.stringify({ q: h.url('/a'), d: 1, p: h.url('/') }),
      JSON.stringify({ q: h.url('/b'), d: 1, p: h.url('/') }),
      JSON.stringify({ r: { url: h.url('/a'), status: 20, sha256: 5, attempts: 1, duplicateOf: null } }),
    ];
    fs.writeFileSync(path.join(state, JOURNAL_FILE), `${lines.join('\n')}\n`);
    h.log.length = 0;
    const records: CrawlRecord[] = [];
    for await (const r of crawl([h.url('/')], { stateDir: state, scope: 'host', delay: 0, requestOptions: fast })) records.push(r);
    expect(records.map((r) => r.url)).toEqual([h.url('/b')]);
    expect(records[0]!.status).toBe(20);
    expect(h.log.map((l) => l.path).filter((p) => !p.startsWith('/robots.txt'))).toEqual(['/b']);
  }, 60_000);

  it('resumes past queued lines the frontier cannot hold (a 200,000-byte URL) or that do not parse (gemini://[::1/x): skipped or recorded as ERR_INVALID_URL, the rest fetched', async () => {
    const state = path.join(makeDir('gemfetch-damaged-'), 'state');
    fs.mkdirSync(state);
    const h = space.get('h');
    const long = h.url(`/${'a'.repeat(200_000)}`);
    const lines = [
      JSON.stringify({ q: h.url('/'), d: 0, p: null }),
      JSON.stringify({ r: { url: h.url('/'), status: 20, attempts: 1, duplicateOf: null } }),
      JSON.stringify({ q: long, d: 1, p: h.url('/') }),
      JSON.stringify({ q: h.url('/a'), d: 1, p: long }),
      JSON.stringify({ q: 'gemini://[::1/x', d: 1, p: h.url('/') }),
      JSON.stringify({ q: h.url('/b'), d: 1, p: h.url('/') }),
    ];
    fs.writeFileSync(path.join(state, JOURNAL_FILE), `${lines.join('\n')}\n`);
    const frontier = new Frontier();
    const opened = await CrawlJournal.open<CrawlRecord>(state, undefined, frontier);
    opened.journal.close();
    frontier.close();
    expect(opened.contents.skippedLines).toBe(2);
    expect(opened.contents.pendingCount).toBe(2);
    h.log.length = 0;
    const records: CrawlRecord[] = [];
    for await (const r of crawl([h.url('/')], { stateDir: state, scope: 'host', delay: 0, requestOptions: fast })) records.push(r);
    const byUrl = new Map(records.map((r) => [r.url, r]));
    expect([...byUrl.keys()].sort()).toEqual(['gemini://[::1/x', h.url('/b')].sort());
    expect(byUrl.get('gemini://[::1/x')!.error?.code).toBe('ERR_INVALID_URL');
    expect(byUrl.get('gemini://[::1/x')!.attempts).toBe(0);
    expect(byUrl.get(h.url('/b'))!.status).toBe(20);
    expect(h.log.map((l) => l.path).filter((p) => !p.startsWith('/robots.txt'))).toEqual(['/b']);
    // the invalid URL's record is journaled: a second resume has nothing left to do
    const again: CrawlRecord[] = [];
    for await (const r of crawl([h.url('/')], { stateDir: state, scope: 'host', delay: 0, requestOptions: fast })) again.push(r);
    expect(again).toEqual([]);
  }, 60_000);
});

describe('a damaged robots.txt cache', () => {
  it('is read a line at a time: 560 MB of damage (longer than any string) between two entries is skipped, both entries kept, a torn tail cut', () => {
    const state = makeDir('gemfetch-damaged-robots-');
    const file = path.join(state, ROBOTS_CACHE_FILE);
    const now = Date.now();
    fs.writeFileSync(file, `${JSON.stringify({ host: 'a:1965', fetchedAt: now, body: 'User-agent: *\nDisallow: /a\n' })}\n`);
    // a sparse hole of NUL bytes: read whole, as one string, it is past V8's string limit (~536 MB)
    const hole = 560 * 1024 * 1024;
    fs.truncateSync(file, fs.statSync(file).size + hole);
    fs.appendFileSync(file, `\n${JSON.stringify({ host: 'b:1965', fetchedAt: now, body: null })}\n{"host":"c:1965","fetch`);
    const cache = new RobotsCache(state);
    expect(cache.take('a:1965', now)).toEqual({ fetchedAt: now, body: 'User-agent: *\nDisallow: /a\n' });
    expect(cache.take('b:1965', now)).toEqual({ fetchedAt: now, body: null });
    expect(cache.take('c:1965', now)).toBeUndefined();
    expect(fs.readFileSync(file).subarray(-40).toString('utf8')).toMatch(/"body":null\}\n$/); // the torn line is cut
    fs.rmSync(file);
    expect(hole).toBeGreaterThan(MAX_CACHE_LINE_BYTES);
  }, 120_000);

  it('does not keep an entry from the far future forever: fresh only within the TTL of now, either way', () => {
    const state = makeDir('gemfetch-damaged-robots-');
    const now = Date.now();
    const day = 24 * 60 * 60 * 1000;
    const lines = [
      { host: 'future:1965', fetchedAt: now + 3650 * day, body: 'User-agent: *\nDisallow: /\n' },
      { host: 'skew:1965', fetchedAt: now + 1000, body: null },
    ];
    fs.writeFileSync(path.join(state, ROBOTS_CACHE_FILE), lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    const cache = new RobotsCache(state, day);
    expect(cache.take('future:1965', now)).toBeUndefined();
    expect(cache.take('skew:1965', now)).toEqual({ fetchedAt: now + 1000, body: null });
    expect(cache.isFresh(now - day + 1, now)).toBe(true);
    expect(cache.isFresh(now - day, now)).toBe(false);
  });
});

describe('the census over damaged records', () => {
  it('leaves out records that are not gemfetch records, counts them as malformed, and never makes a NaN group', () => {
    const counter = new CensusCounter();
    const good: CensusInput = { url: 'gemini://a/', status: 20, termination: 'close_notify', tls: { protocol: 'TLSv1.3' } };
    const bad: unknown[] = [
      null,
      'x',
      { url: 'gemini://a/' }, // no status, no termination
      { url: 'gemini://a/', status: '20', termination: 'close_notify', tls: null }, // status a string
      { url: 'gemini://a/', status: 20.5, termination: 'tcp_fin', tls: null },
      { url: 'gemini://a/', status: 20, termination: 7, tls: null },
      { status: 20, termination: 'tcp_fin', tls: null }, // no url
    ];
    counter.add(good);
    for (const b of bad) counter.add(b as CensusInput);
    const result = counter.result();
    expect(result.records).toBe(1 + bad.length);
    expect(result.malformed).toBe(bad.length);
    expect(result.noResponse).toBe(0);
    expect(result.lines.map((l) => `${l.by} ${l.key}`)).toEqual(['all all', 'status 2x', 'tls TLSv1.3', 'issuer unknown']);
    expect(result.lines[0]!.uris).toEqual({ total: 1, closeNotify: 1, share: 1 });
    expect(formatCensusTable(result)).toContain(`8 records: 1 responses counted, 0 without a response, 0 cut by gemfetch (size limit, timeout, interrupt), 7 malformed (not gemfetch records) left out`);
  });

  it('gemfetch survey --from-crawl on a state directory with damaged records: exit 0, figures of the good ones, no internal error', async () => {
    requireBuild();
    const home = makeDir('gemfetch-damaged-census-');
    const state = path.join(home, 'state');
    fs.mkdirSync(state);
    const lines = [
      ...NOT_RECORDS,
      '{"r":{"url":"gemini://a/"}}',
      '{"r":{"url":"gemini://a/","status":"20","termination":"close_notify","tls":null}}',
      '{"r":{"url":"gemini://b/","status":20,"termination":"tcp_fin","tls":{"protocol":"TLSv1.3"}}}',
      'not json',
    ];
    fs.writeFileSync(path.join(state, JOURNAL_FILE), `${lines.join('\n')}\n`);
    const res = await runCli(home, ['survey', '--from-crawl', state]);
    expect(res.stderr).not.toContain('internal error');
    expect(res.code).toBe(0);
    const out = res.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { by: string; key: string; uris: { total: number } });
    expect(out.map((l) => `${l.by} ${l.key}`)).toEqual(['all all', 'status 2x', 'tls TLSv1.3', 'issuer unknown']);
    expect(out[0]!.uris.total).toBe(1);
    expect(res.stderr).toContain('3 records: 1 responses counted, 0 without a response, 0 cut by gemfetch (size limit, timeout, interrupt), 2 malformed (not gemfetch records) left out');
  }, 60_000);
});
