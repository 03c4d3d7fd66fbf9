import { spawn } from 'node:child_process';
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { batch, type BatchRecord } from '../src/bulk/batch.js';
import { fetchAttempt } from '../src/bulk/bulk.js';
import { Client } from '../src/net/client.js';
import { HostScheduler, classifyRecord } from '../src/bulk/host-scheduler.js';
import { errorRecord } from '../src/net/record.js';
import { startGeminispace, type Geminispace } from './support/geminispace.js';

/** Several hundred KB: arrives in many chunks. */
const BIG_BODY = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));

const fast = { trust: 'insecure' as const, connectTimeout: 5000, handshakeTimeout: 5000, headerTimeout: 5000, idleTimeout: 1000, totalTimeout: 10000 };

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('batch against a simulated Geminispace', () => {
  let space: Geminispace;
  beforeAll(async () => {
    space = await startGeminispace([
      { name: 'big', pages: { '/': { header: '20 application/octet-stream', body: BIG_BODY } } },
      { name: 'plain', pages: { '/': { body: '# hi\n' }, '/a': { body: 'a' }, '/b': { body: 'b' }, '/c': { body: 'c' }, '/d': { body: 'd' } } },
      { name: 'fin', pages: { '/': { body: 'cut', ending: 'fin' } } },
      { name: 'stall', pages: { '/': { body: 'partial', ending: 'none' } } },
      {
        name: 'slow44',
        pages: { '/': (_ctx, n) => (n === 0 ? { header: '44 1' } : { body: 'after waiting' }) },
      },
      {
        name: 'slow44x',
        pages: { '/': (_ctx, n) => (n === 0 ? { header: '44 slow down please' } : { body: 'after doubling' }) },
      },
      { name: 'flaky', pages: { '/': (_ctx, n) => (n < 2 ? { header: '41 busy' } : { body: 'ok now' }) } },
      { name: 'down', down: true },
      { name: 'down2', down: true },
      { name: 'wide', answerDelayMs: 1500, pages: { '/': { body: 'wide' } } },
    ]);
  });
  afterAll(async () => space?.close());

  it('fetchAttempt hashes a many-chunk body incrementally and keeps it whole only when asked', async () => {
    const client = new Client();
    const url = space.get('big').url('/');
    const kept = await fetchAttempt(client, url, fast, () => true);
    expect(kept.body?.equals(BIG_BODY)).toBe(true);
    expect(kept.record).toMatchObject({ complete: true, bytes: BIG_BODY.length, sha256: createHash('sha256').update(BIG_BODY).digest('hex') });
    const hashed = await fetchAttempt(client, url, fast);
    expect(hashed.body).toBeUndefined();
    expect(hashed.record.sha256).toBe(kept.record.sha256);
    const cut = await fetchAttempt(client, space.get('fin').url('/'), fast, () => true);
    expect(cut.body?.toString()).toBe('cut');
    expect(cut.record).toMatchObject({ complete: false, termination: 'tcp_fin', bytes: 3, sha256: createHash('sha256').update('cut').digest('hex') });
  });

  it('yields exactly one record per input, in any order, for every kind of outcome', async () => {
    const plain = space.get('plain');
    const inputs = [
      plain.url('/'),
      plain.url('/a'),
      plain.url('/b'),
      plain.url('/missing'),
      space.get('fin').url('/'),
      space.get('stall').url('/'),
      space.get('down').url('/'),
      'not a url',
      'https://example.org/',
      plain.url('/a'), // duplicate input: fetched again
    ];
    const records = await collect(batch(inputs, { requestOptions: fast, delay: 20 }));
    expect(records).toHaveLength(inputs.length);
    expect(records.map((r) => r.url).sort()).toEqual([...inputs].sort());
    const by = (url: string): BatchRecord[] => records.filter((r) => r.url === url);
    expect(by(plain.url('/'))[0]).toMatchObject({ status: 20, complete: true, termination: 'close_notify', attempts: 1 });
    expect(by(plain.url('/a'))).toHaveLength(2);
    expect(by(plain.url('/missing'))[0]).toMatchObject({ status: 51, complete: true });
    expect(by(space.get('fin').url('/'))[0]).toMatchObject({ status: 20, complete: false, termination: 'tcp_fin' });
    expect(by(space.get('stall').url('/'))[0]).toMatchObject({ status: 20, complete: false, termination: 'timeout' });
    expect(by(space.get('down').url('/'))[0]!.error?.code).toBe('ERR_CONNECT');
    expect(by('not a url')[0]).toMatchObject({ attempts: 0, error: { code: 'ERR_INVALID_URL' } });
    expect(by('https://example.org/')[0]!.error?.code).toBe('ERR_INVALID_URL');
    // politeness, measured by the server: one request at a time, delay between them
    expect(plain.maxActive).toBe(1);
    expect(plain.server!.maxConcurrentConnections).toBe(1);
    const starts = plain.log.map((l) => l.start);
    const ends = plain.log.map((l) => l.end!);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - ends[i - 1]!).toBeGreaterThanOrEqual(15);
  });

  it('honours an integer 44 META and doubles the delay otherwise, then retries', async () => {
    const a = space.get('slow44');
    const b = space.get('slow44x');
    const records = await collect(batch([a.url('/'), b.url('/')], { requestOptions: fast, maxDelay: 1200 }));
    for (const r of records) expect(r).toMatchObject({ status: 20, attempts: 2, complete: true });
    expect(a.log).toHaveLength(2);
    expect(a.log[1]!.start - a.log[0]!.end!).toBeGreaterThanOrEqual(950);
    expect(b.log[1]!.start - b.log[0]!.end!).toBeGreaterThanOrEqual(950); // doubled from 0 to the 1 s floor
  });

  it('retries 4x with backoff and gives up on hosts that keep failing', async () => {
    const flaky = space.get('flaky');
    const down2 = space.get('down2');
    const urls = [flaky.url('/'), ...Array.from({ length: 6 }, (_, i) => down2.url(`/${i}`))];
    const records = await collect(batch(urls, { requestOptions: fast, retries: 2, retryBackoff: 10, maxFailures: 3 }));
    expect(records).toHaveLength(urls.length);
    expect(records.find((r) => r.url === flaky.url('/'))).toMatchObject({ status: 20, attempts: 3 });
    const downRecords = records.filter((r) => r.url.startsWith(down2.url('')));
    expect(downRecords).toHaveLength(6);
    // 3 consecutive failed attempts set the host aside: no further request, the rest never tried
    const tried = downRecords.filter((r) => r.attempts > 0);
    expect(tried.every((r) => r.error?.code === 'ERR_CONNECT')).toBe(true);
    expect(tried.reduce((sum, r) => sum + r.attempts, 0)).toBe(3);
    const untried = downRecords.filter((r) => r.attempts === 0);
    expect(untried.length).toBeGreaterThan(0);
    expect(untried.every((r) => r.error?.code === 'ERR_HOST_SET_ASIDE')).toBe(true);
  });

  it('reads input lazily, from an async iterable, and on abort stops reading but gives every URL read a record', async () => {
    const plain = space.get('plain');
    const read: string[] = [];
    async function* urls(): AsyncGenerator<string> {
      for (const p of ['/a', '/b', '/c', '/d']) {
        read.push(plain.url(p));
        yield plain.url(p);
      }
    }
    const controller = new AbortController();
    const seen: BatchRecord[] = [];
    for await (const record of batch(urls(), { requestOptions: fast, readAhead: 1, signal: controller.signal })) {
      seen.push(record);
      if (seen.length === 2) controller.abort();
    }
    expect(read.length).toBeLessThan(4); // lazily: /d was never read
    expect(seen.map((r) => r.url).sort()).toEqual([...read].sort());
    for (const record of seen.slice(2)) expect(record.error?.code).toBe('ERR_ABORTED');
  });

  it.skipIf(!fs.existsSync(path.resolve(__dirname, '../dist/cli/commands/batch.js')))('runs as `gemfetch batch -f -`: one JSON line per input line, exit code of the worst', async () => {
    const plain = space.get('plain');
    const input = ['# a comment', plain.url('/a'), '', plain.url('/missing'), `${plain.host}:${plain.port}/b`, 'gemini://'].join('\n');
    const child = spawn(process.execPath, [path.resolve(__dirname, '../bin/gemfetch.js'), 'batch', '-f', '-', '-k', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stdin.end(input);
    const code = await new Promise((resolve) => child.once('exit', resolve));
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as BatchRecord);
    expect(lines).toHaveLength(4);
    expect(lines.find((r) => r.url === plain.url('/b'))?.status).toBe(20); // schemeless input
    expect(code).toBe(2); // the invalid URL outranks the 51
  });

  it('runs 16 requests at once on one signal without a MaxListenersExceededWarning, and leaves no listener on the caller\'s signal', async () => {
    const wide = space.get('wide');
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    const parent = new AbortController();
    try {
      const urls = Array.from({ length: 20 }, (_, i) => wide.url(`/?${i}`));
      const records = await collect(batch(urls, { requestOptions: fast, concurrency: 16, perHost: 16, signal: parent.signal }));
      expect(records).toHaveLength(20);
      expect(records.filter((r) => r.status !== 20).map((r) => r.error?.code ?? r.termination)).toEqual([]);
      expect(wide.maxActive).toBeGreaterThan(10); // more than the default limit of 10 listeners were in flight
      for (let i = 0; i < 3; i++) await collect(batch([wide.url(`/?again${i}`)], { requestOptions: fast, signal: parent.signal }));
      expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
  });

  it('shares a client (TLS sessions are resumed per host)', async () => {
    const plain = space.get('plain');
    const client = new Client({ trust: 'insecure' });
    const records = await collect(batch([plain.url('/a'), plain.url('/b'), plain.url('/c')], { client, requestOptions: fast }));
    expect(records.filter((r) => r.tls?.resumed)).not.toHaveLength(0);
  });
});

describe('HostScheduler', () => {
  it('never runs more than perHost jobs of a host, nor more than concurrency in all', async () => {
    const scheduler = new HostScheduler({ concurrency: 3, perHost: 2 });
    let active = 0;
    let maxActive = 0;
    const perHost = new Map<string, number>();
    let maxPerHost = 0;
    for (let i = 0; i < 20; i++) {
      const hostKey = `h${i % 3}`;
      scheduler.submit({
        hostKey,
        run: async () => {
          active++;
          perHost.set(hostKey, (perHost.get(hostKey) ?? 0) + 1);
          maxActive = Math.max(maxActive, active);
          maxPerHost = Math.max(maxPerHost, perHost.get(hostKey)!);
          await new Promise((r) => setTimeout(r, 2));
          active--;
          perHost.set(hostKey, perHost.get(hostKey)! - 1);
          return { contacted: true, health: 'ok', retry: false };
        },
        setAside: () => {},
      });
    }
    await scheduler.idle();
    expect(maxActive).toBe(3);
    expect(maxPerHost).toBe(2);
  });

  it('counts hosts set aside and survives a job that breaks its contract by rejecting', async () => {
    const scheduler = new HostScheduler({ maxFailures: 2, retryBackoff: 0 });
    const setAside: string[] = [];
    const ran: string[] = [];
    const job = (hostKey: string, health: 'ok' | 'failure', reject = false) => ({
      hostKey,
      run: async () => {
        ran.push(hostKey);
        if (reject) throw new Error('broken job');
        return { contacted: true, health, retry: false } as const;
      },
      setAside: (reason: string) => setAside.push(reason),
    });
    for (let i = 0; i < 3; i++) scheduler.submit(job('bad', 'failure'));
    scheduler.submit(job('good', 'ok', true));
    scheduler.submit(job('good', 'ok'));
    await scheduler.idle();
    expect(scheduler.setAsideCount).toBe(1);
    expect(scheduler.hostStatus('bad')?.setAside).toBe(true);
    expect(scheduler.hostStatus('good')?.setAside).toBe(false);
    expect(setAside).toEqual(['host bad set aside after 2 consecutive failures']);
    expect(ran.filter((h) => h === 'good')).toHaveLength(2);
    scheduler.submit(job('bad', 'ok'));
    expect(setAside).toHaveLength(2);
    expect(scheduler.setAsideCount).toBe(1);
  });

  it('classifies records', () => {
    const base = { ...errorRecord('gemini://h/', new Error('x')), error: null };
    expect(classifyRecord({ ...base, status: 44, meta: '7' }, 1, 0, 5)).toMatchObject({ health: 'slow-down', slowDownSeconds: 7, retry: true });
    expect(classifyRecord({ ...base, status: 44, meta: 'later' }, 6, 0, 5)).toMatchObject({ health: 'slow-down', retry: false });
    expect(classifyRecord({ ...base, status: 41, meta: '' }, 1, 1, 5)).toMatchObject({ health: 'ok', retry: true });
    expect(classifyRecord({ ...base, status: 51, meta: '' }, 1, 1, 5)).toMatchObject({ health: 'ok', retry: false });
    expect(classifyRecord({ ...base, error: { code: 'ERR_CONNECT', message: '' } }, 2, 1, 5)).toMatchObject({ health: 'failure', retry: false });
    expect(classifyRecord({ ...base, error: { code: 'ERR_INVALID_URL', message: '' } }, 1, 1, 5)).toMatchObject({ contacted: false, retry: false });
    expect(classifyRecord({ ...base, error: { code: 'ERR_URL_TOO_LONG', message: '' } }, 1, 1, 5)).toMatchObject({ contacted: false, retry: false });
    // server-caused failures: the host was contacted, so its delay applies; not retried
    for (const code of ['ERR_BAD_REDIRECT', 'ERR_BAD_HEADER', 'ERR_HEADER_TOO_LONG', 'ERR_REDIRECT_LOOP']) {
      expect(classifyRecord({ ...base, error: { code, message: '' } }, 1, 3, 5), code).toEqual({ contacted: true, health: 'neutral', retry: false });
    }
  });

  it('delays the next request to a host after a server-caused error (ERR_BAD_REDIRECT)', async () => {
    const scheduler = new HostScheduler({ delay: 60 });
    const times: Array<{ start: number; end: number }> = [];
    const badRedirect = { ...errorRecord('gemini://h/', new Error('x')), error: { code: 'ERR_BAD_REDIRECT', message: 'unparsable redirect target' } };
    for (let i = 0; i < 2; i++) {
      scheduler.submit({
        hostKey: 'h',
        run: async () => {
          const start = Date.now();
          await new Promise((r) => setTimeout(r, 1));
          times.push({ start, end: Date.now() });
          return classifyRecord(badRedirect, 1, 0, 5);
        },
        setAside: () => {},
      });
    }
    await scheduler.idle();
    expect(times).toHaveLength(2);
    expect(times[1]!.start - times[0]!.end).toBeGreaterThanOrEqual(55);
  });
});
