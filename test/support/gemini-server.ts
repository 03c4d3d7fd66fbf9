/**
 * A scriptable Gemini server on loopback for network tests.
 *
 * Each accepted TCP socket (`raw`, half-open allowed) is wrapped in a plain
 * Duplex and then in a server-side `tls.TLSSocket`. The Duplex (which makes
 * Node use its JSStreamSocket) is what lets a handler send close_notify while
 * keeping TCP open: TLS's shutdown reaches the Duplex's `_final`, which then
 * skips `raw.end()`. Every other ending acts on `raw` directly.
 *
 * Imports nothing from src/ except the certificate generator.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { createCertificate, type GeneratedCertificate } from '../../src/trust/selfsigned.js';

/** How a handler ends a response. */
export type Ending =
  /** close_notify then FIN (a correct Gemini server). */
  | 'close_notify'
  /** close_notify, TCP left open until the client closes it. */
  | 'close_notify_keep_open'
  /** FIN without close_notify. */
  | 'fin'
  /** RST without close_notify. */
  | 'reset'
  /** Nothing: the connection stays open and silent (stall). */
  | 'none';

/** A request handler. Its rejections are collected in {@link GeminiTestServer.handlerErrors}, never thrown. */
export type GeminiHandler = (ctx: RequestContext) => void | Promise<void>;

/** Options of {@link startGeminiServer}. */
export interface GeminiTestServerOptions {
  /** Server certificate; default a fresh ec-p256 one for CN/DNS localhost, IP 127.0.0.1 and ::1. */
  cert?: GeneratedCertificate;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** Ask for a client certificate; any certificate is accepted and shown as `ctx.clientCertificate`. */
  requestCert?: boolean;
  /** Listen address; default '127.0.0.1'. */
  host?: string;
  handler: GeminiHandler;
}

/** One request, as seen by a handler. */
export interface RequestContext {
  /** Request line without CRLF (UTF-8 decoded). See `requestComplete`. */
  request: string;
  /** False when no CRLF came within 1026 bytes (then `request` holds the first 1026 bytes) or the client ended before CRLF. */
  requestComplete: boolean;
  /** `new URL(request)`, or undefined when that throws. */
  url: URL | undefined;
  tls: tls.TLSSocket;
  raw: net.Socket;
  /** The client's certificate when `requestCert` was set and the client sent one. */
  clientCertificate: crypto.X509Certificate | undefined;
  /** True once the TLS socket is destroyed or its writable side ended. */
  readonly closed: boolean;
  /** Writes through TLS; resolves once the bytes reached the TCP socket and TLS does not need draining. Rejects if the connection closes first. */
  write(data: string | Buffer): Promise<void>;
  /** TLS close_notify, then FIN. */
  endWithCloseNotify(): void;
  /** TLS close_notify; TCP stays open until the client closes its side (then FIN is answered). */
  closeNotifyKeepOpen(): void;
  /** FIN without close_notify (`raw.end()`). */
  endWithFin(): void;
  /** RST (`raw.resetAndDestroy()`). Bytes not yet sent by the kernel may be lost. */
  reset(): void;
  /** Applies an {@link Ending}. */
  end(ending: Ending): void;
  /** Writes `${header}\r\n` + body in one write, then ends (default close_notify). */
  respond(header: string, body?: string | Buffer, ending?: Ending): Promise<void>;
}

/** A running server made by {@link startGeminiServer}. */
export interface GeminiTestServer {
  host: string;
  port: number;
  /** `gemini://HOST:PORT/path` (IPv6 host bracketed); path defaults to '/'. */
  url(path?: string): string;
  /** Every request line dispatched to the handler, in arrival order. */
  requests: string[];
  /** Per request (same order as `requests`): the SPKI SHA-256 of the client certificate it came with, or null (only with `requestCert`). */
  clientFingerprints: Array<string | null>;
  /** TCP connections accepted so far. */
  connectionCount: number;
  /** TCP connections currently open and not yet closed (FIN) by the client. */
  activeConnections: number;
  /** Highest `activeConnections` seen. */
  maxConcurrentConnections: number;
  cert: GeneratedCertificate;
  /** Errors thrown or rejected by the handler. */
  handlerErrors: unknown[];
  /** TLS-level errors of server-side sockets (failed handshakes, bad records...). */
  tlsErrors: Error[];
  /** Stops listening, destroys every live connection, resolves when the listener is closed. */
  close(): Promise<void>;
}

const MAX_REQUEST_BYTES = 1026; // 1024 + CRLF

let defaultCert: GeneratedCertificate | undefined;

/** The default server certificate (generated once per process). */
export function defaultServerCertificate(): GeneratedCertificate {
  defaultCert ??= createCertificate({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
  return defaultCert;
}

/** Starts a Gemini server on an ephemeral port. */
export async function startGeminiServer(options: GeminiTestServerOptions): Promise<GeminiTestServer> {
  const cert = options.cert ?? defaultServerCertificate();
  const host = options.host ?? '127.0.0.1';
  const secureContext = tls.createSecureContext({
    cert: cert.cert,
    key: cert.key,
    ...(options.minVersion ? { minVersion: options.minVersion } : {}),
    ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
    // With client certificates requested, OpenSSL refuses to resume a TLS 1.2 session (alert 80) unless a session ID context is set.
    ...(options.requestCert ? { sessionIdContext: 'gemfetch-test' } : {}),
  });
  const sockets = new Set<net.Socket>();

  const state: GeminiTestServer = {
    host,
    port: 0,
    url: (path = '/') => `gemini://${net.isIPv6(host) ? `[${host}]` : host}:${state.port}${path.startsWith('/') ? path : `/${path}`}`,
    requests: [],
    clientFingerprints: [],
    connectionCount: 0,
    activeConnections: 0,
    maxConcurrentConnections: 0,
    cert,
    handlerErrors: [],
    tlsErrors: [],
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };

  const server = net.createServer({ allowHalfOpen: true }, (raw) => {
    sockets.add(raw);
    raw.setNoDelay(true); // Nagle could hold the last bytes back, and an RST would then discard them
    state.connectionCount++;
    state.activeConnections++;
    state.maxConcurrentConnections = Math.max(state.maxConcurrentConnections, state.activeConnections);
    // A connection stops counting as active once the client has closed its side
    // (FIN) or it is gone, whichever the server sees first.
    let counted = true;
    const release = (): void => {
      if (!counted) return;
      counted = false;
      state.activeConnections--;
    };
    raw.on('end', release);
    raw.on('close', () => {
      sockets.delete(raw);
      release();
    });
    serveConnection(raw, secureContext, options, state);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}

/** A Duplex over `raw` whose end can be told not to reach TCP. */
class TransportDuplex extends Duplex {
  keepTcpOpen = false;

  constructor(private readonly raw: net.Socket) {
    super({ allowHalfOpen: true });
    raw.on('data', (chunk: Buffer) => {
      if (this.destroyed) return; // TLS is gone (keep-open mode): discard, keep reading so the client's FIN is seen
      if (!this.push(chunk)) raw.pause();
    });
    raw.on('end', () => {
      this.push(null);
      if (this.keepTcpOpen) raw.end(); // the client closed: answer its FIN
    });
    raw.on('error', () => {}); // surfaces as 'close'
    raw.on('close', () => this.destroy());
  }

  override _read(): void {
    this.raw.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.raw.destroyed || this.raw.writableEnded) {
      callback();
      return;
    }
    this.raw.write(chunk, (error) => callback(error));
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.keepTcpOpen) this.raw.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.keepTcpOpen || this.raw.readableEnded) this.raw.destroy();
    callback(error);
  }
}

function serveConnection(raw: net.Socket, secureContext: tls.SecureContext, options: GeminiTestServerOptions, state: GeminiTestServer): void {
  const duplex = new TransportDuplex(raw);
  const socket = new tls.TLSSocket(duplex, {
    isServer: true,
    secureContext,
    requestCert: options.requestCert === true,
    rejectUnauthorized: false,
  });
  socket.on('error', (error: Error) => {
    state.tlsErrors.push(error);
    socket.destroy();
  });
  socket.on('close', () => {
    if (!duplex.keepTcpOpen) raw.destroy();
  });

  let received = Buffer.alloc(0);
  let dispatched = false;
  const dispatch = (requestBytes: Buffer, complete: boolean): void => {
    dispatched = true;
    const ctx = createContext(raw, socket, duplex, requestBytes.toString('utf8'), complete);
    state.requests.push(ctx.request);
    state.clientFingerprints.push(ctx.clientCertificate ? spkiFingerprint(ctx.clientCertificate) : null);
    Promise.resolve()
      .then(() => options.handler(ctx))
      .catch((error: unknown) => state.handlerErrors.push(error));
  };
  socket.on('data', (chunk: Buffer) => {
    if (dispatched) return; // anything after the request line is ignored
    received = Buffer.concat([received, chunk]);
    const crlf = received.indexOf('\r\n');
    if (crlf >= 0 && crlf <= MAX_REQUEST_BYTES - 2) dispatch(received.subarray(0, crlf), true);
    else if (received.length >= MAX_REQUEST_BYTES) dispatch(received.subarray(0, MAX_REQUEST_BYTES), false);
  });
  socket.on('end', () => {
    if (dispatched) return;
    if (received.length > 0) dispatch(received, false);
    else socket.end(); // handshake-only connection
  });
}

function createContext(raw: net.Socket, socket: tls.TLSSocket, duplex: TransportDuplex, request: string, complete: boolean): RequestContext {
  let url: URL | undefined;
  try {
    url = new URL(request);
  } catch {
    url = undefined;
  }
  const ctx: RequestContext = {
    request,
    requestComplete: complete,
    url,
    tls: socket,
    raw,
    clientCertificate: socket.getPeerX509Certificate(),
    get closed() {
      return socket.destroyed || socket.writableEnded;
    },
    write: (data) => writeFlushed(socket, data),
    endWithCloseNotify: () => socket.end(),
    closeNotifyKeepOpen: () => {
      duplex.keepTcpOpen = true;
      socket.end();
    },
    endWithFin: () => raw.end(),
    reset: () => {
      if (!raw.destroyed) raw.resetAndDestroy();
    },
    end: (ending) => {
      switch (ending) {
        case 'close_notify':
          return ctx.endWithCloseNotify();
        case 'close_notify_keep_open':
          return ctx.closeNotifyKeepOpen();
        case 'fin':
          return ctx.endWithFin();
        case 'reset':
          return ctx.reset();
        case 'none':
          return;
      }
    },
    respond: async (header, body = '', ending = 'close_notify') => {
      await ctx.write(Buffer.concat([Buffer.from(`${header}\r\n`, 'utf8'), toBuffer(body)]));
      ctx.end(ending);
    },
  };
  return ctx;
}

function toBuffer(data: string | Buffer): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

function writeFlushed(socket: tls.TLSSocket, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed || socket.writableEnded) {
      reject(new Error('connection closed'));
      return;
    }
    const onClose = (): void => reject(new Error('connection closed before the write was flushed'));
    socket.once('close', onClose);
    socket.write(toBuffer(data), (error) => {
      if (error) {
        socket.off('close', onClose);
        reject(error);
      } else if (!socket.writableNeedDrain) {
        socket.off('close', onClose);
        resolve();
      } else {
        socket.once('drain', () => {
          socket.off('close', onClose);
          resolve();
        });
      }
    });
  });
}

// ---------------------------------------------------------------- handler builders

/** A handler that reads the request and never answers (the connection stays open). */
export function stall(): GeminiHandler {
  return () => {};
}

/** A handler answering `${header}\r\n` + body, then ending as told (default close_notify). `'none'` = stall mid-body. */
export function respondWith(header: string, body: string | Buffer = '', ending: Ending = 'close_notify'): GeminiHandler {
  return (ctx) => ctx.respond(header, body, ending);
}

/** A handler writing exactly these bytes (malformed headers...), then ending as told. */
export function sendRaw(bytes: string | Buffer, ending: Ending = 'close_notify'): GeminiHandler {
  return async (ctx) => {
    if (bytes.length > 0) await ctx.write(bytes);
    ctx.end(ending);
  };
}

/** A handler answering `30 <target>` (or 31), target sent as given (may be relative or another scheme). */
export function redirect(target: string, code: 30 | 31 = 30): GeminiHandler {
  return (ctx) => ctx.respond(`${code} ${target}`);
}

/**
 * Input flow: without a query, answers `10 <prompt>` (`11` when sensitive);
 * with one, answers `20 text/plain` whose body is the percent-decoded query.
 */
export function inputPrompt(prompt: string, options: { sensitive?: boolean } = {}): GeminiHandler {
  return (ctx) => {
    const query = ctx.url?.search.slice(1) ?? '';
    if (query === '') return ctx.respond(`${options.sensitive ? 11 : 10} ${prompt}`);
    return ctx.respond('20 text/plain', decodeURIComponent(query));
  };
}

/** Answers `60 <meta>` without a client certificate, else `20 text/plain` whose body is the certificate's SPKI SHA-256 hex. Use with `requestCert: true`. */
export function requireClientCertificate(meta = 'client certificate required'): GeminiHandler {
  return (ctx) => {
    if (!ctx.clientCertificate) return ctx.respond(`60 ${meta}`);
    return ctx.respond('20 text/plain', spkiFingerprint(ctx.clientCertificate));
  };
}

/**
 * A capsule that requires a client certificate under some paths only: a
 * request whose path is one of `paths` or below it (segment-aware: `/a`
 * covers `/a/b`, not `/ab`) gets `60 <meta>` without a certificate; every
 * other answer is `20 text/plain` with the body `cert=<SPKI SHA-256 hex or
 * none> path=<path>`, so a test reads which certificate the server saw. Use
 * with `requestCert: true`.
 */
export function certificatePerPath(paths: readonly string[], meta = 'certificate required here'): GeminiHandler {
  const gated = (path: string): boolean => paths.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`));
  return (ctx) => {
    const path = ctx.url?.pathname ?? '';
    const fingerprint = ctx.clientCertificate ? spkiFingerprint(ctx.clientCertificate) : undefined;
    if (gated(path) && !fingerprint) return ctx.respond(`60 ${meta}`);
    return ctx.respond('20 text/plain', `cert=${fingerprint ?? 'none'} path=${path}`);
  };
}

/** Dispatches on the URL path (exact match); unknown paths get `fallback` (default `51 Not found`). */
export function routes(table: Record<string, GeminiHandler>, fallback: GeminiHandler = respondWith('51 Not found')): GeminiHandler {
  return (ctx) => (table[ctx.url?.pathname ?? ''] ?? fallback)(ctx);
}

/** SHA-256 hex of a certificate's DER SubjectPublicKeyInfo (same format as GeneratedCertificate.fingerprint). */
export function spkiFingerprint(cert: crypto.X509Certificate): string {
  return crypto.createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

/**
 * Writes `data` in `chunkSize`-byte pieces (default 1), waiting `intervalMs`
 * between pieces, then ends as told (default close_notify). Stops quietly if
 * the connection closes. Timers are unref'd.
 */
export async function dribble(
  ctx: RequestContext,
  data: string | Buffer,
  intervalMs: number,
  options: { chunkSize?: number; ending?: Ending } = {},
): Promise<void> {
  const bytes = toBuffer(data);
  const chunkSize = options.chunkSize ?? 1;
  for (let offset = 0; offset < bytes.length; offset += chunkSize) {
    if (offset > 0) await sleep(intervalMs, undefined, { ref: false });
    if (ctx.closed) return;
    await ctx.write(bytes.subarray(offset, offset + chunkSize));
  }
  if (!ctx.closed) ctx.end(options.ending ?? 'close_notify');
}

/**
 * The deterministic body {@link bigBody} sends: byte i is `i % 251` (251 is
 * prime, so the pattern never lines up with record or chunk sizes).
 */
export function bigBodyPattern(length: number, offset = 0): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (offset + i) % 251;
  return out;
}

/**
 * Sends `header` (default `20 application/octet-stream`) then `totalBytes` of
 * {@link bigBodyPattern} in 64 KiB writes, each awaited (backpressure), then
 * ends as told. Rejects if the client goes away (collected as a handler error).
 */
export async function bigBody(
  ctx: RequestContext,
  totalBytes: number,
  ending: Ending = 'close_notify',
  header = '20 application/octet-stream',
): Promise<void> {
  await ctx.write(`${header}\r\n`);
  const chunk = 64 * 1024;
  for (let offset = 0; offset < totalBytes; offset += chunk) {
    await ctx.write(bigBodyPattern(Math.min(chunk, totalBytes - offset), offset));
  }
  ctx.end(ending);
}
