/**
 * Sanity tests of the network fixtures, using plain node:tls clients (not gemfetch).
 * The client below follows the recipe of notes/close-notify-node.md so that the
 * fixtures' endings can be checked.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createCertificate } from '../src/trust/selfsigned.js';
import {
  bigBody,
  bigBodyPattern,
  defaultServerCertificate,
  dribble,
  inputPrompt,
  requireClientCertificate,
  respondWith,
  routes,
  stall,
  startGeminiServer,
  type GeminiTestServer,
  type GeminiTestServerOptions,
} from './support/gemini-server.js';
import { startMolly } from './support/molly.js';
import { startTlsProxy, tlsRecordBoundaries, type ProxyOptions, type TlsProxy } from './support/tls-proxy.js';

type Ending = 'close_notify' | 'fin' | 'reset' | 'tls_error' | 'handshake_failed' | 'destroyed';

interface FetchResult {
  data: Buffer;
  text: string;
  ending: Ending;
  error: (Error & { code?: string }) | undefined;
  protocol: string | null;
}

interface FetchOptions {
  host?: string;
  port: number;
  request?: string;
  servername?: string;
  ca?: string;
  cert?: string;
  key?: string;
  maxVersion?: tls.SecureVersion;
  minVersion?: tls.SecureVersion;
}

/** A minimal TLS client telling close_notify from a bare close (recipe of the notes). */
function tlsFetch(options: FetchOptions): Promise<FetchResult> {
  const host = options.host ?? '127.0.0.1';
  return new Promise((resolve) => {
    const raw = net.connect({ host, port: options.port, allowHalfOpen: true });
    const duplex = new Duplex({
      allowHalfOpen: true,
      read: () => void raw.resume(),
      write: (chunk: Buffer, _encoding, callback) => void raw.write(chunk, callback),
      final: (callback) => {
        raw.end();
        callback();
      },
      destroy: (error, callback) => {
        raw.destroy();
        callback(error);
      },
    });
    let rawError: (Error & { code?: string }) | undefined;
    raw.on('data', (chunk: Buffer) => {
      if (!duplex.push(chunk)) raw.pause();
    });
    raw.on('end', () => duplex.push(null));
    raw.on('error', (error) => {
      rawError = error;
      setImmediate(() => duplex.destroy());
    });
    let eofHandedToTls = false;
    duplex.on('end', () => (eofHandedToTls = true));

    const connectOptions: tls.ConnectionOptions = { socket: duplex, host, rejectUnauthorized: options.ca !== undefined };
    for (const key of ['servername', 'ca', 'cert', 'key', 'maxVersion', 'minVersion'] as const) {
      if (options[key] !== undefined) Object.assign(connectOptions, { [key]: options[key] });
    }
    const socket = tls.connect(connectOptions);
    socket.allowHalfOpen = false;
    let secure = false;
    let verdict: Ending | undefined;
    let tlsError: (Error & { code?: string }) | undefined;
    const push = socket.push.bind(socket);
    socket.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      if (chunk === null && verdict === undefined) verdict = !secure ? 'handshake_failed' : eofHandedToTls ? 'fin' : 'close_notify';
      return push(chunk, encoding);
    };
    const chunks: Buffer[] = [];
    let protocol: string | null = null;
    socket.on('secureConnect', () => {
      secure = true;
      protocol = socket.getProtocol();
      socket.write(`${options.request ?? 'gemini://127.0.0.1/'}\r\n`);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: Error & { code?: string }) => {
      tlsError ??= error;
      socket.destroy();
    });
    duplex.once('close', () => socket.destroy());
    socket.on('close', () => {
      const data = Buffer.concat(chunks);
      let ending: Ending;
      if (tlsError?.code?.startsWith('ERR_SSL_')) ending = secure ? 'tls_error' : 'handshake_failed';
      else if (verdict) ending = verdict;
      else if (!secure) ending = 'handshake_failed';
      else if (rawError?.code === 'ECONNRESET') ending = 'reset';
      else ending = 'destroyed';
      resolve({ data, text: data.toString('utf8'), ending, error: tlsError ?? rawError, protocol });
    });
  });
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function server(options: GeminiTestServerOptions): Promise<GeminiTestServer> {
  const s = await startGeminiServer(options);
  cleanups.push(() => s.close());
  return s;
}

async function proxy(options: ProxyOptions): Promise<TlsProxy> {
  const p = await startTlsProxy(options);
  cleanups.push(() => p.close());
  return p;
}

/** A plain TCP server writing `pieces` (with a short pause between them) then ending. */
async function plainServer(pieces: Buffer[]): Promise<{ port: number }> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer(async (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    for (const piece of pieces) {
      if (socket.destroyed) return;
      socket.write(piece);
      await sleep(1);
    }
    socket.end();
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  });
  return { port: (s.address() as net.AddressInfo).port };
}

/** Reads everything from a plain TCP connection; reports how it ended. */
function plainRead(port: number, holdMs?: number): Promise<{ data: Buffer; ending: 'fin' | 'reset' | 'still-open' }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (holdMs !== undefined) {
      timer = setTimeout(() => {
        socket.destroy();
        resolve({ data: Buffer.concat(chunks), ending: 'still-open' });
      }, holdMs);
    }
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), ending: 'fin' });
    });
    socket.on('error', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), ending: 'reset' });
    });
  });
}

function record(type: number, length: number, fill: number): Buffer {
  const out = Buffer.alloc(5 + length, fill);
  out[0] = type;
  out.writeUInt16BE(0x0303, 1);
  out.writeUInt16BE(length, 3);
  return out;
}

describe('gemini test server', () => {
  it('answers a request and ends with close_notify; records requests and connections', async () => {
    const s = await server({ handler: respondWith('20 text/gemini', '# hello\n') });
    const cert = defaultServerCertificate();
    const result = await tlsFetch({ port: s.port, request: s.url('/a?b'), ca: cert.cert, servername: 'localhost' });
    expect(result.text).toBe('20 text/gemini\r\n# hello\n');
    expect(result.ending).toBe('close_notify');
    expect(s.requests).toEqual([`gemini://127.0.0.1:${s.port}/a?b`]);
    expect(s.connectionCount).toBe(1);
    expect(s.maxConcurrentConnections).toBe(1);
    expect(s.handlerErrors).toEqual([]);
  });

  it.each([
    ['fin', 'fin'],
    ['reset', 'reset'],
    ['close_notify_keep_open', 'close_notify'],
  ] as const)('ending %s is seen by the client as %s', async (ending, expected) => {
    const s = await server({ handler: respondWith('20 text/plain', 'body', ending) });
    const result = await tlsFetch({ port: s.port });
    expect(result.text).toBe('20 text/plain\r\nbody');
    expect(result.ending).toBe(expected);
  });

  it('close() destroys stalled connections and resolves', async () => {
    const s = await startGeminiServer({ handler: stall() });
    const fetching = tlsFetch({ port: s.port });
    while (s.requests.length === 0) await sleep(5);
    expect(s.activeConnections).toBe(1);
    const closed = await Promise.race([s.close().then(() => 'closed'), sleep(2000).then(() => 'hung')]);
    expect(closed).toBe('closed');
    const result = await fetching;
    expect(result.data.length).toBe(0);
    expect(result.ending).not.toBe('close_notify');
  });

  it('stalls mid-body with ending "none" and dribbles', async () => {
    const s = await server({
      handler: routes({
        '/stall': respondWith('20 text/plain', 'part', 'none'),
        '/dribble': (ctx) => dribble(ctx, '20 text/plain\r\nabc', 2, { chunkSize: 4 }),
      }),
    });
    const dribbled = await tlsFetch({ port: s.port, request: s.url('/dribble') });
    expect(dribbled.text).toBe('20 text/plain\r\nabc');
    expect(dribbled.ending).toBe('close_notify');
    const missing = await tlsFetch({ port: s.port, request: s.url('/nowhere') });
    expect(missing.text).toBe('51 Not found\r\n');

    const stalled = tlsFetch({ port: s.port, request: s.url('/stall') });
    await sleep(100);
    await s.close();
    expect((await stalled).text).toBe('20 text/plain\r\npart');
  });

  it('streams a big deterministic body with backpressure', async () => {
    const s = await server({ handler: (ctx) => bigBody(ctx, 1_000_000) });
    const result = await tlsFetch({ port: s.port });
    const header = '20 application/octet-stream\r\n';
    expect(result.data.subarray(0, header.length).toString()).toBe(header);
    expect(result.data.subarray(header.length).equals(bigBodyPattern(1_000_000))).toBe(true);
    expect(result.ending).toBe('close_notify');
  });

  it('limits the request line to 1024 bytes plus CRLF', async () => {
    const seen: Array<[number, boolean]> = [];
    const s = await server({
      handler: (ctx) => {
        seen.push([ctx.request.length, ctx.requestComplete]);
        return ctx.respond(ctx.requestComplete ? '20 text/plain' : '59 too long');
      },
    });
    const base = s.url('/');
    const exact = base + 'a'.repeat(1024 - base.length);
    expect((await tlsFetch({ port: s.port, request: exact })).text).toBe('20 text/plain\r\n');
    expect((await tlsFetch({ port: s.port, request: `${exact}b` })).text).toBe('59 too long\r\n');
    expect(seen).toEqual([
      [1024, true],
      [1026, false],
    ]);
  });

  it('serves input prompts and echoes the query', async () => {
    const s = await server({ handler: routes({ '/q': inputPrompt('Name?'), '/secret': inputPrompt('Password?', { sensitive: true }) }) });
    expect((await tlsFetch({ port: s.port, request: s.url('/q') })).text).toBe('10 Name?\r\n');
    expect((await tlsFetch({ port: s.port, request: s.url('/secret') })).text).toBe('11 Password?\r\n');
    expect((await tlsFetch({ port: s.port, request: s.url('/q?1%25%20%2B%20%23x') })).text).toBe('20 text/plain\r\n1% + #x');
  });

  it('requests a client certificate and reports its fingerprint', async () => {
    const s = await server({ requestCert: true, handler: requireClientCertificate() });
    expect((await tlsFetch({ port: s.port })).text).toBe('60 client certificate required\r\n');
    const client = createCertificate({ commonName: 'me' });
    const result = await tlsFetch({ port: s.port, cert: client.cert, key: client.key });
    expect(result.text).toBe(`20 text/plain\r\n${client.fingerprint}`);
  });

  it.each(['TLSv1.2', 'TLSv1.3'] as const)('can be %s only', async (version) => {
    const s = await server({ minVersion: version, maxVersion: version, handler: respondWith('20 text/plain', 'v') });
    expect((await tlsFetch({ port: s.port })).protocol).toBe(version);
    const other = version === 'TLSv1.2' ? 'TLSv1.3' : 'TLSv1.2';
    const refused = await tlsFetch({ port: s.port, minVersion: other, maxVersion: other });
    expect(refused.ending).toBe('handshake_failed');
  });
});

describe('tls proxy', () => {
  const payload = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 256));

  it('passes everything through without options', async () => {
    const upstream = await plainServer([payload]);
    const p = await proxy({ target: { host: '127.0.0.1', port: upstream.port } });
    const result = await plainRead(p.port);
    expect(result.data.equals(payload)).toBe(true);
    expect(result.ending).toBe('fin');
    expect(p.bytesForwarded).toBe(payload.length);
    expect(p.serverBytes().equals(payload)).toBe(true);
  });

  it.each([
    ['fin', 'fin'],
    ['reset', 'reset'],
    ['hold', 'still-open'],
  ] as const)('cutAt forwards exactly N bytes, then %s', async (thenDo, expected) => {
    const upstream = await plainServer([payload.subarray(0, 1000), payload.subarray(1000)]);
    // the delay lets the client read the data first: an RST racing unread data may be reported as EOF
    const p = await proxy({ target: { host: '127.0.0.1', port: upstream.port }, cutAt: 1234, thenDo, thenDelayMs: 30 });
    const result = await plainRead(p.port, thenDo === 'hold' ? 150 : undefined);
    expect(result.ending).toBe(expected);
    expect(result.data.equals(payload.subarray(0, 1234))).toBe(true);
    expect(p.bytesForwarded).toBe(1234);
  });

  it('corrupts one byte, injects and appends bytes', async () => {
    const upstream = await plainServer([payload.subarray(0, 100)]);
    const p = await proxy({
      target: { host: '127.0.0.1', port: upstream.port },
      corruptAt: 7,
      injectBeforeServer: Buffer.from('IN'),
      appendAfterServerEnd: Buffer.from('OUT'),
      coalesceEnd: true,
    });
    const result = await plainRead(p.port);
    const expected = Buffer.from(payload.subarray(0, 100));
    expected[7]! ^= 1;
    expect(result.data.equals(Buffer.concat([Buffer.from('IN'), expected, Buffer.from('OUT')]))).toBe(true);
    expect(result.ending).toBe('fin');
  });

  it('parses TLS record boundaries and cuts at them, across small chunks', async () => {
    const stream = Buffer.concat([record(22, 100, 1), record(23, 200, 2), record(21, 0, 0), record(23, 50, 3)]);
    expect(tlsRecordBoundaries(stream)).toEqual([105, 310, 315, 370]);
    expect(tlsRecordBoundaries(stream.subarray(0, 200))).toEqual([105]);
    const pieces = Array.from({ length: Math.ceil(stream.length / 7) }, (_, i) => stream.subarray(i * 7, i * 7 + 7));
    const upstream = await plainServer(pieces);
    for (const [offset, expected] of [
      [150, 310],
      [105, 105],
      [311, 315],
      [1, 105],
    ]) {
      const p = await proxy({ target: { host: '127.0.0.1', port: upstream.port }, cutAtRecordBoundary: offset });
      const result = await plainRead(p.port);
      expect(result.data.length).toBe(expected);
      expect(result.ending).toBe('fin');
    }
  });

  describe('with TLS', () => {
    it.each(['TLSv1.2', 'TLSv1.3'] as const)('dropFinalRecord drops the close_notify record (%s): the ending becomes a bare FIN', async (version) => {
      const s = await server({ maxVersion: version, minVersion: version, handler: respondWith('20 text/plain', 'whole body') });
      const p = await proxy({ target: { host: '127.0.0.1', port: s.port }, dropFinalRecord: true });
      const truncated = await tlsFetch({ port: p.port });
      expect(truncated.text).toBe('20 text/plain\r\nwhole body');
      expect(truncated.ending).toBe('fin');
      const boundaries = tlsRecordBoundaries(p.serverBytes());
      expect(boundaries.at(-1)).toBe(p.serverBytes().length);
      expect(p.bytesForwarded).toBe(boundaries.at(-2));
    });

    // ECDSA signatures vary in length and TLS 1.3 session tickets may come before or after
    // the response, so only TLS 1.2 with an ed25519 certificate gives byte-stable offsets.
    it('record layout is byte-stable across connections with TLS 1.2 and an ed25519 certificate', async () => {
      const cert = createCertificate({ commonName: 'localhost', ipAddresses: ['127.0.0.1'], keyType: 'ed25519' });
      const s = await server({ cert, maxVersion: 'TLSv1.2', handler: respondWith('20 text/plain', 'whole body') });
      const pass = await proxy({ target: { host: '127.0.0.1', port: s.port } });
      expect((await tlsFetch({ port: pass.port })).ending).toBe('close_notify');
      const layout = tlsRecordBoundaries(pass.serverBytes());
      for (let i = 0; i < 3; i++) {
        await tlsFetch({ port: pass.port });
        expect(tlsRecordBoundaries(pass.serverBytes())).toEqual(layout);
      }
      const cut = await proxy({ target: { host: '127.0.0.1', port: s.port }, cutAtRecordBoundary: layout.at(-2)! });
      const truncated = await tlsFetch({ port: cut.port });
      expect(truncated.text).toBe('20 text/plain\r\nwhole body');
      expect(truncated.ending).toBe('fin');
    });

    it('a corrupted record is a TLS error; garbage after close_notify is ignored', async () => {
      const s = await server({ handler: respondWith('20 text/plain', 'x'.repeat(200)) });
      const pass = await proxy({ target: { host: '127.0.0.1', port: s.port } });
      await tlsFetch({ port: pass.port });
      const total = pass.serverBytes().length;

      const bad = await proxy({ target: { host: '127.0.0.1', port: s.port }, corruptAt: total - 60 });
      const corrupted = await tlsFetch({ port: bad.port });
      expect(corrupted.ending).toBe('tls_error');
      expect(corrupted.error?.code).toMatch(/^ERR_SSL_/);

      const garbage = await proxy({ target: { host: '127.0.0.1', port: s.port }, appendAfterServerEnd: Buffer.from('garbage!') });
      expect((await tlsFetch({ port: garbage.port })).ending).toBe('close_notify');
    });

    it('a plaintext close_notify injected during the handshake aborts it', async () => {
      const s = await server({ handler: respondWith('20 text/plain', 'x') });
      const p = await proxy({
        target: { host: '127.0.0.1', port: s.port },
        injectBeforeServer: Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00]),
      });
      const result = await tlsFetch({ port: p.port });
      expect(result.ending).toBe('handshake_failed');
      expect(result.data.length).toBe(0);
    });
  });
});

describe('molly-brown', async () => {
  const started = await startMolly(
    { 'index.gmi': '# Home\n', 'dir/file.txt': 'hello from molly\n' },
    { redirects: { '/old': '/dir/file.txt' } },
  );
  const molly = started.molly;
  afterAll(() => molly?.close());

  it.skipIf(molly === null)(`serves files, 51 for missing ones, 30 for redirects${started.molly === null ? ` (skipped: ${started.reason})` : ''}`, async () => {
    const m = molly!;
    const get = (path: string) => tlsFetch({ port: m.port, request: m.url(path), ca: m.cert.cert, servername: 'localhost' });
    const file = await get('/dir/file.txt');
    expect(file.text).toBe('20 text/plain; charset=utf-8\r\nhello from molly\n');
    expect(file.ending).toBe('close_notify');
    expect((await get('/index.gmi')).text).toBe('20 text/gemini\r\n# Home\n');
    expect((await get('/missing')).text).toMatch(/^51 /);
    expect((await get('/old')).text).toBe(`30 ${m.url('/dir/file.txt')}\r\n`);
  });
});
