/**
 * Client-level limits over real loopback sockets: every timeout, the body
 * limit, aborts, the header length limit, connection and DNS failures, and
 * option validation.
 */
import { getEventListeners } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Client, type RequestOptions } from '../src/net/client.js';
import { GeminiError, TimeoutError } from '../src/errors.js';
import {
  bigBody,
  bigBodyPattern,
  dribble,
  respondWith,
  sendRaw,
  stall,
} from './support/gemini-server.js';
import { INSECURE_OPTIONS, perTestCleanup, rejection, until } from './support/harness.js';

const { serve, defer } = perTestCleanup();
const client = new Client(INSECURE_OPTIONS);

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A listener whose accept queue is full, so the kernel drops further SYNs and
 * `connect()` hangs. A worker thread listens with backlog 1 and then blocks
 * its event loop (it never accepts); we fill the queue with idle connections.
 */
async function fullBacklogPort(): Promise<number> {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const server = require('node:net').createServer();
     server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
       parentPort.postMessage(server.address().port);
       while (Atomics.load(workerData, 0) === 0) Atomics.wait(workerData, 0, 0, 20);
       process.exit(0);
     });`,
    { eval: true, workerData: flag },
  );
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const fillers: net.Socket[] = [];
  defer(async () => {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    for (const socket of fillers) socket.destroy();
    await exited;
  });
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  for (let i = 0; i < 16; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 200);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!connected) return port; // the queue is full: further connects hang
  }
  throw new Error('could not fill the accept queue of the blocked listener');
}

describe('timeouts', () => {
  it('connect: a listener that never accepts (full accept queue) ends in ERR_TIMEOUT phase connect', async () => {
    const port = await fullBacklogPort();
    const err = await rejection(client.fetch(`gemini://127.0.0.1:${port}/`, { connectTimeout: 150 }));
    expect(err.code).toBe('ERR_TIMEOUT');
    expect((err as TimeoutError).phase).toBe('connect');
    expect((err as TimeoutError).timeoutMs).toBe(150);
  });

  it('handshake: a TCP server that accepts and never speaks TLS ends in ERR_TIMEOUT phase handshake', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    defer(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const { port } = server.address() as net.AddressInfo;
    const err = await rejection(client.fetch(`gemini://127.0.0.1:${port}/`, { handshakeTimeout: 150 }));
    expect(err.code).toBe('ERR_TIMEOUT');
    expect((err as TimeoutError).phase).toBe('handshake');
    expect(sockets.length).toBe(1);
  });

  it('header: a server that reads the request and never answers ends in ERR_TIMEOUT phase header', async () => {
    const server = await serve(stall());
    const err = await rejection(client.fetch(server.url('/stall'), { headerTimeout: 150 }));
    expect(err.code).toBe('ERR_TIMEOUT');
    expect((err as TimeoutError).phase).toBe('header');
    expect(server.requests).toEqual([server.url('/stall')]);
  });

  it('header: a header dribbled slower than the limit ends in ERR_TIMEOUT phase header', async () => {
    const server = await serve((ctx) => dribble(ctx, '20 text/plain\r\nbody', 40));
    const err = await rejection(client.fetch(server.url(), { headerTimeout: 200 }));
    expect(err.code).toBe('ERR_TIMEOUT');
    expect((err as TimeoutError).phase).toBe('header');
  });

  it('idle: a stall mid-body ends the response as timeout/idle, keeping the bytes', async () => {
    const server = await serve(respondWith('20 text/plain', 'first part', 'none'));
    const res = await client.fetch(server.url(), { idleTimeout: 150 });
    expect(res.status).toBe(20);
    expect(res.complete).toBe(false);
    expect(res.termination).toBe('timeout');
    expect(res.completion.timeout).toBe('idle');
    expect(res.body.toString()).toBe('first part');
    expect(res.completion.bytes).toBe(10);
  });

  it('header: a header that arrived while the event loop was busy counts, although the limit ran out meanwhile', async () => {
    const server = await serve((ctx) => {
      void ctx.write('20 text/plain\r\nin time');
      const busyUntil = performance.now() + 400; // the client's header timer is overdue when the loop runs again
      while (performance.now() < busyUntil);
      ctx.end('close_notify');
    });
    const res = await client.fetch(server.url(), { headerTimeout: 100 });
    expect(res.status).toBe(20);
    expect(res.body.toString()).toBe('in time');
  });

  it('idle: bytes that arrived while the event loop was busy count, although the limit ran out meanwhile', async () => {
    // A busy machine (here: this process, busy on purpose) can run a timer whose limit has passed
    // before reading bytes that arrived in time. Those bytes are read before the limit is judged.
    let sawFirst!: () => void;
    const firstSeen = new Promise<void>((resolve) => (sawFirst = resolve));
    const server = await serve(async (ctx) => {
      await ctx.write('20 text/plain\r\nfirst');
      await firstSeen;
      void ctx.write(' second');
      const busyUntil = performance.now() + 400; // four idle limits: the client's timer is overdue when the loop runs again
      while (performance.now() < busyUntil);
    });
    const res = await client.request(server.url(), { idleTimeout: 100, totalTimeout: 10_000 });
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) {
      chunks.push(chunk as Buffer);
      if (chunks.length === 1) sawFirst();
    }
    const done = await res.done;
    expect(done.termination).toBe('timeout'); // the server does stall after ' second'
    expect(Buffer.concat(chunks).toString()).toBe('first second');
  });

  it('idle: the clock is stopped while the consumer applies backpressure, and runs again afterwards', async () => {
    const size = 2 * 1024 * 1024;
    const server = await serve((ctx) => bigBody(ctx, size, 'none'));
    const res = await client.request(server.url(), { idleTimeout: 150, totalTimeout: 10_000 });
    const chunks: Buffer[] = [];
    let paused = false;
    for await (const chunk of res.body) {
      chunks.push(chunk as Buffer);
      if (!paused) {
        paused = true;
        await sleep(400); // far longer than idleTimeout, while the socket is paused
      }
    }
    const done = await res.done;
    expect(done.termination).toBe('timeout');
    expect(done.timeout).toBe('idle'); // not 'total': the idle timer works after the pause
    expect(done.bytes).toBe(size);
    expect(Buffer.concat(chunks).equals(bigBodyPattern(size))).toBe(true);
  });

  it('total: a body dribbled past the limit ends as timeout/total, keeping a prefix', async () => {
    const data = Buffer.from('x'.repeat(200));
    const server = await serve(async (ctx) => {
      await ctx.write('20 text/plain\r\n');
      await dribble(ctx, data, 20, { chunkSize: 2 });
    });
    const res = await client.fetch(server.url(), { totalTimeout: 300, idleTimeout: 5000 });
    expect(res.complete).toBe(false);
    expect(res.termination).toBe('timeout');
    expect(res.completion.timeout).toBe('total');
    expect(res.body.length).toBeGreaterThan(0);
    expect(res.body.length).toBeLessThan(data.length);
    expect(res.body.equals(data.subarray(0, res.body.length))).toBe(true);
  });

  it('total: firing before the header rejects with ERR_TIMEOUT phase total', async () => {
    const server = await serve(stall());
    const err = await rejection(client.fetch(server.url(), { totalTimeout: 150, headerTimeout: 5000 }));
    expect(err.code).toBe('ERR_TIMEOUT');
    expect((err as TimeoutError).phase).toBe('total');
  });

  it('total: bounds the connection phase too (a handshake that never finishes), leaving nothing open', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => {});
      socket.resume(); // read (and ignore) the ClientHello, so the client's close is seen
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    defer(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const { port } = server.address() as net.AddressInfo;
    const controller = new AbortController();
    const err = await rejection(
      client.fetch(`gemini://127.0.0.1:${port}/`, { connectTimeout: 5000, handshakeTimeout: 5000, totalTimeout: 150, signal: controller.signal }),
    );
    expect(err.code).toBe('ERR_TIMEOUT');
    expect((err as TimeoutError).phase).toBe('total');
    await until(() => sockets.length === 1 && sockets[0]!.closed, 'the server to see the connection closed');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('the signal keeps no listener of ours once requests have ended', async () => {
    const server = await serve(respondWith('20 text/plain', 'ok'));
    const controller = new AbortController();
    for (let i = 0; i < 3; i++) {
      const res = await client.fetch(server.url(), { signal: controller.signal });
      expect(res.complete).toBe(true);
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('total: covers a whole redirect chain, not each hop', async () => {
    const server = await serve(async (ctx) => {
      await sleep(80);
      const n = Number(ctx.url?.pathname.slice(1) || 0);
      await ctx.respond(n < 4 ? `30 /${n + 1}` : '20 text/plain');
    });
    const err = await rejection(client.fetch(server.url('/0'), { totalTimeout: 250 }));
    expect(err.code).toBe('ERR_TIMEOUT');
    expect((err as TimeoutError).phase).toBe('total');
    expect((err as TimeoutError).timeoutMs).toBe(250);
    expect(server.requests.length).toBeLessThan(5);
  });

  it('0 and Infinity disable a timeout (they do not fire at once)', async () => {
    const server = await serve(respondWith('20 text/plain', 'ok'));
    for (const value of [0, Infinity]) {
      const res = await client.fetch(server.url(), {
        connectTimeout: value,
        handshakeTimeout: value,
        headerTimeout: value,
        idleTimeout: value,
        totalTimeout: value,
      });
      expect(res.complete).toBe(true);
      expect(res.body.toString()).toBe('ok');
    }
  });
});

describe('maxBytes', () => {
  it('a longer body ends as size_limit with exactly maxBytes bytes kept', async () => {
    const server = await serve((ctx) => bigBody(ctx, 200_000, 'close_notify'));
    const res = await client.fetch(server.url(), { maxBytes: 1000 });
    expect(res.complete).toBe(false);
    expect(res.termination).toBe('size_limit');
    expect(res.body.length).toBe(1000);
    expect(res.body.equals(bigBodyPattern(1000))).toBe(true);
    expect(res.completion.bytes).toBe(1000);
  });

  it('a body of exactly maxBytes bytes followed by close_notify is complete', async () => {
    const body = bigBodyPattern(1000);
    const server = await serve(respondWith('20 application/octet-stream', body));
    const res = await client.fetch(server.url(), { maxBytes: 1000 });
    expect(res.termination).toBe('close_notify');
    expect(res.complete).toBe(true);
    expect(res.body.equals(body)).toBe(true);
  });

  it('bytes sent after a non-2x header are dropped but still bounded by maxBytes', async () => {
    const server = await serve((ctx) => bigBody(ctx, 100_000, 'none', '51 Not found'));
    const res = await client.fetch(server.url(), { maxBytes: 1000, idleTimeout: 5000 });
    expect(res).toMatchObject({ status: 51, complete: false, termination: 'size_limit' });
    expect(res.body.length).toBe(0);
    expect(res.completion.bytes).toBe(0);
  });

  it('fetch has a finite default limit even when maxBytes is passed as undefined', async () => {
    const server = await serve((ctx) => bigBody(ctx, 100_000));
    const res = await client.fetch(server.url(), { maxBytes: undefined });
    expect(res.complete).toBe(true);
    expect(res.body.length).toBe(100_000);
  });
});

describe('aborts', () => {
  it('an AbortSignal fired before the header rejects with ERR_ABORTED', async () => {
    const server = await serve(stall());
    const controller = new AbortController();
    const pending = client.fetch(server.url(), { signal: controller.signal });
    await until(() => server.requests.length === 1, 'the request to arrive');
    controller.abort();
    const err = await rejection(pending);
    expect(err.code).toBe('ERR_ABORTED');
  });

  it('an already aborted signal rejects with ERR_ABORTED without connecting', async () => {
    const server = await serve(respondWith('20 text/plain', 'never'));
    const err = await rejection(client.fetch(server.url(), { signal: AbortSignal.abort() }));
    expect(err.code).toBe('ERR_ABORTED');
    await sleep(20);
    expect(server.connectionCount).toBe(0);
  });

  it('an AbortSignal fired mid-body ends the response as aborted, keeping the bytes', async () => {
    const server = await serve(respondWith('20 text/plain', 'hello', 'none'));
    const controller = new AbortController();
    const res = await client.request(server.url(), { signal: controller.signal, idleTimeout: 5000 });
    const chunks: Buffer[] = [];
    const reading = (async () => {
      for await (const chunk of res.body) chunks.push(chunk as Buffer);
    })();
    await until(() => Buffer.concat(chunks).length === 5, 'the body bytes');
    controller.abort();
    await reading;
    const done = await res.done;
    expect(done).toMatchObject({ complete: false, termination: 'aborted', bytes: 5 });
    expect(Buffer.concat(chunks).toString()).toBe('hello');
  });

  it('fetch with a signal fired mid-body resolves with termination aborted and the bytes so far', async () => {
    const server = await serve(respondWith('20 text/plain', 'partial', 'none'));
    const controller = new AbortController();
    const pending = client.fetch(server.url(), { signal: controller.signal, idleTimeout: 5000 });
    await until(() => server.requests.length === 1, 'the request to arrive');
    await sleep(50);
    controller.abort();
    const res = await pending;
    expect(res.termination).toBe('aborted');
    expect(res.complete).toBe(false);
    expect(res.body.toString()).toBe('partial');
  });

  it('the consumer destroying the body ends the response as aborted and closes the connection', async () => {
    const server = await serve((ctx) => bigBody(ctx, 4 * 1024 * 1024));
    const res = await client.request(server.url());
    for await (const chunk of res.body) {
      expect((chunk as Buffer).length).toBeGreaterThan(0);
      break; // for-await destroys the stream
    }
    const done = await res.done;
    expect(done.complete).toBe(false);
    expect(done.termination).toBe('aborted');
    expect(done.bytes).toBeLessThan(4 * 1024 * 1024);
    await until(() => server.activeConnections === 0, 'the server to see the connection close');
  });

  it('cancel() ends the response as aborted', async () => {
    const server = await serve(respondWith('20 text/plain', 'abc', 'none'));
    const res = await client.request(server.url(), { idleTimeout: 5000 });
    res.cancel();
    const done = await res.done;
    expect(done.termination).toBe('aborted');
    expect(done.complete).toBe(false);
  });
});

describe('header length limit', () => {
  it('rejects a header line over 1024+3 bytes with ERR_HEADER_TOO_LONG', async () => {
    const server = await serve(sendRaw(`20 ${'a'.repeat(2000)}\r\n`));
    const err = await rejection(client.fetch(server.url()));
    expect(err.code).toBe('ERR_HEADER_TOO_LONG');
  });

  it('accepts a META of exactly 1024 bytes and rejects 1025', async () => {
    const ok = await serve(sendRaw(`20 text/plain;x=${'a'.repeat(1024 - 13)}\r\nbody`));
    const res = await client.fetch(ok.url());
    expect(Buffer.byteLength(res.meta)).toBe(1024);
    expect(res.body.toString()).toBe('body');
    const tooLong = await serve(sendRaw(`20 text/plain;x=${'a'.repeat(1025 - 13)}\r\nbody`));
    expect((await rejection(client.fetch(tooLong.url()))).code).toBe('ERR_HEADER_TOO_LONG');
  });

  it('stops reading an endless header without LF soon after limit+CRLF bytes', async () => {
    const chunk = 100;
    let written = 0;
    const server = await serve(async (ctx) => {
      for (let i = 0; i < 100 && !ctx.closed; i++) {
        await ctx.write('a'.repeat(chunk)).catch(() => {});
        written += chunk;
        await sleep(3);
      }
    });
    const err = await rejection(client.fetch(server.url(), { headerTimeout: 5000 }));
    expect(err.code).toBe('ERR_HEADER_TOO_LONG');
    const seen = Number(/\((\d+) bytes\)/.exec(err.message)?.[1]);
    expect(seen).toBeGreaterThanOrEqual(1027);
    expect(seen).toBeLessThan(1027 + chunk); // failed on the first chunk that crossed the limit
    await until(() => server.activeConnections === 0, 'the connection to close');
    expect(written).toBeLessThan(100 * chunk);
  });
});

describe('connection failures', () => {
  it('a refused connection rejects with ERR_CONNECT (ECONNREFUSED)', async () => {
    const port = await closedPort();
    const err = await rejection(client.fetch(`gemini://127.0.0.1:${port}/`));
    expect(err.code).toBe('ERR_CONNECT');
    expect((err as GeminiError & { syscallCode?: string }).syscallCode).toBe('ECONNREFUSED');
  });

  it('an unknown host rejects with ERR_DNS', async () => {
    const err = await rejection(client.fetch('gemini://nonexistent.invalid/', { connectTimeout: 3000 }));
    expect(['ERR_DNS', 'ERR_TIMEOUT']).toContain(err.code); // ERR_TIMEOUT only if the resolver hangs
    if (err.code === 'ERR_DNS') expect(err.message).toContain('nonexistent.invalid');
  });

  it('a server closing before any header rejects with ERR_CONNECTION_CLOSED', async () => {
    const server = await serve(sendRaw('', 'close_notify'));
    expect((await rejection(client.fetch(server.url()))).code).toBe('ERR_CONNECTION_CLOSED');
  });
});

describe('option validation', () => {
  it('rejects invalid options with ERR_INVALID_OPTION, in the constructor and per request', async () => {
    const bad: RequestOptions[] = [
      { connectTimeout: -1 },
      { idleTimeout: Number.NaN },
      { maxBytes: -5 },
      { maxRedirects: 1.5 },
      { trust: 'bogus' as never },
      { cert: 'PEM' },
      { key: 'PEM' },
      { family: 5 as never },
      { crossHostRedirects: 'yes' as never },
      { input: 42 as never },
    ];
    for (const options of bad) {
      expect(() => new Client(options), JSON.stringify(options)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
      const err = await rejection(client.fetch('gemini://127.0.0.1:1/', options));
      expect(err.code, JSON.stringify(options)).toBe('ERR_INVALID_OPTION');
    }
  });
});

describe('connection closing', () => {
  it('`closed` resolves once the TCP connection is gone, after `done`', async () => {
    const server = await serve(respondWith('20 text/plain', 'bye'));
    const response = await client.request(server.url('/'));
    response.body.resume();
    expect((await response.done).termination).toBe('close_notify');
    await response.closed;
    await until(() => server.activeConnections === 0, 'the server to see the connection closed');
  });

  it('`closed` resolves within about a second when the server keeps TCP open after close_notify', async () => {
    const server = await serve(respondWith('20 text/plain', 'kept open', 'close_notify_keep_open'));
    const response = await client.request(server.url('/'));
    response.body.resume();
    expect((await response.done).complete).toBe(true);
    const outcome = await Promise.race([response.closed.then(() => 'closed'), sleep(3000).then(() => 'still open')]);
    expect(outcome).toBe('closed');
  });
});
