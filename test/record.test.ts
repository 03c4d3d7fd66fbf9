/**
 * fetchToRecord over real loopback sockets: the fields of a record for a
 * complete response, a cut one, a redirect, and a failure; the sink and the
 * hash see exactly the body bytes.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Client, type RequestOptions } from '../src/net/client.js';
import { fetchToRecord, type FetchRecord } from '../src/net/record.js';
import type { StreamingResponse } from '../src/net/response.js';
import { bigBody, bigBodyPattern, redirect, respondWith, routes } from './support/gemini-server.js';
import { connectionsClosed, INSECURE_OPTIONS, perTestCleanup } from './support/harness.js';

const { serve } = perTestCleanup();
const client = new Client(INSECURE_OPTIONS);
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** A slow Writable with a tiny buffer, so fetchToRecord must wait for 'drain'. */
function slowSink(): { sink: Writable; received: () => Buffer } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      setImmediate(callback);
    },
  });
  return { sink, received: () => Buffer.concat(chunks) };
}

function expectTimings(record: FetchRecord): void {
  expect(record.timings).not.toBeNull();
  const t = record.timings!;
  for (const value of [t.connect, t.secure, t.header, t.total]) {
    expect(typeof value).toBe('number');
    expect(value).toBeGreaterThanOrEqual(0);
  }
  expect(t.secure).toBeGreaterThanOrEqual(t.connect);
  expect(t.header).toBeGreaterThanOrEqual(t.secure);
  expect(t.total!).toBeGreaterThanOrEqual(t.header);
}

describe('fetchToRecord', () => {
  it('records a complete response', async () => {
    const body = '# Title\n=> /next Next\n';
    const server = await serve(respondWith('20 text/gemini; lang=en', body));
    const record = await fetchToRecord(client, server.url('/page'));
    expect(record).toMatchObject({
      url: server.url('/page'),
      finalUrl: server.url('/page'),
      status: 20,
      meta: 'text/gemini; lang=en',
      mimeType: 'text/gemini',
      complete: true,
      termination: 'close_notify',
      bytes: Buffer.byteLength(body),
      sha256: sha256(body),
      redirects: [],
      redirectNotFollowed: null,
      timeout: null,
      error: null,
    });
    expect(record.tls).toEqual({
      protocol: 'TLSv1.3',
      cipher: expect.stringMatching(/^TLS_/),
      fingerprint: server.cert.fingerprint,
      trust: 'insecure',
      resumed: expect.any(Boolean),
    });
    expectTimings(record);
    expect(JSON.parse(JSON.stringify(record))).toEqual(record); // plain JSON, every field present
    expect(Object.keys(record).sort()).toEqual(
      [
        'url', 'finalUrl', 'status', 'meta', 'mimeType', 'complete', 'termination', 'bytes', 'sha256',
        'redirects', 'redirectNotFollowed', 'tls', 'identity', 'timings', 'timeout', 'error',
      ].sort(),
    );
  });

  it('streams the exact bytes to the sink (with backpressure) and hashes them', async () => {
    const size = 1024 * 1024 + 7;
    const server = await serve((ctx) => bigBody(ctx, size));
    const { sink, received } = slowSink();
    const chunks: number[] = [];
    let header: StreamingResponse | undefined;
    const record = await fetchToRecord(client, server.url(), {
      sink,
      onChunk: (chunk) => chunks.push(chunk.length),
      onHeader: (response) => (header = response),
    });
    const expected = bigBodyPattern(size);
    expect(received().equals(expected)).toBe(true);
    expect(record.sha256).toBe(sha256(expected));
    expect(record.bytes).toBe(size);
    expect(record.complete).toBe(true);
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(size);
    expect(header?.status).toBe(20);
    expect(sink.writableEnded).toBe(false); // left open for the caller
  });

  it('records a response cut without close_notify', async () => {
    const server = await serve(respondWith('20 text/plain', 'partial', 'fin'));
    const record = await fetchToRecord(client, server.url());
    expect(record).toMatchObject({ status: 20, complete: false, termination: 'tcp_fin', bytes: 7, sha256: sha256('partial'), timeout: null, error: null });
  });

  it('records which timeout ended a response', async () => {
    const server = await serve(respondWith('20 text/plain', 'stalled', 'none'));
    const record = await fetchToRecord(client, server.url(), { idleTimeout: 100 });
    expect(record).toMatchObject({ complete: false, termination: 'timeout', timeout: 'idle', bytes: 7, sha256: sha256('stalled') });
  });

  it('records a size limit', async () => {
    const server = await serve((ctx) => bigBody(ctx, 100_000));
    const record = await fetchToRecord(client, server.url(), { maxBytes: 500 });
    expect(record).toMatchObject({ complete: false, termination: 'size_limit', bytes: 500, sha256: sha256(bigBodyPattern(500)) });
  });

  it('records redirects followed and not followed', async () => {
    const server = await serve(routes({ '/a': redirect('/b'), '/b': respondWith('20 text/plain', 'b'), '/out': redirect('https://example.org/') }));
    const followed = await fetchToRecord(client, server.url('/a'));
    expect(followed).toMatchObject({ url: server.url('/a'), finalUrl: server.url('/b'), redirects: [server.url('/a')], status: 20 });
    const stopped = await fetchToRecord(client, server.url('/out'));
    expect(stopped).toMatchObject({
      status: 30,
      bytes: 0,
      sha256: sha256(''),
      redirectNotFollowed: { target: 'https://example.org/', reason: 'other-scheme' },
      complete: true,
    });
  });

  it('records an error with its code and message, and null response fields', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const url = `gemini://127.0.0.1:${port}/`;
    const record = await fetchToRecord(client, url);
    expect(record).toEqual({
      url,
      finalUrl: null,
      status: null,
      meta: null,
      mimeType: null,
      complete: false,
      termination: null,
      bytes: 0,
      sha256: null,
      redirects: [],
      redirectNotFollowed: null,
      tls: null,
      identity: null,
      timings: null,
      timeout: null,
      error: { code: 'ERR_CONNECT', message: expect.stringContaining(`127.0.0.1:${port}`) },
    });
  });

  it('records the chain of a redirect error', async () => {
    const server = await serve(routes({ '/a': redirect('/b'), '/b': redirect('/a') }));
    const record = await fetchToRecord(client, server.url('/a'));
    expect(record.error?.code).toBe('ERR_REDIRECT_LOOP');
    expect(record.redirects).toEqual([server.url('/a'), server.url('/b')]);
  });

  it('records URL errors and unexpected errors without rejecting', async () => {
    expect((await fetchToRecord(client, 'https://example.org/')).error?.code).toBe('ERR_INVALID_URL');
    expect((await fetchToRecord(client, 42 as never)).error?.code).toBe('ERR_INVALID_URL');
    const broken = { request: () => Promise.reject(new TypeError('boom')) } as unknown as Client;
    expect((await fetchToRecord(broken, 'gemini://example.org/')).error).toEqual({ code: 'ERR_INTERNAL', message: 'boom' });
  });

  it('rejects (and closes the connection) when the sink closes mid-body instead of hanging', async () => {
    const server = await serve((ctx) => bigBody(ctx, 4 * 1024 * 1024));
    const sink = new Writable({
      highWaterMark: 1024,
      write(_chunk, _encoding, callback) {
        setTimeout(callback, 5);
      },
    });
    sink.on('error', () => {});
    setTimeout(() => sink.destroy(), 30);
    await expect(fetchToRecord(client, server.url(), { sink })).rejects.toThrow();
    await connectionsClosed(server);
  });

  /** No limit of ours may end these responses: only the fix under test can. */
  const noLimits: RequestOptions = { idleTimeout: 0, totalTimeout: 0 };

  it('rejects at once for a sink destroyed before the fetch (a destroyed sink never drains)', async () => {
    const server = await serve((ctx) => bigBody(ctx, 1024 * 1024, 'none'));
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    sink.destroy();
    await expect(fetchToRecord(client, server.url(), { ...noLimits, sink })).rejects.toThrow(/destroyed/);
    await connectionsClosed(server);
  });

  it('rejects with the error of a sink that failed while writes returned true, without its own error listener', async () => {
    // The body arrives in pieces; the sink fails on its 2nd write, asynchronously, then the server stalls.
    const server = await serve(async (ctx) => {
      await ctx.write('20 text/plain\r\n');
      for (let i = 0; i < 4; i++) {
        await ctx.write('x'.repeat(1000));
        await sleep(20);
      }
    });
    let writes = 0;
    const sink = new Writable({
      highWaterMark: 1 << 20,
      write(_chunk, _encoding, callback) {
        writes++;
        if (writes === 2) setImmediate(() => callback(new Error('disk full')));
        else callback();
      },
    });
    await expect(fetchToRecord(client, server.url(), { ...noLimits, sink })).rejects.toThrow('disk full');
    expect(sink.destroyed).toBe(true);
    await connectionsClosed(server);
    expect(sink.listenerCount('error')).toBe(0); // nothing of ours left behind
  });

  it('rejects when the caller ends the sink mid-body', async () => {
    const server = await serve((ctx) => bigBody(ctx, 1024 * 1024, 'none'));
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    let chunks = 0;
    const record = fetchToRecord(client, server.url(), {
      ...noLimits,
      sink,
      onChunk: () => {
        if (++chunks === 1) sink.end();
      },
    });
    await expect(record).rejects.toThrow(/ended/);
    await connectionsClosed(server);
  });

  it('a sink failure while the server stalls ends the fetch at once, without waiting for more body', async () => {
    const server = await serve(respondWith('20 text/plain', 'some bytes', 'none'));
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    let response: StreamingResponse | undefined;
    const record = fetchToRecord(client, server.url(), {
      ...noLimits,
      sink,
      onHeader: (r) => (response = r),
      onChunk: () => setTimeout(() => sink.destroy(new Error('gone')), 20),
    });
    await expect(record).rejects.toThrow('gone');
    // The test server keeps a stalled connection half-open after our FIN: check our side instead.
    expect(await response!.done).toMatchObject({ termination: 'aborted', bytes: 10 });
  });

  it('a sink is not needed (and may be closed) for a response without a body', async () => {
    const server = await serve(respondWith('51 Not found'));
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    sink.destroy();
    const record = await fetchToRecord(client, server.url(), { sink });
    expect(record).toMatchObject({ status: 51, complete: true, bytes: 0 });
  });

  it('rejects and closes the connection when onHeader throws', async () => {
    const server = await serve((ctx) => bigBody(ctx, 1024 * 1024, 'none'));
    const failure = new Error('callback failed');
    await expect(
      fetchToRecord(client, server.url(), {
        ...noLimits,
        onHeader: () => {
          throw failure;
        },
      }),
    ).rejects.toBe(failure);
    await connectionsClosed(server);
  });

  it('rejects and closes the connection when onChunk throws', async () => {
    const server = await serve((ctx) => bigBody(ctx, 1024 * 1024, 'none'));
    await expect(
      fetchToRecord(client, server.url(), {
        ...noLimits,
        onChunk: () => {
          throw new Error('chunk callback failed');
        },
      }),
    ).rejects.toThrow('chunk callback failed');
    await connectionsClosed(server);
  });
});
