/**
 * Bulk runs and their consumers: a slow consumer slows the run (nothing lost,
 * nothing held without bound), a reader that goes away stops it with a
 * message, interrupts give every URL taken in a record, and NDJSON never
 * carries raw C1 controls or bidi overrides from a server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { batch } from '../src/bulk/batch.js';
import { survey } from '../src/bulk/survey.js';
import { BIN, childEnv, requireBuild, scratchDirs } from './support/cli.js';
import { respondWith, routes, startGeminiServer, type GeminiHandler, type GeminiTestServer } from './support/gemini-server.js';
import { until } from './support/harness.js';

vi.setConfig({ testTimeout: 60_000 });

/** More than batch's default readAhead (10 000): the old reader stopped for good once that many records waited. */
const MANY = 12_000;
const invalidUrls = (n: number): string[] => Array.from({ length: n }, (_, i) => `gemini://bad host ${i}/`);

interface Child {
  child: ChildProcess;
  stdout: Buffer[];
  stderr: Buffer[];
  exit: Promise<number | null>;
}

/** Starts `gemfetch args...` with pipes; stdout is NOT read until the caller resumes it. */
function startCli(home: string, args: string[]): Child {
  const child = spawn(process.execPath, [BIN, ...args], { env: childEnv(home), stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.pause();
  child.stderr!.on('data', (c: Buffer) => stderr.push(c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => (clearTimeout(timer), resolve(code))));
  return { child, stdout, stderr, exit };
}

function readAll(c: Child): void {
  c.child.stdout!.on('data', (chunk: Buffer) => c.stdout.push(chunk));
  c.child.stdout!.resume();
}

function lines(c: Child): Array<Record<string, unknown>> {
  const text = Buffer.concat(c.stdout).toString('utf8');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('batch with a slow consumer', () => {
  it('yields exactly N records when the consumer awaits each one and readAhead is small', async () => {
    const urls = Array.from({ length: 500 }, (_, i) => `not a url ${i}`);
    const seen = new Set<string>();
    for await (const record of batch(urls, { readAhead: 50 })) {
      await sleep(0);
      seen.add(record.url);
    }
    expect(seen.size).toBe(500);
  });
});

describe('survey with a slow consumer', () => {
  it('reads at most readAhead hosts ahead of the consumer, and yields one record per host', async () => {
    let read = 0;
    function* hosts(): Generator<string> {
      for (let i = 0; i < 100_000; i++) {
        read++;
        yield `bad host ${i}`;
      }
    }
    let taken = 0;
    for await (const record of survey(hosts(), { readAhead: 10 })) {
      await sleep(0);
      expect(record.error?.code).toBe('ERR_INVALID_URL');
      if (++taken === 50) break;
    }
    expect(read).toBeLessThanOrEqual(50 + 10 + 1);
  });
});

describe('bulk CLI output', () => {
  const scratch = scratchDirs();
  let home: string;
  beforeAll(() => {
    requireBuild();
    home = scratch('gemfetch-bulk-home-');
  });

  it('writes every record to a slow pipe (stdout not read while the input is taken in)', async () => {
    const run = startCli(home, ['batch', '-q', '-f', '-']);
    const stdin = run.child.stdin!;
    stdin.on('error', () => {});
    stdin.end(`${invalidUrls(MANY).join('\n')}\n`);
    // leave stdout unread until the child stops taking input (its pipe and its queue are full)
    let stalledRounds = 0;
    for (let i = 0; i < 100 && stalledRounds < 3; i++) {
      const before = stdin.writableLength;
      await sleep(100);
      stalledRounds = before > 0 && stdin.writableLength === before ? stalledRounds + 1 : 0;
    }
    readAll(run);
    const code = await run.exit;
    const records = lines(run);
    expect(records).toHaveLength(MANY);
    expect(new Set(records.map((r) => r.url)).size).toBe(MANY);
    expect(code).toBe(2); // invalid URLs: usage exit code, not 13 (unsettled top-level await)
  });

  it('stops with one line on stderr and exit 1 when the reader of stdout goes away (EPIPE)', async () => {
    const run = startCli(home, ['batch', '-q', '-f', '-']);
    run.child.stdin!.on('error', () => {});
    run.child.stdin!.end(`${invalidUrls(MANY).join('\n')}\n`);
    const first = await new Promise<Buffer>((resolve) => {
      run.child.stdout!.once('data', resolve);
      run.child.stdout!.resume();
    });
    expect(first.toString('utf8')).toContain('"ERR_INVALID_URL"');
    run.child.stdout!.destroy(); // like `| head -1`
    const code = await run.exit;
    const stderr = Buffer.concat(run.stderr).toString('utf8');
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^gemfetch batch: cannot write to standard output \(EPIPE\)/);
  });
});

describe('NDJSON from a hostile server', () => {
  const scratch = scratchDirs();
  let server: GeminiTestServer;
  let home: string;
  const hostileMeta = 'text/gemini; lang=en\u009b31m\u202eevil';
  beforeAll(async () => {
    requireBuild();
    home = scratch('gemfetch-bulk-home-');
    server = await startGeminiServer({
      handler: routes({
        '/': respondWith(`20 ${hostileMeta}`, '=> /gone\n'),
        '/gone': respondWith('51 gone \u009b2J\u202e\u2066 away'),
        '/robots.txt': respondWith('51 none'),
      }),
    });
  });
  afterAll(async () => server?.close());

  for (const command of ['batch', 'crawl']) {
    it(`${command}: C1 controls and bidi overrides of META are \\u escapes in the raw bytes of stdout`, async () => {
      const args = command === 'batch' ? ['batch', '-q', '-k', server.url('/'), server.url('/gone')] : ['crawl', '-q', '-k', '--ignore-robots', '--delay', '0', server.url('/')];
      const run = startCli(home, args);
      run.child.stdin!.end();
      readAll(run);
      await run.exit;
      const raw = Buffer.concat(run.stdout);
      for (const forbidden of ['\u009b', '\u202e', '\u2066']) expect(raw.includes(Buffer.from(forbidden, 'utf8'))).toBe(false);
      const text = raw.toString('utf8');
      expect(text).toContain('\\u009b31m\\u202eevil');
      expect(text).toContain('\\u009b2J\\u202e\\u2066 away');
      // and the escapes decode back to what the server sent
      const metas = lines(run).map((r) => r.meta);
      expect(metas).toContain(hostileMeta);
    });
  }
});

describe('interrupted bulk runs', () => {
  const scratch = scratchDirs();
  let server: GeminiTestServer;
  let home: string;
  /** Paths whose handler stalls after sending a header and 5 body bytes in one write (one TLS record). */
  let stallSlow = true;
  const slowSeen = new Set<string>();
  const slow: GeminiHandler = async (ctx) => {
    if (!stallSlow) return ctx.respond('20 text/gemini', 'hello, now whole\n');
    await ctx.write('20 text/gemini\r\nhello');
    slowSeen.add(ctx.url?.pathname ?? '');
  };
  beforeAll(async () => {
    requireBuild();
    home = scratch('gemfetch-bulk-home-');
    server = await startGeminiServer({
      handler: routes({
        '/': respondWith('20 text/gemini', '=> /slow1\n=> /slow2\n'),
        '/fast1': respondWith('20 text/plain', 'a'),
        '/fast2': respondWith('20 text/plain', 'b'),
        '/fast3': respondWith('20 text/plain', 'c'),
        '/fast4': respondWith('20 text/plain', 'd'),
        '/slow1': slow,
        '/slow2': slow,
        '/slow3': slow,
        '/robots.txt': respondWith('51 none'),
      }),
    });
  });
  afterAll(async () => server?.close());

  /** The body bytes a cut record may carry: the header and the 5 bytes arrive together, or not at all. */
  const expectCutShort = (r: Record<string, unknown>): void => {
    expect((r.error as { code: string }).code).toBe('ERR_ABORTED');
    expect(r.complete).toBe(false);
    if (r.status === null) expect(r.bytes).toBe(0);
    else expect([r.status, r.bytes, r.termination]).toEqual([20, 5, 'aborted']);
  };

  it('batch: SIGINT gives every URL read a record (ERR_ABORTED with the bytes received) and exit 130', async () => {
    stallSlow = true;
    slowSeen.clear();
    const paths = ['/fast1', '/fast2', '/slow1', '/slow2', '/slow3', '/fast3', '/fast4'];
    const run = startCli(home, ['batch', '-q', '-k', '--per-host', '3', ...paths.map((p) => server.url(p))]);
    run.child.stdin!.end();
    readAll(run);
    await until(() => slowSeen.size === 3 && lines(run).length === 2, 'three slow responses in flight', 20_000);
    await sleep(200); // let the child read the 5 bytes (the assertion holds either way)
    run.child.kill('SIGINT');
    const code = await run.exit;
    const records = lines(run);
    expect(code).toBe(130);
    expect(records.map((r) => r.url).sort()).toEqual(paths.map((p) => server.url(p)).sort());
    const byPath = new Map(records.map((r) => [new URL(r.url as string).pathname, r]));
    for (const p of ['/fast1', '/fast2']) expect(byPath.get(p)).toMatchObject({ complete: true, error: null });
    for (const p of ['/slow1', '/slow2', '/slow3']) expectCutShort(byPath.get(p)!);
    for (const p of ['/fast3', '/fast4']) expect(byPath.get(p)).toMatchObject({ bytes: 0, attempts: 0, error: { code: 'ERR_ABORTED' } });
  });

  it('crawl: SIGINT gives the fetches in flight a record, and a resumed crawl fetches them', async () => {
    stallSlow = true;
    slowSeen.clear();
    const dir = scratch('gemfetch-bulk-crawl-');
    const state = path.join(dir, 'state');
    const output = path.join(dir, 'out.ndjson');
    const args = ['crawl', '-q', '-k', '--ignore-robots', '--delay', '0', '--per-host', '2', '--state', state, '--output', output, server.url('/')];
    const first = startCli(home, args);
    first.child.stdin!.end();
    readAll(first);
    await until(() => slowSeen.size === 2, 'two slow responses in flight', 20_000);
    await sleep(200);
    first.child.kill('SIGINT');
    expect(await first.exit).toBe(130);
    const cut = fs.readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const cutByPath = new Map(cut.map((r) => [new URL(r.url as string).pathname, r]));
    expect([...cutByPath.keys()].sort()).toEqual(['/', '/slow1', '/slow2']);
    expect(cut).toHaveLength(3);
    expectCutShort(cutByPath.get('/slow1')!);
    expectCutShort(cutByPath.get('/slow2')!);

    stallSlow = false;
    const requestsBefore = server.requests.length;
    const second = startCli(home, args);
    second.child.stdin!.end();
    readAll(second);
    expect(await second.exit).toBe(0);
    const again = server.requests.slice(requestsBefore).map((r) => new URL(r).pathname).sort();
    expect(again).toEqual(['/slow1', '/slow2']); // the cut ones, and nothing recorded before
    const all = fs.readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(all).toHaveLength(5);
    const whole = all.filter((r) => r.error === null).map((r) => new URL(r.url as string).pathname).sort();
    expect(whole).toEqual(['/', '/slow1', '/slow2']);
  });
});
