import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawl, type CrawlRecord } from '../src/bulk/crawl.js';
import { CrawlJournal, JOURNAL_FILE } from '../src/bulk/crawl-state.js';
import { Frontier, type QueuedUrl } from '../src/bulk/frontier.js';
import { LOCK_FILE } from '../src/bulk/state-lock.js';
import { execFileSync } from 'node:child_process';
import { startGeminispace, treePaths, type Geminispace } from './support/geminispace.js';

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'gemfetch.js');
const built = fs.existsSync(path.join(ROOT, 'dist', 'cli', 'commands', 'crawl.js'));
const fast = { trust: 'insecure' as const, idleTimeout: 300, totalTimeout: 2000 };

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Every URL a frontier hands out, host by host, with its host. */
function drain(frontier: Frontier): Array<QueuedUrl & { hostKey: string }> {
  const out: Array<QueuedUrl & { hostKey: string }> = [];
  for (const host of frontier.hostQueues()) {
    for (let q = host.shift(); q !== undefined; q = host.shift()) out.push({ ...q, hostKey: host.key });
  }
  frontier.close();
  return out;
}

function readLines(file: string): CrawlRecord[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as CrawlRecord);
}

describe('resumable crawl', () => {
  let space: Geminispace;
  let dir: string;
  const TREE = { depth: 4, fanout: 2 }; // 31 pages per tree
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gemfetch-resume-'));
    space = await startGeminispace([
      { name: 'hub', pages: { '/': { body: '=> {{t1}}/tree/\n=> {{t2}}/tree/\n=> {{t3}}/tree/\n=> /private/no\n' } }, robots: 'User-agent: *\nDisallow: /private/\n' },
      { name: 't1', tree: TREE },
      { name: 't2', tree: TREE },
      { name: 't3', tree: TREE, successEnding: 'fin' },
    ]);
  });
  afterAll(async () => {
    await space?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const expectedUrls = (): string[] => [
    space.get('hub').url('/'),
    space.get('hub').url('/private/no'),
    ...['t1', 't2', 't3'].flatMap((n) => treePaths(TREE.fanout, TREE.depth).map((p) => space.get(n).url(p))),
  ];
  const requestCounts = (): Map<string, number> => {
    const counts = new Map<string, number>();
    for (const c of space.capsules) {
      for (const l of c.log) if (!l.path.startsWith('/robots.txt')) counts.set(c.url(l.path), (counts.get(c.url(l.path)) ?? 0) + 1);
    }
    return counts;
  };
  const resetLogs = (): void => {
    for (const c of space.capsules) c.log.length = 0;
  };

  it('continues a crawl stopped by maxPages without refetching or re-yielding anything', async () => {
    resetLogs();
    const state = path.join(dir, 'lib-state');
    const options = { scope: 'all' as const, delay: 0, concurrency: 4, stateDir: state, requestOptions: fast };
    const seeds = [space.get('hub').url('/')];
    const first = await collect(crawl(seeds, { ...options, maxPages: 20 }));
    expect(first.filter((r) => r.attempts > 0)).toHaveLength(20);
    const second = await collect(crawl(seeds, options));
    const all = [...first, ...second].map((r) => r.url);
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual(expectedUrls().sort());
    for (const [url, n] of requestCounts()) expect(n, url).toBe(1);
    // a third run has nothing left to do
    expect(await collect(crawl(seeds, options))).toEqual([]);
  });

  it('locks the state directory: a second crawl on it, in this process, is refused while the first runs', async () => {
    const state = path.join(dir, 'locked-lib');
    const seeds = [space.get('t1').url('/tree/')];
    const first = crawl(seeds, { delay: 0, stateDir: state, requestOptions: fast });
    const records = [(await first.next()).value as CrawlRecord];
    expect(fs.existsSync(path.join(state, LOCK_FILE))).toBe(true);
    const err = await crawl(seeds, { delay: 0, stateDir: state, requestOptions: fast }).next().then(() => undefined, (e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ERR_STATE_LOCKED');
    expect((err as Error).message).toContain(state);
    for await (const record of first) records.push(record);
    expect(records).toHaveLength(treePaths(TREE.fanout, TREE.depth).length);
    expect(fs.existsSync(path.join(state, LOCK_FILE))).toBe(false); // released at the end
  });

  it('takes over a stale lock: its pid is not running, or is running but started at another time (pid reused)', async () => {
    const seeds = [space.get('t2').url('/tree/')];
    // the pid of a process that has exited
    const deadPid = Number(execFileSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).trim());
    const owners = [
      { pid: deadPid, host: os.hostname(), started: '1', token: 'dead' },
      { pid: process.pid, host: os.hostname(), started: 'not-our-start-time', token: 'reused' },
      'torn{',
    ];
    for (const [i, owner] of owners.entries()) {
      const state = path.join(dir, `stale-${i}`);
      fs.mkdirSync(state, { recursive: true });
      fs.writeFileSync(path.join(state, LOCK_FILE), typeof owner === 'string' ? owner : JSON.stringify(owner));
      const records = await collect(crawl(seeds, { delay: 0, stateDir: state, maxPages: 2, requestOptions: fast }));
      expect(records.length, JSON.stringify(owner)).toBeGreaterThan(0);
      expect(fs.existsSync(path.join(state, LOCK_FILE))).toBe(false);
    }
    // a live owner (this very process, as it started) is not stale
    const state = path.join(dir, 'live-owner');
    fs.mkdirSync(state, { recursive: true });
    const started = fs.readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const startTime = started.slice(started.lastIndexOf(')') + 2).split(' ')[19];
    fs.writeFileSync(path.join(state, LOCK_FILE), JSON.stringify({ pid: process.pid, host: os.hostname(), started: startTime, token: 'live' }));
    const err = await crawl(seeds, { stateDir: state, requestOptions: fast }).next().then(() => undefined, (e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ERR_STATE_LOCKED');
    expect(fs.readFileSync(path.join(state, LOCK_FILE), 'utf8')).toContain('"live"'); // left alone
  });

  it.skipIf(!built)('two crawl processes on one --state DIR: the second is refused (exit 1), the journal is not doubled', async () => {
    const state = path.join(dir, 'two-processes');
    const out = path.join(dir, 'two-processes.ndjson');
    const seed = space.get('t3').url('/tree/');
    const args = [BIN, 'crawl', seed, '--state', state, '--output', out, '--delay', '300ms', '-k', '-q', '--idle-timeout', '300ms', '--max-time', '2s'];
    const first = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let firstStderr = '';
    first.stderr.on('data', (d: Buffer) => (firstStderr += d.toString()));
    let firstCode: number | null | undefined;
    const firstExited = new Promise<void>((resolve) => first.once('exit', (code) => ((firstCode = code), resolve())));
    const deadline = Date.now() + 20_000;
    while (firstCode === undefined && readLines(out).length === 0 && Date.now() < deadline) await sleep(10);
    const second = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let secondStderr = '';
    second.stderr.on('data', (d: Buffer) => (secondStderr += d.toString()));
    const secondCode = await new Promise<number | null>((resolve) => second.once('exit', resolve));
    const firstWasRunning = firstCode === undefined;
    await firstExited;
    expect(firstCode, firstStderr).toBe(0);
    if (firstWasRunning) {
      expect(secondCode, secondStderr).toBe(1);
      expect(secondStderr).toContain(`the crawl state directory ${state} is in use by process ${first.pid}`);
    }
    const pages = treePaths(TREE.fanout, TREE.depth).length;
    const journaled = fs.readFileSync(path.join(state, JOURNAL_FILE), 'utf8').split('\n').filter((l) => l.startsWith('{"r"'));
    expect(journaled).toHaveLength(pages);
    const urls = readLines(out).map((r) => r.url);
    expect(urls).toHaveLength(pages);
    expect(new Set(urls).size).toBe(pages);
  }, 60_000);

  it.skipIf(!built)('CLI: catching up an --output file larger than a Buffer (2.2 GiB torn tail) reads it a line at a time, cuts the tail, appends what it missed', async () => {
    const state = path.join(dir, 'catch-up-big');
    const out = path.join(dir, 'catch-up-big.ndjson');
    const args = [BIN, 'crawl', space.get('t3').url('/tree/'), '--state', state, '--output', out, '--delay', '0', '-k', '-q', '--max-time', '2s'];
    const run = (): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
    const first = await run();
    expect(first.code, first.stderr).toBe(0);
    const whole = fs.readFileSync(out, 'utf8');
    const lines = whole.split('\n').filter(Boolean);
    expect(lines.length).toBe(treePaths(TREE.fanout, TREE.depth).length);
    // keep the first two records, then 2.2 GiB of zeros without a newline (sparse: no disk used)
    const kept = `${lines.slice(0, 2).join('\n')}\n`;
    fs.writeFileSync(out, kept);
    fs.truncateSync(out, Buffer.byteLength(kept) + Math.round(2.2 * 2 ** 30));
    const again = await run();
    expect(again.code, again.stderr).toBe(0); // fs.readFileSync refused it: ERR_FS_FILE_TOO_LARGE
    const after = fs.readFileSync(out, 'utf8');
    expect(after.split('\n').filter(Boolean).sort()).toEqual([...lines].sort());
    expect(after.startsWith(kept)).toBe(true);
  }, 120_000);

  it.skipIf(!built)('CLI: resuming into an --output that is a FIFO writes no earlier record again (as on stdout): a pipe keeps none to count', async () => {
    const state = path.join(dir, 'catch-up-fifo');
    const out = path.join(dir, 'catch-up-fifo.ndjson');
    const fifo = path.join(dir, 'catch-up-fifo.pipe');
    const run = (output: string): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const args = [BIN, 'crawl', space.get('t2').url('/tree/'), '--state', state, '--output', output, '--delay', '0', '-k', '-q', '--max-time', '2s'];
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
    const first = await run(out);
    expect(first.code, first.stderr).toBe(0);
    expect(readLines(out)).toHaveLength(treePaths(TREE.fanout, TREE.depth).length);
    execFileSync('mkfifo', [fifo]);
    let received = '';
    const reader = fs.createReadStream(fifo, 'utf8');
    reader.on('data', (d: string | Buffer) => (received += d.toString()));
    const read = new Promise<void>((resolve, reject) => reader.once('end', resolve).once('error', reject));
    const again = await run(fifo);
    await read;
    expect(again.code, again.stderr).toBe(0);
    expect(received).toBe(''); // the whole journal (31 records) went down the pipe again
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
  }, 60_000);

  it('refuses to resume with other seeds or scope, saying what differs; resumes with the stored ones when none are given', async () => {
    resetLogs();
    const state = path.join(dir, 'settings');
    const seeds = [space.get('hub').url('/')];
    const options = { delay: 0, concurrency: 4, stateDir: state, requestOptions: fast };
    const first = await collect(crawl(seeds, { ...options, scope: 'all', maxPages: 10 }));
    expect(first.length).toBeGreaterThan(0);
    const journalBefore = fs.readFileSync(path.join(state, JOURNAL_FILE), 'utf8');
    const attempts: Array<[string[], { scope: 'all' | 'host'; exclude?: RegExp[] }, string]> = [
      [[space.get('t1').url('/tree/')], { scope: 'all' }, 'seeds'],
      [seeds, { scope: 'host' }, 'scope "all" (now "host")'],
      [seeds, { scope: 'all', exclude: [/private/] }, 'exclude [] (now ["/private/"])'],
    ];
    for (const [otherSeeds, extra, what] of attempts) {
      const err = await crawl(otherSeeds, { ...options, ...extra }).next().then(() => undefined, (e: unknown) => e);
      expect((err as { code?: string }).code, what).toBe('ERR_STATE_MISMATCH');
      expect((err as Error).message).toContain(what);
      expect((err as Error).message).toContain('use another state directory');
    }
    expect(fs.readFileSync(path.join(state, JOURNAL_FILE), 'utf8')).toBe(journalBefore); // nothing merged
    // no seeds and no scope: the stored ones (scope all reaches every tree)
    const rest = await collect(crawl([], options));
    const all = [...first, ...rest].map((r) => r.url);
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual(expectedUrls().sort());
  });

  it.skipIf(!built)('CLI: resuming --state DIR with another seed exits 2 with the difference', async () => {
    const state = path.join(dir, 'settings-cli');
    const run = (seed: string): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [BIN, 'crawl', seed, '--state', state, '--max-pages', '1', '--delay', '0', '-k', '-q', '--max-time', '2s'], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
    expect((await run(space.get('t1').url('/tree/'))).code).toBe(0);
    const second = await run(space.get('t2').url('/tree/'));
    expect(second.code, second.stderr).toBe(2);
    expect(second.stderr).toContain(`the crawl in ${state} was started with seeds ${space.get('t1').url('/tree/')}`);
  });

  it('drops a torn last journal line', async () => {
    const state = path.join(dir, 'torn');
    const { journal } = await CrawlJournal.open<CrawlRecord>(state);
    journal.append([{ url: 'gemini://h/', depth: 0, parent: null }]);
    journal.close();
    fs.appendFileSync(path.join(state, JOURNAL_FILE), '{"r":{"url":"gemini://h/","sta');
    const frontier = new Frontier();
    const reopened = await CrawlJournal.open<CrawlRecord>(state, undefined, frontier);
    reopened.journal.close();
    expect(drain(frontier)).toEqual([{ url: 'gemini://h/', depth: 0, parent: null, hostKey: 'h:1965' }]);
    expect(reopened.contents.pendingCount).toBe(1);
    expect(reopened.contents.recordCount).toBe(0);
    expect(fs.readFileSync(path.join(state, JOURNAL_FILE), 'utf8').endsWith('\n')).toBe(true);
  });

  it('reads back queued lines of any JSON shape, once per URL, and records the rest as done', async () => {
    const state = path.join(dir, 'shapes');
    fs.mkdirSync(state, { recursive: true });
    const lines = [
      { q: 'gemini://h/a', d: 0, p: null },
      { q: 'gemini://h/b', d: 1, p: 'gemini://h/a' },
      { r: { url: 'gemini://h/a', attempts: 1 } },
      { p: 'gemini://h/a', d: 2, q: 'gemini://h:70/c' }, // other key order
      { q: 'gemini://h/b', d: 1, p: 'gemini://h/a' }, // queued twice
      { q: 'gemini://h/e\u0301', d: 3, p: 'gemini://h/"q"' }, // escapes
      { r: { url: 'not a url', attempts: 0 } }, // an invalid seed's record
    ];
    const text = lines.map((l) => JSON.stringify(l)).join('\n').replace('\u0301', '\\u0301') + '\nnot json\n';
    fs.writeFileSync(path.join(state, JOURNAL_FILE), text);
    const frontier = new Frontier({ blockBytes: 64 });
    const { journal, contents } = await CrawlJournal.open<CrawlRecord>(state, undefined, frontier);
    journal.close();
    expect(drain(frontier)).toEqual([
      { url: 'gemini://h/b', depth: 1, parent: 'gemini://h/a', hostKey: 'h:1965' },
      { url: 'gemini://h/e\u0301', depth: 3, parent: 'gemini://h/"q"', hostKey: 'h:1965' },
      { url: 'gemini://h:70/c', depth: 2, parent: 'gemini://h/a', hostKey: 'h:70' },
    ]);
    expect(contents.pendingCount).toBe(3);
    expect(contents.recordCount).toBe(2);
    expect(contents.skippedLines).toBe(1);
    expect([...contents.recordedInputs]).toEqual(['not a url']);
    for (const url of ['gemini://h/a', 'gemini://h/b', 'gemini://h:70/c', 'gemini://h/e\u0301']) expect(contents.seen.has(url)).toBe(true);
  });

  it.skipIf(!built)('reads a journal of 200,000 pending URLs back without holding them on the JS heap', () => {
    const state = path.join(dir, 'heap');
    const out = execFileSync(process.execPath, ['--expose-gc', path.join(ROOT, 'test/bench/drivers/journal-load.js'), state, '200000', '50000'], { encoding: 'utf8' });
    const r = JSON.parse(out) as { heapGrowth: number; pending: number; handedOut: number; keep: number };
    expect(r.pending).toBe(200_000);
    expect(r.handedOut).toBe(200_000);
    expect(r.keep).toBe(250_000); // the seen-set, kept: outside the heap
    // as objects, 200,000 pending URLs took about 40 MB of heap
    expect(r.heapGrowth).toBeLessThan(8 * 2 ** 20);
  }, 60_000);

  it.skipIf(!built)('survives kill -9 at random moments: nothing lost, nothing written twice', async () => {
    resetLogs();
    const state = path.join(dir, 'cli-state');
    const out = path.join(dir, 'cli-out.ndjson');
    const args = [BIN, 'crawl', space.get('hub').url('/'), '--state', state, '--output', out, '--scope', 'all', '--delay', '10ms', '-j', '4', '-k', '-q', '--idle-timeout', '300ms', '--max-time', '2s'];
    // Each kill lands mid-crawl: once the run has written a new record, after a
    // random pause of up to 40 ms (not after a fixed time, which a loaded machine
    // may spend entirely on node's start-up).
    const maxKills = 8;
    const progress: number[] = [];
    let kills = 0;
    let finished = false;
    for (let run = 0; run < maxKills + 4 && !finished; run++) {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      let exitCode: number | null | undefined;
      const exited = new Promise<void>((resolve) => child.once('exit', (code) => ((exitCode = code), resolve())));
      if (kills < maxKills) {
        const before = readLines(out).length;
        const deadline = Date.now() + 10_000;
        while (exitCode === undefined && readLines(out).length === before && Date.now() < deadline) await sleep(5);
        if (exitCode === undefined) {
          await sleep(Math.floor(Math.random() * 40));
          child.kill('SIGKILL');
          await exited;
          if (exitCode === null) {
            kills++;
            progress.push(readLines(out).length);
            continue;
          }
        }
      }
      await exited;
      expect(exitCode, stderr).toBe(0);
      finished = true;
    }
    expect(finished).toBe(true);
    const records = readLines(out);
    const urls = records.map((r) => r.url);
    expect(new Set(urls).size).toBe(urls.length); // nothing written twice
    expect([...urls].sort()).toEqual(expectedUrls().sort()); // nothing lost
    const journalRecords = fs.readFileSync(path.join(state, JOURNAL_FILE), 'utf8').split('\n').filter((l) => l.startsWith('{"r"'));
    expect(journalRecords).toHaveLength(records.length);
    // only URLs in flight at a kill may have been requested again: at most one per host per kill
    let extra = 0;
    for (const n of requestCounts().values()) extra += n - 1;
    expect(extra).toBeLessThanOrEqual(kills * space.capsules.length);
    expect(kills).toBeGreaterThan(0);
    // the kills did land in the middle of the crawl
    expect(progress.filter((n) => n > 0 && n < urls.length).length).toBeGreaterThanOrEqual(2);
    // once finished, running again with the same state writes nothing new (stdout here)
    const again = spawn(process.execPath, args.filter((a, i) => a !== '--output' && args[i - 1] !== '--output'), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    again.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    expect(await new Promise((resolve) => again.once('exit', resolve))).toBe(0);
    expect(stdout).toBe('');
  }, 120_000);
});
