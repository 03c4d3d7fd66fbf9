/**
 * The TLS transport: opens a connection and tells a stream that ended with a
 * TLS close_notify alert from one that ended with a bare TCP close.
 *
 * Node exposes no API for this. What differs is the order of events (see
 * shared/notes/close-notify-node.md): when TLS decrypts a close_notify it
 * signals end-of-stream synchronously, while it still holds ciphertext it was
 * handed; without close_notify it signals end-of-stream only after the TCP EOF
 * has been handed to it. A relay between the TCP socket and TLS (a minimal
 * stream, see TcpRelay) lets us see when the TCP EOF was handed over, and a hook on the TLS socket's
 * `push(null)` tells us when TLS ended the stream. Everything about Node
 * internals lives in this file, and `test/transport.test.ts` proves it on every
 * supported Node major.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { AbortError, NetworkError, TimeoutError, TlsError } from '../errors.js';
import { describeTlsFailure } from './tls-failure.js';
import { startLimitTimer } from './timers.js';

/** How the server's stream of bytes ended, as far as the transport can tell. */
export type StreamEnd = 'close_notify' | 'tcp_fin' | 'tcp_reset' | 'tls_error';

/** Options for {@link connectTls}. */
export interface TlsConnectOptions {
  /** Host to connect to: a DNS name or an IP literal (IPv6 without brackets). */
  host: string;
  port: number;
  /** SNI name; omit for IP literals. Also the name Node checks the certificate against. */
  servername?: string | undefined;
  /** 4 or 6 to force an address family; 0 (default) for either. */
  family?: 0 | 4 | 6;
  /** Resolves `host` (a `dns.lookup`-style function); default `dns.lookup`. Not used for IP literals. */
  lookup?: net.LookupFunction | undefined;
  /** Milliseconds allowed for the TCP connection (DNS included); 0 or Infinity for no limit. */
  connectTimeout: number;
  /** Milliseconds allowed for the TLS handshake once TCP is up; 0 or Infinity for no limit. */
  handshakeTimeout: number;
  signal?: AbortSignal | undefined;
  /** URL, for error messages only. */
  url?: string;
  /** Extra TLS options (certificates, session, versions, CA). `rejectUnauthorized` defaults to false: trust is decided by the caller. */
  tlsOptions?: tls.ConnectionOptions;
}

/** Time points of a connection, in milliseconds since the call to {@link connectTls}. */
export interface ConnectTimings {
  /** TCP connected. */
  connect: number;
  /** TLS handshake finished. */
  secure: number;
}

/**
 * An established TLS connection that knows how it ended.
 *
 * Read the decrypted stream from `socket` ('data' / 'end' / 'error'). When
 * `socket` emits 'end', {@link TlsConnection.end} is already set: every byte
 * delivered before 'end' was decrypted and authenticated, and `end` says
 * whether a close_notify preceded the TCP close. The verdict is never
 * `close_notify` on a guess: if the detection did not run, it is `tcp_fin`.
 */
export class TlsConnection {
  /** The TLS socket (read decrypted data and write the request here). */
  readonly socket: tls.TLSSocket;
  /** The TCP socket underneath: addresses, byte counters. */
  readonly raw: net.Socket;
  readonly timings: ConnectTimings;
  readonly #state: DetectionState;

  /** @internal */
  constructor(socket: tls.TLSSocket, raw: net.Socket, state: DetectionState, timings: ConnectTimings) {
    this.socket = socket;
    this.raw = raw;
    this.#state = state;
    this.timings = timings;
  }

  /** How the stream ended; undefined while it has not ended (or when it was destroyed by us). */
  get end(): StreamEnd | undefined {
    return this.#state.end;
  }

  /** Ciphertext bytes received from the server so far (TLS overhead included). */
  get bytesReceived(): number {
    return this.raw.bytesRead;
  }

  /** Tears the connection down at once (no close_notify is sent). Idempotent. */
  destroy(): void {
    this.socket.destroy();
    this.raw.destroy();
  }
}

interface DetectionState {
  secure: boolean;
  /** The relay handed the TCP EOF to TLS. */
  eofHandedToTls: boolean;
  /** The TCP connection was reset (ECONNRESET and friends) rather than closed. */
  tcpReset: boolean;
  end: StreamEnd | undefined;
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME']);

/** True for errors raised by OpenSSL (bad record MAC, alert received, protocol violations). */
export function isTlsProtocolError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_SSL_');
}

/** True for errors that mean the peer reset the TCP connection. */
export function isResetError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RESET_CODES.has(code);
}

/**
 * Size of the one read buffer every connection reads into: bulk bodies are read
 * in chunks up to this size (fewer hops through JS).
 */
const READ_BUFFER_BYTES = 256 * 1024;
/**
 * Shared by every connection of the process: each read is handed to TLS, which
 * copies it, before the read callback returns, so no read outlives the next
 * one. One buffer instead of one per connection keeps a crawl of hundreds of
 * connections from allocating (and collecting) a buffer for each.
 */
const EMPTY = Buffer.alloc(0);

let sharedReadBuffer: Buffer | undefined;
const readBuffer = (): Buffer => (sharedReadBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES));

/**
 * Carries bytes between the TCP socket and TLS, and notes when it hands the
 * TCP EOF on.
 *
 * TLS takes it as its `socket` and, because it is not a `net.Socket`, reads it
 * through Node's JS stream wrapper (JSStreamSocket), which only needs the
 * stream surface implemented here: 'data', 'end' and 'close' events,
 * `pause`/`resume`, `cork`/`uncork`, `write(chunk, callback)`, `end(callback)`
 * and `destroy()`. It is deliberately not a `stream.Duplex`: every chunk is
 * handed to TLS synchronously from the TCP read, with no buffer in between, so
 * the order of data, close_notify and TCP EOF is exactly the order on the
 * wire, and no Readable/Writable bookkeeping is paid per chunk.
 *
 * The TCP socket reads into a buffer of ours (`onread`), not into a new
 * buffer per read: it is created with {@link TcpRelay.onread} and handed over
 * with {@link TcpRelay.attach} once connected. TLS copies each chunk before
 * the read callback returns, so the buffer is reused for the next read, by
 * every connection.
 */
class TcpRelay extends EventEmitter {
  /** Read by JSStreamSocket when it wraps us. */
  readonly readable = true;
  readonly writable = true;
  readonly readableObjectMode = false;
  #raw: net.Socket | undefined;
  #state: DetectionState | undefined;
  #paused = false;
  #coalesce = false;
  #ended = false;
  #closed = false;
  /** The `onread` option for `net.connect`: every read lands in the shared buffer and goes to TLS at once. */
  readonly onread = {
    buffer: readBuffer,
    callback: (bytes: number): boolean => this.#relayRead(bytes),
  };

  /** Starts relaying the connected socket (created with {@link TcpRelay.onread}). */
  attach(raw: net.Socket, state: DetectionState): void {
    this.#raw = raw;
    this.#state = state;
    raw.on('end', () => this.#endAfterResetProbe(raw, state));
    raw.on('error', (err) => {
      // Every byte read before the error has already gone to TLS: a close_notify followed by an RST is still seen.
      if (isResetError(err)) state.tcpReset = true;
      this.#endOnce();
    });
    // A closed socket only ends the stream: TLS may still hold decrypted bytes the consumer has not
    // read, and closing TLS now would drop them. TLS closes the relay (destroy) once it is done.
    raw.once('close', () => this.#endOnce());
  }

  /** Hands bytes just read to TLS; false stops reading (TLS asked us to pause while taking them). */
  #relayRead(bytes: number): boolean {
    this.emit('data', readBuffer().subarray(0, bytes));
    return !this.#paused;
  }

  /**
   * The kernel may report an RST as a plain EOF: when the reset arrives while
   * received bytes still wait to be read (a slow consumer), Linux delivers the
   * bytes and then EOF, and keeps the reset as a pending socket error. A write
   * fails at once on a reset socket and succeeds on one the peer closed with
   * FIN, so a zero-byte write (nothing goes on the wire) tells them apart
   * before TLS learns of the EOF and the verdict is taken.
   */
  #endAfterResetProbe(raw: net.Socket, state: DetectionState): void {
    // No verdict left to take, or the probe would queue behind unsent bytes (a peer not reading could hold it back).
    if (state.end !== undefined || raw.destroyed || !raw.writable || raw.writableLength > 0) {
      this.#endOnce();
      return;
    }
    raw.write(EMPTY, (err) => {
      if (err && isResetError(err)) state.tcpReset = true;
      this.#endOnce();
    });
  }

  #endOnce(): void {
    if (this.#ended || this.#closed) return;
    this.#ended = true;
    // Set before TLS learns of the EOF: an end-of-stream TLS signals before this line came from a close_notify.
    this.#state!.eofHandedToTls = true;
    this.emit('end');
  }

  pause(): this {
    this.#paused = true;
    this.#raw?.pause();
    return this;
  }

  resume(): this {
    this.#paused = false;
    this.#raw?.resume();
    return this;
  }

  cork(): void {
    this.#raw?.cork();
  }

  uncork(): void {
    this.#raw?.uncork();
  }

  /**
   * Called when the handshake completes: what TLS writes next (the client's
   * Finished in TLS 1.3) is held until the current round of I/O is over, so
   * the request line written meanwhile goes out in the same TCP segment, as
   * Node's native TLS socket sends them.
   */
  coalesceNextWrite(): void {
    this.#coalesce = true;
  }

  write(chunk: Buffer, callback: (error?: Error | null) => void): boolean {
    const raw = this.#raw;
    if (!raw || raw.destroyed || !raw.writable) {
      process.nextTick(callback);
      return true;
    }
    if (this.#coalesce) {
      this.#coalesce = false;
      raw.cork();
      raw.write(chunk);
      // Completing at once lets TLS hand over its next write (the request) before the uncork below runs.
      callback();
      setImmediate(() => raw.uncork());
      return true;
    }
    // Complete on the write's own callback, which also runs when the write fails
    // (a reset peer): waiting for 'drain' would wait forever on a socket the
    // write destroyed, and TLS would then never finish its shutdown or close.
    // Errors themselves are reported through raw's 'error' (see attach).
    return raw.write(chunk, () => callback());
  }

  end(callback?: () => void): this {
    const raw = this.#raw;
    if (raw && !raw.destroyed) raw.end();
    if (callback) process.nextTick(callback);
    return this;
  }

  destroy(): this {
    if (this.#closed) return this;
    this.#closed = true;
    this.#raw?.destroy();
    process.nextTick(() => this.emit('close'));
    return this;
  }
}

/**
 * Opens a TCP connection, performs the TLS handshake and arms close_notify
 * detection. Resolves once the handshake is done; the caller then decides
 * trust (the certificate is NOT checked unless `tlsOptions.rejectUnauthorized`
 * is set) and writes the request.
 *
 * Rejects with {@link NetworkError} (`ERR_DNS`, `ERR_CONNECT`: no TCP connection),
 * {@link TimeoutError} (phase `connect` or `handshake`), {@link TlsError} (the
 * handshake failed, including the server closing or resetting TCP during it) or
 * {@link AbortError}; on rejection nothing is left open.
 */
export function connectTls(options: TlsConnectOptions): Promise<TlsConnection> {
  const started = performance.now();
  const { url, signal } = options;
  return new Promise<TlsConnection>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError({ url, cause: signal.reason }));
      return;
    }
    const state: DetectionState = { secure: false, eofHandedToTls: false, tcpReset: false, end: undefined };
    const relay = new TcpRelay();
    const raw = net.connect({
      host: options.host,
      port: options.port,
      family: options.family ?? 0,
      ...(options.lookup ? { lookup: options.lookup } : {}),
      allowHalfOpen: true,
      noDelay: true,
      onread: relay.onread,
    });
    let socket: tls.TLSSocket | undefined;
    let settled = false;
    let connectedAt = 0;
    let tcpConnected = false;

    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      socket?.destroy();
      raw.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(new AbortError({ url, cause: signal?.reason }));
    let timer = startLimitTimer(options.connectTimeout, () => fail(new TimeoutError('connect', options.connectTimeout, { url })));
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      raw.off('error', onConnectError);
    };
    const onConnectError = (err: NodeJS.ErrnoException): void => {
      // Once TCP is up, a reset is a failed handshake, as a FIN at that point already is.
      if (tcpConnected) {
        fail(new TlsError(describeTlsFailure(`${options.host}:${options.port}`, err), { url, cause: err }));
      } else {
        fail(connectionError(err, options, url));
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    raw.once('error', onConnectError);

    raw.once('connect', () => {
      if (settled) return;
      connectedAt = performance.now() - started;
      tcpConnected = true;
      clearTimeout(timer);
      timer = startLimitTimer(options.handshakeTimeout, () =>
        fail(new TimeoutError('handshake', options.handshakeTimeout, { url })),
      );
      relay.attach(raw, state);
      const tlsSocket = tls.connect({
        rejectUnauthorized: false,
        ...options.tlsOptions,
        socket: relay as unknown as Duplex,
        host: options.host,
        ...(options.servername ? { servername: options.servername } : {}),
      });
      socket = tlsSocket;
      // Left half-open, the client would never answer close_notify.
      tlsSocket.allowHalfOpen = false;
      armDetection(tlsSocket, state);
      relay.once('close', () => tlsSocket.destroy());
      tlsSocket.once('error', (err) => {
        if (settled) return;
        fail(new TlsError(describeTlsFailure(`${options.host}:${options.port}`, err), { url, cause: err }));
      });
      tlsSocket.once('end', () => {
        if (!state.secure) fail(new TlsError(`${options.host}:${options.port} closed the connection during the TLS handshake`, { url }));
      });
      tlsSocket.once('secureConnect', () => {
        if (settled) return;
        state.secure = true;
        relay.coalesceNextWrite();
        settled = true;
        cleanup();
        // After the handshake the request layer owns errors; a TLS error must not go unhandled.
        tlsSocket.on('error', (err) => {
          if (isTlsProtocolError(err)) state.end ??= 'tls_error';
          else if (isResetError(err)) state.end ??= 'tcp_reset';
        });
        raw.on('error', () => {
          /* reported through the relay and the TLS socket */
        });
        resolve(
          new TlsConnection(tlsSocket, raw, state, { connect: connectedAt, secure: performance.now() - started }),
        );
      });
    });
  });
}

/** Wraps the TLS socket's `push` so the first end-of-stream records the verdict. */
function armDetection(socket: tls.TLSSocket, state: DetectionState): void {
  const push = socket.push;
  socket.push = function pushWithVerdict(this: tls.TLSSocket, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null && state.end === undefined && state.secure) {
      if (!state.eofHandedToTls) state.end = 'close_notify';
      else state.end = state.tcpReset ? 'tcp_reset' : 'tcp_fin';
    }
    return push.call(this, chunk, encoding);
  };
}

function connectionError(err: NodeJS.ErrnoException, options: TlsConnectOptions, url: string | undefined): NetworkError {
  const where = `${options.host}:${options.port}`;
  const code = err.code ?? 'unknown';
  if (DNS_CODES.has(code)) {
    return new NetworkError('ERR_DNS', `cannot resolve host ${options.host} (${code})`, {
      url,
      cause: err,
      syscallCode: code,
    });
  }
  return new NetworkError('ERR_CONNECT', `cannot connect to ${where}: ${code === 'ECONNREFUSED' ? 'connection refused' : err.message}`, {
    url,
    cause: err,
    syscallCode: code,
  });
}
