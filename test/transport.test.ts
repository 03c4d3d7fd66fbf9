/**
 * The close_notify verdict table of shared/notes/close-notify-node.md, row by
 * row, on TLS 1.2 and TLS 1.3, at two levels:
 * (a) the transport itself (`connectTls`: read the TLS socket to its end and
 *     check `connection.end` and the bytes), and
 * (b) the public API (`Client.fetch` / `Client.request`: `complete`,
 *     `termination`, body bytes, `done.bytes`).
 * The whole project rests on these verdicts; CI runs this file on every
 * supported Node major.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GeminiError } from '../src/errors.js';
import { connectTls, isResetError, isTlsProtocolError, type StreamEnd, type TlsConnection } from '../src/net/transport.js';
import {
  bigBody,
  bigBodyPattern,
  respondWith,
  routes,
  startGeminiServer,
  type GeminiTestServer,
  type RequestContext,
} from './support/gemini-server.js';
import { clientForVersion } from './support/harness.js';
import { startTlsProxy, type TlsProxy } from './support/tls-proxy.js';

const HEADER = '20 text/plain';
const BODY = bigBodyPattern(3000); // spans one record, several TCP reads are possible
const BIG = 8 * 1024 * 1024;
const PAUSE_MS = 700;
const TEST_TIMEOUT = 5_000;
const BIG_TEST_TIMEOUT = 15_000;

// ---------------------------------------------------------------- helpers

interface Gate {
  promise: Promise<void>;
  open(): void;
}

function newGate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** The gate server handlers wait on (tests run one at a time within this file). */
let gate = newGate();
/** The server side of the most recent request. */
let lastServerCtx: RequestContext | undefined;

/** Waits for the test to open the gate; gives up after 3 s so a broken test cannot hang the server. */
async function waitForGate(): Promise<void> {
  await Promise.race([gate.promise, sleep(3000, undefined, { ref: false })]);
}

/** Waits (bounded) until everything written to the server's TCP socket has been handed to the kernel. */
async function rawFlushed(ctx: RequestContext, before: number): Promise<void> {
  for (let i = 0; i < 2000 && (ctx.raw.bytesWritten <= before || ctx.raw.writableLength > 0); i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** close_notify, then (once the alert reached the kernel, and the gate is open when asked) RST. */
async function closeNotifyThenReset(ctx: RequestContext, afterGate = false): Promise<void> {
  // Without this, Nagle holds the small alert back behind unacknowledged data and the RST discards it.
  ctx.raw.setNoDelay(true);
  const before = ctx.raw.bytesWritten;
  ctx.closeNotifyKeepOpen();
  await rawFlushed(ctx, before);
  if (afterGate) await waitForGate();
  ctx.reset();
}

/** Bodies read by TLS before the consumer looks: small enough not to fill TLS's buffer, or past the body stream's. */
const UNREAD_SMALL = 8000;
const UNREAD_BIG = 512 * 1024 + 8000;

/**
 * Issue 9: a 5 MB body, then an RST (no close_notify) sent while the consumer
 * is paused with this much of the body still unread. It is more than our own
 * buffers take in (TLS, relay, the API's body stream), so the rest waits in the
 * kernel when the RST lands: Linux then hands over those bytes and a plain EOF,
 * keeping the reset as a pending socket error.
 */
const SLOW_RESET_BODY = 5 * 1024 * 1024;
const SLOW_RESET_UNREAD = { transport: 256 * 1024, api: 1024 * 1024 };

/** The slow consumer of issue 9: paused with `unread` bytes to go; the server resets during the pause. */
const slowResetPauses = (unread: number): Pause[] => [{ at: SLOW_RESET_BODY - unread, ms: 700, openGateAfterMs: 300 }];

/** Header and `size` bytes of the pattern, then (once flushed) close_notify or nothing, then an RST 50 ms later. */
async function bodyThenLateReset(ctx: RequestContext, size: number, closeNotify: boolean): Promise<void> {
  ctx.raw.setNoDelay(true);
  await ctx.write(`${HEADER}\r\n`);
  for (let offset = 0; offset < size; offset += 10_000) await ctx.write(bigBodyPattern(Math.min(10_000, size - offset), offset));
  const before = ctx.raw.bytesWritten;
  if (closeNotify) ctx.closeNotifyKeepOpen();
  await rawFlushed(ctx, before);
  await sleep(50);
  ctx.reset();
}

function handlers(): Parameters<typeof routes>[0] {
  const remember = (ctx: RequestContext): void => {
    lastServerCtx = ctx;
  };
  return {
    '/cn': (ctx) => (remember(ctx), ctx.respond(HEADER, BODY, 'close_notify')),
    '/cn-empty': (ctx) => (remember(ctx), ctx.respond(HEADER, '', 'close_notify')),
    '/cn-nothing': (ctx) => (remember(ctx), ctx.end('close_notify')),
    '/cn-open': (ctx) => (remember(ctx), ctx.respond(HEADER, BODY, 'close_notify_keep_open')),
    '/fin': (ctx) => (remember(ctx), ctx.respond(HEADER, BODY, 'fin')),
    '/reset': async (ctx) => {
      remember(ctx);
      await ctx.write(`${HEADER}\r\n`);
      await ctx.write(BODY);
      await waitForGate(); // the client has read every byte: the RST cannot take data with it
      ctx.reset();
    },
    '/cn-reset': async (ctx) => {
      remember(ctx);
      await ctx.write(`${HEADER}\r\n`);
      await ctx.write(BODY);
      await closeNotifyThenReset(ctx);
    },
    '/big-cn': (ctx) => (remember(ctx), bigBody(ctx, BIG, 'close_notify')),
    '/big-fin': (ctx) => (remember(ctx), bigBody(ctx, BIG, 'fin')),
    '/big-cn-reset': async (ctx) => {
      remember(ctx);
      await bigBody(ctx, BIG, 'none');
      await closeNotifyThenReset(ctx, true); // the consumer opens the gate: see bigBodyPauses
    },
    '/big-reset-slow': async (ctx) => {
      remember(ctx);
      ctx.raw.setNoDelay(true);
      await bigBody(ctx, SLOW_RESET_BODY, 'none');
      await rawFlushed(ctx, 0);
      await waitForGate(); // opened by the paused consumer: see slowResetPauses
      ctx.reset();
    },
    '/gated-cn': async (ctx) => {
      remember(ctx);
      await ctx.write(`${HEADER}\r\n`);
      await waitForGate();
      await ctx.write(BODY).catch(() => {});
      if (!ctx.closed) ctx.endWithCloseNotify();
    },
    '/cn-reset-unread': (ctx) => bodyThenLateReset(ctx, UNREAD_SMALL, true),
    '/big-cn-reset-unread': (ctx) => bodyThenLateReset(ctx, UNREAD_BIG, true),
    '/reset-unread': (ctx) => bodyThenLateReset(ctx, UNREAD_SMALL, false),
    '/51-cn': (ctx) => (remember(ctx), ctx.respond('51 Not found', '', 'close_notify')),
    '/51-fin': (ctx) => (remember(ctx), ctx.respond('51 Not found', '', 'fin')),
  };
}

/** What the transport saw: bytes, the verdict when 'end' fired, and how the socket finished. */
interface TransportResult {
  data: Buffer;
  /** `connection.end` at the moment 'end' fired (undefined when no 'end'). */
  endAtEndEvent: StreamEnd | undefined;
  /** `connection.end` once the socket closed. */
  end: StreamEnd | undefined;
  gotEnd: boolean;
  error: Error | undefined;
  /** Whether the client's TCP socket had seen the server's FIN when 'end' fired. */
  tcpEndedAtEndEvent: boolean | undefined;
}

/** A pause of the consumer: once `at` bytes have arrived, stop reading for `ms`. */
interface Pause {
  at: number;
  ms: number;
  /** Open the server's gate this long into the pause. */
  openGateAfterMs?: number;
}

interface ReadOptions {
  pauses?: readonly Pause[];
  /** Called once `count` bytes have arrived. */
  onBytes?: { count: number; call: () => void };
}

/** Tracks received bytes and applies {@link ReadOptions} to a pausable stream. */
function consumerControl(stream: { pause(): unknown; resume(): unknown }, options: ReadOptions): (chunkLength: number) => void {
  let received = 0;
  let onBytesCalled = false;
  const pending = [...(options.pauses ?? [])].sort((a, b) => a.at - b.at);
  return (chunkLength) => {
    received += chunkLength;
    if (options.onBytes && !onBytesCalled && received >= options.onBytes.count) {
      onBytesCalled = true;
      options.onBytes.call();
    }
    const pause = pending[0];
    if (pause && received >= pause.at) {
      pending.shift();
      stream.pause();
      if (pause.openGateAfterMs !== undefined) setTimeout(() => gate.open(), pause.openGateAfterMs);
      setTimeout(() => stream.resume(), pause.ms);
    }
  };
}

const totalPauseMs = (options: ReadOptions): number => (options.pauses ?? []).reduce((sum, pause) => sum + pause.ms, 0);

/** Reads a connection until 'close' (or 'end' followed by close), bounded by a 4 s guard. */
function readToEnd(connection: TlsConnection, options: ReadOptions = {}): Promise<TransportResult> {
  const socket = connection.socket;
  const chunks: Buffer[] = [];
  let received = 0;
  const control = consumerControl(socket, options);
  const result: TransportResult = {
    data: Buffer.alloc(0),
    endAtEndEvent: undefined,
    end: undefined,
    gotEnd: false,
    error: undefined,
    tcpEndedAtEndEvent: undefined,
  };
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => {
      connection.destroy();
      reject(new Error(`transport read did not finish (got ${received} bytes, end=${String(connection.end)})`));
    }, 4000 + totalPauseMs(options));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      control(chunk.length);
    });
    socket.on('end', () => {
      result.gotEnd = true;
      result.endAtEndEvent = connection.end;
      result.tcpEndedAtEndEvent = connection.raw.readableEnded;
    });
    socket.on('error', (err) => {
      result.error ??= err;
    });
    socket.on('close', () => {
      clearTimeout(guard);
      result.data = Buffer.concat(chunks);
      result.end = connection.end;
      resolve(result);
    });
  });
}


/** Reads a streaming body, optionally pausing it midway; returns the bytes. */
async function readBody(
  body: NodeJS.ReadableStream & { pause(): unknown; resume(): unknown },
  options: ReadOptions = {},
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const control = consumerControl(body, options);
  await new Promise<void>((resolve, reject) => {
    body.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      control(chunk.length);
    });
    body.on('end', () => resolve());
    body.on('error', reject);
  });
  return Buffer.concat(chunks);
}

/**
 * The consumer pauses midway for 700 ms. For close_notify + RST it pauses again
 * 256 KiB before the end and the server resets during that pause: the RST then
 * meets the alert still queued on our side (kernel, relay or TLS buffers). The
 * RST cannot be sent during the first pause: bytes still in the server's send
 * queue would be discarded by the kernel, a real truncation.
 */
function bigBodyPauses(path: string): Pause[] {
  const midway: Pause = { at: BIG / 2, ms: PAUSE_MS };
  if (path !== '/big-cn-reset') return [midway];
  return [midway, { at: BIG - 256 * 1024, ms: 300, openGateAfterMs: 200 }];
}

const expectedResponse = (body: Buffer | string = BODY): Buffer => Buffer.concat([Buffer.from(`${HEADER}\r\n`), Buffer.from(body)]);

/** Compares big buffers without dumping megabytes into a failure message. */
function expectSameBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  const firstDiff = actual.findIndex((byte, i) => byte !== expected[i]);
  expect(firstDiff).toBe(-1);
}

// ---------------------------------------------------------------- the table

describe.each([['TLSv1.2'], ['TLSv1.3']] as const)('close_notify detection over %s', (version) => {
  let server: GeminiTestServer;
  let coalescing: TlsProxy;
  let garbage: TlsProxy;
  const connections: TlsConnection[] = [];

  beforeAll(async () => {
    server = await startGeminiServer({ minVersion: version, maxVersion: version, handler: routes(handlers()) });
    coalescing = await startTlsProxy({ target: server, coalesceEnd: true });
    garbage = await startTlsProxy({
      target: server,
      // A well-formed application-data record header with junk behind it, then raw junk.
      appendAfterServerEnd: Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x20]), Buffer.alloc(32, 0xab), Buffer.from('garbage\r\n')]),
    });
  });
  afterAll(async () => {
    for (const connection of connections) connection.destroy();
    await Promise.all([server?.close(), coalescing?.close(), garbage?.close()]);
  });

  async function connect(port = server.port): Promise<TlsConnection> {
    const connection = await connectTls({
      host: '127.0.0.1',
      port,
      connectTimeout: 1000,
      handshakeTimeout: 1000,
      tlsOptions: { rejectUnauthorized: false, minVersion: version, maxVersion: version },
    });
    connections.push(connection);
    expect(connection.socket.getProtocol()).toBe(version);
    return connection;
  }

  /** (a) Sends a request straight through the transport and reads to the end. */
  async function viaTransport(path: string, options: ReadOptions & { port?: number } = {}): Promise<TransportResult> {
    const connection = await connect(options.port);
    connection.socket.write(`gemini://127.0.0.1:${options.port ?? server.port}${path}\r\n`);
    const result = await readToEnd(connection, options);
    connection.destroy();
    return result;
  }

  describe('(a) transport', () => {
    it('data, close_notify, FIN: close_notify, every byte', { timeout: TEST_TIMEOUT }, async () => {
      const result = await viaTransport('/cn');
      expect(result.gotEnd).toBe(true);
      expect(result.endAtEndEvent).toBe('close_notify');
      expect(result.end).toBe('close_notify');
      expect(result.error).toBeUndefined();
      expect(result.data.equals(expectedResponse())).toBe(true);
    });

    it('header only, close_notify, FIN: close_notify', { timeout: TEST_TIMEOUT }, async () => {
      const result = await viaTransport('/cn-empty');
      expect(result.endAtEndEvent).toBe('close_notify');
      expect(result.data.toString()).toBe(`${HEADER}\r\n`);
    });

    it('no byte at all, close_notify, FIN: close_notify', { timeout: TEST_TIMEOUT }, async () => {
      const result = await viaTransport('/cn-nothing');
      expect(result.endAtEndEvent).toBe('close_notify');
      expect(result.data.length).toBe(0);
    });

    it('close_notify with TCP left open: close_notify at once, before any FIN', { timeout: TEST_TIMEOUT }, async () => {
      const result = await viaTransport('/cn-open');
      expect(result.endAtEndEvent).toBe('close_notify');
      // The server never sends FIN before we close: 'end' came without it.
      expect(result.tcpEndedAtEndEvent).toBe(false);
      expect(result.data.equals(expectedResponse())).toBe(true);
    });

    it('data then FIN: tcp_fin, every byte', { timeout: TEST_TIMEOUT }, async () => {
      const result = await viaTransport('/fin');
      expect(result.gotEnd).toBe(true);
      expect(result.endAtEndEvent).toBe('tcp_fin');
      expect(result.end).toBe('tcp_fin');
      expect(result.data.equals(expectedResponse())).toBe(true);
    });

    it('data and FIN coalesced: tcp_fin', { timeout: TEST_TIMEOUT }, async () => {
      const result = await viaTransport('/fin', { port: coalescing.port });
      expect(result.endAtEndEvent).toBe('tcp_fin');
      expect(result.data.equals(expectedResponse())).toBe(true);
    });

    it('data, close_notify and FIN coalesced: close_notify', { timeout: TEST_TIMEOUT }, async () => {
      const result = await viaTransport('/cn', { port: coalescing.port });
      expect(result.endAtEndEvent).toBe('close_notify');
      expect(result.data.equals(expectedResponse())).toBe(true);
    });

    it('RST without close_notify: tcp_reset', { timeout: TEST_TIMEOUT }, async () => {
      gate = newGate();
      const result = await viaTransport('/reset', { onBytes: { count: expectedResponse().length, call: () => gate.open() } });
      expect(result.end).toBe('tcp_reset');
      if (result.gotEnd) expect(result.endAtEndEvent).toBe('tcp_reset');
      expect(result.data.equals(expectedResponse())).toBe(true);
    });

    it.each([
      ['/cn-reset-unread', 'close_notify'],
      ['/reset-unread', 'tcp_reset'],
    ] as const)('%s: the RST arrives while TLS holds bytes nobody has read yet: %s, every byte, then end', { timeout: TEST_TIMEOUT }, async (path, verdict) => {
      const connection = await connect();
      connection.socket.pause();
      connection.socket.write(server.url(path) + '\r\n');
      await sleep(300); // the body, the alert and the RST have all arrived by now
      connection.socket.resume();
      const result = await readToEnd(connection);
      expect(result.gotEnd).toBe(true);
      expect(result.endAtEndEvent).toBe(verdict);
      expectSameBytes(result.data, Buffer.concat([Buffer.from(`${HEADER}\r\n`), bigBodyPattern(UNREAD_SMALL)]));
    });

    it('close_notify then RST: close_notify', { timeout: TEST_TIMEOUT }, async () => {
      const result = await viaTransport('/cn-reset');
      expect(result.gotEnd).toBe(true);
      expect(result.endAtEndEvent).toBe('close_notify');
      expect(result.end).toBe('close_notify');
      if (result.error) expect(isResetError(result.error)).toBe(true);
      expect(result.data.equals(expectedResponse())).toBe(true);
    });

    it('garbage after close_notify: close_notify, garbage ignored', { timeout: TEST_TIMEOUT }, async () => {
      const result = await viaTransport('/cn', { port: garbage.port });
      expect(result.endAtEndEvent).toBe('close_notify');
      expect(result.end).toBe('close_notify');
      expect(result.error === undefined || !isTlsProtocolError(result.error)).toBe(true);
      expect(result.data.equals(expectedResponse())).toBe(true);
    });

    it('51 with close_notify / with FIN', { timeout: TEST_TIMEOUT }, async () => {
      const withAlert = await viaTransport('/51-cn');
      expect(withAlert.endAtEndEvent).toBe('close_notify');
      expect(withAlert.data.toString()).toBe('51 Not found\r\n');
      const withFin = await viaTransport('/51-fin');
      expect(withFin.endAtEndEvent).toBe('tcp_fin');
      expect(withFin.data.toString()).toBe('51 Not found\r\n');
    });

    describe.each([
      ['/big-cn', 'close_notify'],
      ['/big-fin', 'tcp_fin'],
      ['/big-cn-reset', 'close_notify'],
    ] as const)('8 MB to a consumer paused %s', (path, verdict) => {
      it(`${path}: ${verdict}, every byte in order`, { timeout: BIG_TEST_TIMEOUT }, async () => {
        gate = newGate();
        const header = Buffer.from('20 application/octet-stream\r\n');
        const result = await viaTransport(path, { pauses: bigBodyPauses(path) });
        expect(result.gotEnd).toBe(true);
        expect(result.endAtEndEvent).toBe(verdict);
        expect(result.end).toBe(verdict);
        expectSameBytes(result.data, Buffer.concat([header, bigBodyPattern(BIG)]));
      });
    });

    it('5 MB, RST while the consumer is paused (bytes still queued in the kernel): tcp_reset, every byte', { timeout: BIG_TEST_TIMEOUT }, async () => {
      gate = newGate();
      const result = await viaTransport('/big-reset-slow', { pauses: slowResetPauses(SLOW_RESET_UNREAD.transport) });
      expect(result.gotEnd).toBe(true);
      expect(result.endAtEndEvent).toBe('tcp_reset');
      expect(result.end).toBe('tcp_reset');
      expectSameBytes(result.data, Buffer.concat([Buffer.from('20 application/octet-stream\r\n'), bigBodyPattern(SLOW_RESET_BODY)]));
    });

    it('session resumption: resumed, verdicts unchanged', { timeout: TEST_TIMEOUT }, async () => {
      const first = await connect();
      expect(first.socket.isSessionReused()).toBe(false);
      // TLS 1.2 delivers the session during the handshake, TLS 1.3 sends tickets afterwards.
      let session: Buffer | undefined = version === 'TLSv1.2' ? first.socket.getSession() : undefined;
      first.socket.on('session', (ticket: Buffer) => {
        session = ticket;
      });
      first.socket.write(server.url('/cn') + '\r\n');
      expect((await readToEnd(first)).end).toBe('close_notify');
      expect(session).toBeDefined();
      for (const [path, verdict] of [['/cn', 'close_notify'], ['/fin', 'tcp_fin']] as const) {
        const connection = await connectTls({
          host: '127.0.0.1',
          port: server.port,
          connectTimeout: 1000,
          handshakeTimeout: 1000,
          tlsOptions: { minVersion: version, maxVersion: version, session },
        });
        connections.push(connection);
        expect(connection.socket.isSessionReused()).toBe(true);
        connection.socket.write(server.url(path) + '\r\n');
        const result = await readToEnd(connection);
        expect(result.endAtEndEvent).toBe(verdict);
        expect(result.data.equals(expectedResponse())).toBe(true);
      }
    });

    it('fails closed: a connection we destroy never reports close_notify', { timeout: TEST_TIMEOUT }, async () => {
      gate = newGate();
      const connection = await connect();
      const events: string[] = [];
      connection.socket.on('end', () => events.push('end'));
      connection.socket.on('data', () => events.push('data'));
      connection.socket.write(server.url('/gated-cn') + '\r\n');
      await new Promise<void>((resolve) => connection.socket.once('data', () => resolve()));
      const serverCtx = lastServerCtx!;
      connection.destroy();
      gate.open(); // the server now answers, close_notify included, to a connection we dropped
      await until(() => serverCtx.closed);
      await sleep(50);
      expect(connection.end).toBeUndefined();
      expect(events).not.toContain('end');
      expect(events).toEqual(['data']);
    });

    it('fails closed: destroyed mid-body, after data arrived, no verdict', { timeout: TEST_TIMEOUT }, async () => {
      const connection = await connect();
      connection.socket.write(server.url('/big-cn') + '\r\n');
      await new Promise<void>((resolve) => connection.socket.once('data', () => resolve()));
      connection.destroy();
      await sleep(50);
      expect(connection.end).toBeUndefined();
    });
  });

  describe('(b) public API', () => {
    it('data, close_notify, FIN: complete', { timeout: TEST_TIMEOUT }, async () => {
      const response = await clientForVersion(version).fetch(server.url('/cn'));
      expect(response.tls.protocol).toBe(version);
      expect(response.complete).toBe(true);
      expect(response.termination).toBe('close_notify');
      expect(response.body.equals(BODY)).toBe(true);
      expect(response.completion.bytes).toBe(BODY.length);
      expect(response.completion.error).toBeUndefined();
    });

    it('empty body, close_notify: complete', { timeout: TEST_TIMEOUT }, async () => {
      const response = await clientForVersion(version).fetch(server.url('/cn-empty'));
      expect(response.complete).toBe(true);
      expect(response.termination).toBe('close_notify');
      expect(response.body.length).toBe(0);
      expect(response.completion.bytes).toBe(0);
    });

    it('close_notify and no header: rejects ERR_CONNECTION_CLOSED', { timeout: TEST_TIMEOUT }, async () => {
      const error = await clientForVersion(version).fetch(server.url('/cn-nothing')).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(GeminiError);
      expect((error as GeminiError).code).toBe('ERR_CONNECTION_CLOSED');
    });

    it('close_notify with TCP left open: complete without waiting for FIN', { timeout: TEST_TIMEOUT }, async () => {
      const client = clientForVersion(version);
      const response = await client.request(server.url('/cn-open'));
      const serverCtx = lastServerCtx!;
      // Snapshot in the same tick the verdict is given: the server has not sent FIN (it only answers ours).
      const serverFinSentAtVerdict = response.done.then(() => serverCtx.raw.writableEnded);
      const body = await readBody(response.body);
      const done = await response.done;
      expect(await serverFinSentAtVerdict).toBe(false);
      expect(done).toMatchObject({ complete: true, termination: 'close_notify', bytes: BODY.length });
      expect(body.equals(BODY)).toBe(true);
    });

    it('data then FIN: not complete, tcp_fin, every byte', { timeout: TEST_TIMEOUT }, async () => {
      const response = await clientForVersion(version).fetch(server.url('/fin'));
      expect(response.complete).toBe(false);
      expect(response.termination).toBe('tcp_fin');
      expect(response.body.equals(BODY)).toBe(true);
      expect(response.completion.bytes).toBe(BODY.length);
    });

    it.each([
      ['data and FIN coalesced', () => coalescing.url('/fin'), 'tcp_fin'],
      ['data, close_notify and FIN coalesced', () => coalescing.url('/cn'), 'close_notify'],
      ['close_notify then RST', () => server.url('/cn-reset'), 'close_notify'],
      ['garbage after close_notify', () => garbage.url('/cn'), 'close_notify'],
    ] as const)('%s: %s, every byte', { timeout: TEST_TIMEOUT }, async (_name, url, termination) => {
      const response = await clientForVersion(version).fetch(url());
      expect(response.termination).toBe(termination);
      expect(response.complete).toBe(termination === 'close_notify');
      expect(response.body.equals(BODY)).toBe(true);
    });

    it('RST without close_notify: tcp_reset, bytes kept', { timeout: TEST_TIMEOUT }, async () => {
      gate = newGate();
      const response = await clientForVersion(version).request(server.url('/reset'));
      const body = await readBody(response.body, { onBytes: { count: BODY.length, call: () => gate.open() } });
      const done = await response.done;
      expect(done.complete).toBe(false);
      expect(done.termination).toBe('tcp_reset');
      expect(done.bytes).toBe(BODY.length);
      expect(body.equals(BODY)).toBe(true);
    });

    it.each([
      ['/cn-reset-unread', UNREAD_SMALL, true],
      ['/big-cn-reset-unread', UNREAD_BIG, true],
      ['/reset-unread', UNREAD_SMALL, false],
    ] as const)('%s: the RST arrives before the body is read: every byte kept, complete only with close_notify', { timeout: TEST_TIMEOUT }, async (path, size, complete) => {
      const response = await clientForVersion(version, { idleTimeout: 5000 }).request(server.url(path));
      await sleep(300);
      const body = await readBody(response.body);
      const done = await response.done;
      expect(done).toMatchObject({ complete, termination: complete ? 'close_notify' : 'tcp_reset', bytes: size });
      expectSameBytes(body, bigBodyPattern(size));
    });

    it('51 with close_notify: complete; with FIN: not complete; no body either way', { timeout: TEST_TIMEOUT }, async () => {
      const client = clientForVersion(version);
      const withAlert = await client.fetch(server.url('/51-cn'));
      expect(withAlert.status).toBe(51);
      expect(withAlert.complete).toBe(true);
      expect(withAlert.termination).toBe('close_notify');
      expect(withAlert.body.length).toBe(0);
      expect(withAlert.completion.bytes).toBe(0);
      const withFin = await client.fetch(server.url('/51-fin'));
      expect(withFin.status).toBe(51);
      expect(withFin.complete).toBe(false);
      expect(withFin.termination).toBe('tcp_fin');
      expect(withFin.completion.bytes).toBe(0);
    });

    describe.each([
      ['/big-cn', 'close_notify'],
      ['/big-fin', 'tcp_fin'],
      ['/big-cn-reset', 'close_notify'],
    ] as const)('8 MB to a consumer paused %s', (path, verdict) => {
      it(`${path}: ${verdict}, every byte in order`, { timeout: BIG_TEST_TIMEOUT }, async () => {
        gate = newGate();
        // Idle timeout must not count our own pause (backpressure).
        const response = await clientForVersion(version, { idleTimeout: 500 }).request(server.url(path));
        const body = await readBody(response.body, { pauses: bigBodyPauses(path) });
        const done = await response.done;
        expect(done.termination).toBe(verdict);
        expect(done.complete).toBe(verdict === 'close_notify');
        expect(done.bytes).toBe(BIG);
        expectSameBytes(body, bigBodyPattern(BIG));
      });
    });

    it('5 MB, RST while the consumer is paused (bytes still queued in the kernel): tcp_reset, every byte kept', { timeout: BIG_TEST_TIMEOUT }, async () => {
      gate = newGate();
      const response = await clientForVersion(version, { idleTimeout: 2000 }).request(server.url('/big-reset-slow'));
      const body = await readBody(response.body, { pauses: slowResetPauses(SLOW_RESET_UNREAD.api) });
      const done = await response.done;
      expect(done).toMatchObject({ complete: false, termination: 'tcp_reset', bytes: SLOW_RESET_BODY });
      expectSameBytes(body, bigBodyPattern(SLOW_RESET_BODY));
    });

    it('session resumption: second request resumed, verdicts unchanged', { timeout: TEST_TIMEOUT }, async () => {
      const client = clientForVersion(version, { sessionResumption: true });
      const first = await client.fetch(server.url('/cn'));
      expect(first.tls.resumed).toBe(false);
      expect(first.complete).toBe(true);
      const resumedAlert = await client.fetch(server.url('/cn'));
      expect(resumedAlert.tls.resumed).toBe(true);
      expect(resumedAlert.complete).toBe(true);
      expect(resumedAlert.termination).toBe('close_notify');
      expect(resumedAlert.body.equals(BODY)).toBe(true);
      const resumedFin = await client.fetch(server.url('/fin'));
      expect(resumedFin.tls.resumed).toBe(true);
      expect(resumedFin.complete).toBe(false);
      expect(resumedFin.termination).toBe('tcp_fin');
      expect(resumedFin.body.equals(BODY)).toBe(true);
    });

    it('fails closed: a response we cancel is aborted even if close_notify follows', { timeout: TEST_TIMEOUT }, async () => {
      gate = newGate();
      const response = await clientForVersion(version).request(server.url('/gated-cn'));
      const serverCtx = lastServerCtx!;
      response.cancel();
      gate.open(); // body and close_notify now follow, to a connection we dropped
      await until(() => serverCtx.closed);
      const done = await response.done;
      expect(done).toMatchObject({ complete: false, termination: 'aborted', bytes: 0 });
    });

    it('fails closed: destroying the body mid-stream gives aborted, never complete', { timeout: TEST_TIMEOUT }, async () => {
      const response = await clientForVersion(version).request(server.url('/big-cn'));
      await new Promise<void>((resolve) => response.body.once('data', () => resolve()));
      response.body.destroy();
      const done = await response.done;
      expect(done.complete).toBe(false);
      expect(done.termination).toBe('aborted');
    });
  });
});

/** Polls `condition` every few ms, failing after 2 s. */
async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 2000) throw new Error('condition not reached within 2 s');
    await sleep(5);
  }
}

describe('connectTls timeouts', () => {
  it('treats Infinity and 0 as no limit rather than firing at once', async () => {
    const server = await startGeminiServer({ handler: respondWith('20 text/plain', 'ok') });
    try {
      for (const limit of [Infinity, 0]) {
        const connection = await connectTls({ host: '127.0.0.1', port: server.port, connectTimeout: limit, handshakeTimeout: limit });
        expect(connection.socket.encrypted).toBe(true);
        connection.destroy();
      }
    } finally {
      await server.close();
    }
  });
});
