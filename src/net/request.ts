/**
 * One Gemini transaction: connect, check trust, send the request line, read
 * the header within its limits, then stream the body until the connection
 * ends or a limit of ours ends it. Redirects, input and trust policy are the
 * client's job (client.ts); this file does exactly one request.
 */
import type { X509Certificate } from 'node:crypto';
import { Readable } from 'node:stream';
import type * as tls from 'node:tls';
import { AbortError, HeaderError, NetworkError, TimeoutError, TlsError } from '../errors.js';
import { tlsFailureReason } from './tls-failure.js';
import { findHeaderEnd, MAX_HEADER_BYTES, parseHeaderLine, type ResponseHeader } from '../protocol/header.js';
import {
  headerFields,
  type Completion,
  type PeerInfo,
  type ResponseFields,
  type StreamingResponse,
  type Termination,
  type Timings,
  type TlsInfo,
} from './response.js';
import { connectTls, isResetError, isTlsProtocolError, type TlsConnection } from './transport.js';
import { limitMs, timerDelay } from './timers.js';
import type { GeminiUrl } from '../protocol/url.js';
import type { LookupFunction } from './dns-cache.js';

/** Timeouts, in milliseconds. `Infinity` (or 0) disables one. */
export interface Timeouts {
  /** TCP connection, DNS included. */
  connectTimeout: number;
  /** TLS handshake. */
  handshakeTimeout: number;
  /** From the request being sent to the end of the response header (for a Titan upload: from the last body byte sent). */
  headerTimeout: number;
  /**
   * Longest silence between two body chunks (not counted while the consumer
   * applies backpressure); for a Titan upload, also the longest wait for the
   * server to accept more of the body, and for a body stream to give more
   * bytes (empty chunks are none).
   */
  idleTimeout: number;
  /** The whole request, from connecting to the end of the body; through a `Client`, every redirect and input round included. */
  totalTimeout: number;
}

/** Everything one transaction needs. @internal */
export interface TransactionOptions extends Timeouts {
  url: GeminiUrl;
  /** Where to connect, when not the URL's own host (a proxy). */
  connectTo?: { host: string; port: number; servername: string | undefined };
  family?: 0 | 4 | 6;
  /** Resolves the host to connect to (see `connectTls`). */
  lookup?: LookupFunction | undefined;
  /** Body bytes to deliver at most; the response ends as `size_limit` beyond it. */
  maxBytes: number;
  signal?: AbortSignal | undefined;
  tlsOptions?: tls.ConnectionOptions;
  /**
   * Decides whether to trust the server; throws to refuse. Runs before any
   * request byte is sent. `signal` aborts when the request gives up waiting
   * for it (deadline or the caller's signal): the check must then leave no
   * side effect (no pin written).
   */
  verifyPeer: (connection: TlsConnection, presented: X509Certificate | undefined, signal: AbortSignal) => Promise<TlsInfo>;
  redirects: readonly string[];
  /** The request line (without CRLF) when it is not `url.href`: a Titan upload's, whose `url.href` hides the token. */
  requestLine?: string;
  /** Sends a request body after the request line (a Titan upload); the header timeout starts once it is all sent. */
  body?: BodySender;
  /**
   * `performance.now()` time by which the whole request must end, when it started
   * earlier (a redirect chain shares one `totalTimeout`). The sooner of this and
   * `totalTimeout` applies; either ends the request as a `total` timeout.
   */
  deadline?: number;
}

/**
 * Writes a request body (Titan) to the connection, after the request line.
 * `send` resolves once every byte was handed to the socket and rejects (with a
 * GeminiError) when the body cannot be sent as declared; after `stop` it
 * writes nothing more and resolves soon. A rejection ends the transaction
 * with that error and the connection destroyed.
 */
export interface BodySender {
  send(socket: tls.TLSSocket): Promise<void>;
  stop(): void;
}

/**
 * Bytes the body buffers before the socket is paused. The transport hands TLS
 * up to 256 KiB of ciphertext at once, all decrypted in one go: a body that
 * holds a whole burst keeps a consumer that keeps up from pausing and resuming
 * every layer several times per burst (which halved bulk throughput).
 */
const BODY_HIGH_WATER_MARK = 512 * 1024;


/**
 * Performs one transaction and resolves when the header has arrived. Rejects
 * (with a {@link GeminiError}) only when there is no header to return; from
 * then on every ending is reported through `done`.
 */
export async function sendRequest(options: TransactionOptions): Promise<StreamingResponse> {
  const started = performance.now();
  const deadline = Math.min(started + limitMs(options.totalTimeout), options.deadline ?? Infinity);
  const { url, signal } = options;
  const target = options.connectTo ?? { host: url.host, port: url.port, servername: url.servername };
  const remaining = (): number => deadline - performance.now();
  const bounded = (ms: number): number => timerDelay(Math.min(limitMs(ms), remaining()));
  const totalFired = (limit: number): boolean => limitMs(options.totalTimeout) <= limitMs(limit) || remaining() <= 1;

  const totalTimeout = (): TimeoutError => new TimeoutError('total', options.totalTimeout, { url: url.href });
  const aborted = (): AbortError => new AbortError({ url: url.href, cause: signal?.reason });

  let connection: TlsConnection;
  try {
    // The handshake timer starts once TCP is up, so connectTls alone could overrun the deadline by the connect time.
    const connecting = connectTls({
      host: target.host,
      port: target.port,
      servername: target.servername,
      family: options.family ?? 0,
      lookup: options.lookup,
      connectTimeout: bounded(options.connectTimeout),
      handshakeTimeout: bounded(options.handshakeTimeout),
      signal,
      url: url.href,
      tlsOptions: options.tlsOptions,
    });
    connection = await beforeDeadline(connecting, remaining(), undefined, {
      timeout: totalTimeout,
      aborted,
      discard: (late) => late.destroy(),
    });
  } catch (err) {
    if (err instanceof TimeoutError && err.phase !== 'total' && totalFired(err.phase === 'connect' ? options.connectTimeout : options.handshakeTimeout)) {
      throw totalTimeout();
    }
    throw err;
  }

  // Node hands the certificate out once per connection: read here, it serves both the trust check and `peer`.
  const presented = connection.socket.isSessionReused() ? undefined : connection.socket.getPeerX509Certificate();
  const peer: PeerInfo = { address: connection.raw.remoteAddress, port: connection.raw.remotePort, certificate: presented?.raw };
  let tlsInfo: TlsInfo;
  try {
    // The trust check may wait for the known-hosts lock: bound it by the deadline and the signal too,
    // and stop it (so it writes no pin) the moment the request gives up on it.
    const trustCheck = new AbortController();
    tlsInfo = await beforeDeadline(options.verifyPeer(connection, presented, trustCheck.signal), remaining(), signal, {
      timeout: totalTimeout,
      aborted,
      discard: () => {},
      onGiveUp: () => trustCheck.abort(),
    });
    if (signal?.aborted) throw aborted();
    // The trust check may have waited (the known-hosts file): the server may have closed meanwhile,
    // and nothing would tell the response reader, which listens only from the next line on.
    if (connection.end !== undefined || connection.socket.destroyed) {
      throw new NetworkError('ERR_CONNECTION_CLOSED', `server closed the connection before the request was sent to ${url.href}`, { url: url.href });
    }
  } catch (err) {
    connection.destroy();
    throw err;
  }

  connection.socket.write(`${options.requestLine ?? url.href}\r\n`);
  const timings: Timings = { connect: connection.timings.connect, secure: connection.timings.secure, header: 0 };
  const closed = new Promise<void>((resolve) => {
    if (connection.raw.destroyed) resolve();
    else connection.raw.once('close', () => resolve());
  });
  const reader = new ResponseReader(connection, options, started, deadline, timings);
  const header = options.body ? await headerAfterBody(reader, options.body, connection) : await reader.header;
  const fields: ResponseFields = {
    url: url.href,
    ...headerFields(header),
    redirects: options.redirects,
    redirectNotFollowed: undefined,
    tls: tlsInfo,
    timings,
    rawHeader: reader.rawHeader,
    peer,
  };
  return {
    ...fields,
    body: reader.body,
    done: reader.done,
    closed,
    cancel: () => reader.finish('aborted'),
  };
}

/**
 * Sends the request body while waiting for the header: a server may answer
 * before the body is all sent (a refusal), and then nothing more is sent. A
 * body that cannot be sent as declared ends the transaction with its error.
 */
async function headerAfterBody(reader: ResponseReader, body: BodySender, connection: TlsConnection): Promise<ResponseHeader> {
  const sending = body.send(connection.socket);
  sending.then(() => reader.startHeaderTimer(), () => {});
  const failed = sending.then(() => new Promise<never>(() => {}));
  try {
    return await Promise.race([reader.header, failed]);
  } catch (err) {
    reader.finish('aborted'); // destroys the connection; a no-op when the header failed first
    throw err;
  } finally {
    body.stop();
  }
}

/**
 * Settles as `pending` does, unless `remainingMs` pass or `signal` aborts
 * first: then rejects with `errors.timeout()` or `errors.aborted()`, and hands
 * whatever `pending` resolves with later to `errors.discard` (so a connection
 * that arrives too late is closed, not leaked); a late rejection is ignored.
 * `errors.onGiveUp` runs at once when it gives up, before the rejection is seen.
 */
function beforeDeadline<T>(
  pending: Promise<T>,
  remainingMs: number,
  signal: AbortSignal | undefined,
  errors: { timeout: () => Error; aborted: () => Error; discard: (late: T) => void; onGiveUp?: () => void },
): Promise<T> {
  if (remainingMs === Infinity && signal === undefined) return pending;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const giveUp = (err: Error): void => {
      if (!settle()) return;
      errors.onGiveUp?.();
      pending.then(errors.discard, () => {});
      reject(err);
    };
    const onAbort = (): void => giveUp(errors.aborted());
    pending.then(
      (value) => settle() && resolve(value),
      (err: unknown) => settle() && reject(err),
    );
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    if (remainingMs !== Infinity) timer = setTimeout(() => giveUp(errors.timeout()), timerDelay(remainingMs));
  });
}

/**
 * Reads one response from a connection: the header under its byte and time
 * limits, then the body under maxBytes, idle, total and abort.
 */
class ResponseReader {
  readonly header: Promise<ResponseHeader>;
  /** The header line as received (CRLF or LF included); set when `header` resolves. */
  rawHeader: Buffer = Buffer.alloc(0);
  readonly done: Promise<Completion>;
  readonly body: Readable;

  readonly #connection: TlsConnection;
  readonly #socket: tls.TLSSocket;
  readonly #options: TransactionOptions;
  readonly #started: number;
  #phase: 'header' | 'body' | 'ended' = 'header';
  #headerBytes: Buffer = Buffer.alloc(0);
  #parsed: ResponseHeader | undefined;
  #bytes = 0;
  #ignoredBytes = 0;
  #timers: { header?: NodeJS.Timeout; idle?: NodeJS.Timeout; total?: NodeJS.Timeout } = {};
  #resolveHeader!: (header: ResponseHeader) => void;
  #rejectHeader!: (err: Error) => void;
  #resolveDone!: (completion: Completion) => void;
  #lastError: Error | undefined;
  readonly #timings: Timings;
  readonly #idleMs: number;
  /** `performance.now()` of the last body activity (a chunk, or the consumer asking for more). */
  #lastActivity = 0;
  /** The consumer applies backpressure: silence does not count. */
  #idleStopped = false;

  constructor(connection: TlsConnection, options: TransactionOptions, started: number, deadline: number, timings: Timings) {
    this.#connection = connection;
    this.#timings = timings;
    this.#socket = connection.socket;
    this.#options = options;
    this.#started = started;
    this.#idleMs = limitMs(options.idleTimeout);
    this.header = new Promise((resolve, reject) => {
      this.#resolveHeader = resolve;
      this.#rejectHeader = reject;
    });
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    this.body = new Readable({
      highWaterMark: BODY_HIGH_WATER_MARK,
      read: () => this.#resume(),
      destroy: (err, callback) => {
        this.finish('aborted');
        callback(err);
      },
    });

    this.#socket.on('data', this.#onData);
    this.#socket.on('end', this.#onEnd);
    this.#socket.on('error', this.#onError);
    this.#socket.on('close', this.#onClose);
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });

    if (!options.body) this.startHeaderTimer();
    const total = deadline - performance.now();
    if (total !== Infinity) {
      this.#timers.total = setTimeout(() => this.#onTotalTimeout(), timerDelay(total));
    }
  }

  /** Starts the header timeout: at once for a plain request, once the body is sent for an upload. */
  startHeaderTimer(): void {
    const headerTimeout = limitMs(this.#options.headerTimeout);
    if (headerTimeout === Infinity || this.#phase !== 'header') return;
    this.#timers.header = setTimeout(
      () => afterPendingIo(() => this.#failHeader(new TimeoutError('header', headerTimeout, { url: this.#url }))),
      timerDelay(headerTimeout),
    );
  }

  get #url(): string {
    return this.#options.url.href;
  }

  #onData = (chunk: Buffer): void => {
    if (this.#phase === 'header') this.#readHeader(chunk);
    else if (this.#phase === 'body') this.#readBody(chunk);
  };

  #readHeader(chunk: Buffer): void {
    const buffered = this.#headerBytes.length === 0 ? chunk : Buffer.concat([this.#headerBytes, chunk]);
    let end: { lineEnd: number; bodyStart: number } | null;
    try {
      end = findHeaderEnd(buffered, MAX_HEADER_BYTES);
    } catch (err) {
      this.#failHeader(err instanceof HeaderError ? this.#withUrl(err) : (err as Error));
      return;
    }
    if (end === null) {
      this.#headerBytes = Buffer.from(buffered);
      return;
    }
    let header: ResponseHeader;
    try {
      header = parseHeaderLine(buffered.subarray(0, end.lineEnd), { url: this.#url });
    } catch (err) {
      this.#failHeader(err instanceof HeaderError ? this.#withUrl(err) : (err as Error));
      return;
    }
    this.#timings.header = performance.now() - this.#started;
    this.rawHeader = Buffer.from(buffered.subarray(0, end.bodyStart));
    this.#headerBytes = Buffer.alloc(0);
    clearTimeout(this.#timers.header);
    this.#parsed = header;
    this.#phase = 'body';
    this.#armIdle();
    this.#resolveHeader(header);
    const rest = buffered.subarray(end.bodyStart);
    if (rest.length > 0) this.#readBody(rest);
  }

  #readBody(chunk: Buffer): void {
    this.#armIdle();
    if (this.#parsed?.category !== 2) {
      // Only 2x responses have a body: bytes after another header are dropped, but still bounded by maxBytes.
      this.#ignoredBytes += chunk.length;
      if (this.#ignoredBytes > this.#options.maxBytes) this.finish('size_limit');
      return;
    }
    const room = this.#options.maxBytes - this.#bytes;
    if (chunk.length > room) {
      if (room > 0) this.#deliver(chunk.subarray(0, room));
      this.finish('size_limit');
      return;
    }
    this.#deliver(chunk);
  }

  #deliver(chunk: Buffer): void {
    this.#bytes += chunk.length;
    if (!this.body.push(chunk)) {
      this.#socket.pause();
      this.#stopIdle();
    }
  }

  #resume(): void {
    if (this.#phase !== 'body') return;
    this.#armIdle();
    this.#socket.resume();
  }

  /**
   * Restarts the idle clock. Called for every body chunk, so it only notes the
   * time: one timer per response checks it lazily (refreshing a timer per chunk
   * costs more than the rest of the chunk's handling).
   */
  #armIdle(): void {
    if (this.#idleMs === Infinity || this.#phase !== 'body') return;
    this.#lastActivity = performance.now();
    this.#idleStopped = false;
    this.#timers.idle ??= setTimeout(this.#onIdleTimer, timerDelay(this.#idleMs));
  }

  /** Stops the idle clock while the consumer holds us back; {@link #armIdle} starts it again. */
  #stopIdle(): void {
    this.#idleStopped = true;
  }

  #onIdleTimer = (): void => {
    this.#timers.idle = undefined;
    if (this.#phase !== 'body' || this.#idleStopped) return; // re-armed on resume
    const left = this.#idleMs - (performance.now() - this.#lastActivity);
    // Node timers run on a millisecond clock: a timer may fire a fraction of a millisecond early.
    if (left > 0.5) this.#timers.idle = setTimeout(this.#onIdleTimer, timerDelay(left));
    else {
      const lastSeen = this.#lastActivity;
      afterPendingIo(() => {
        if (this.#phase !== 'body' || this.#idleStopped) return;
        if (this.#lastActivity === lastSeen) this.finish('timeout', { timeout: 'idle' });
        else this.#timers.idle ??= setTimeout(this.#onIdleTimer, timerDelay(this.#idleMs));
      });
    }
  };

  #onEnd = (): void => {
    if (this.#phase === 'header') {
      this.#failHeader(this.#closedBeforeHeader());
      return;
    }
    this.finish(this.#connection.end ?? 'tcp_fin');
  };

  #onError = (err: Error): void => {
    this.#lastError = err;
    if (this.#phase === 'header') {
      this.#failHeader(
        isTlsProtocolError(err)
          ? new TlsError(`TLS error before the response header from ${this.#url}: the server ${tlsFailureReason(err, 'stream')}`, { url: this.#url, cause: err })
          : new NetworkError('ERR_CONNECTION_CLOSED', `connection to ${this.#url} failed before the response header: ${err.message}`, {
              url: this.#url,
              cause: err,
              syscallCode: (err as NodeJS.ErrnoException).code,
            }),
      );
      return;
    }
    this.finish(isTlsProtocolError(err) ? 'tls_error' : isResetError(err) ? 'tcp_reset' : (this.#connection.end ?? 'tcp_reset'), { error: err });
  };

  #onClose = (): void => {
    if (this.#phase === 'header') {
      this.#failHeader(this.#closedBeforeHeader());
      return;
    }
    // Closed before 'end': bytes TLS still held may never have reached us, whatever ended the stream.
    const end = this.#connection.end;
    this.finish(end === undefined || end === 'close_notify' ? 'tcp_reset' : end, this.#lastError ? { error: this.#lastError } : {});
  };

  #onAbort = (): void => {
    if (this.#phase === 'header') this.#failHeader(new AbortError({ url: this.#url, cause: this.#options.signal?.reason }));
    else this.finish('aborted');
  };

  #onTotalTimeout(): void {
    if (this.#phase === 'header') this.#failHeader(new TimeoutError('total', this.#options.totalTimeout, { url: this.#url }));
    else this.finish('timeout', { timeout: 'total' });
  }

  /**
   * The header parser's messages name no URL: name it in the message (after
   * redirects it is not the URL the caller gave) and on the error.
   */
  #withUrl(err: HeaderError): HeaderError {
    const code = err.code === 'ERR_HEADER_TOO_LONG' ? 'ERR_HEADER_TOO_LONG' : 'ERR_BAD_HEADER';
    return new HeaderError(`bad response header from ${this.#url}: ${err.message}`, { url: this.#url, code, received: err.received });
  }

  #closedBeforeHeader(): Error {
    const received = this.#headerBytes.length;
    const how = this.#connection.end === 'close_notify' ? 'with close_notify' : 'without close_notify';
    return received === 0
      ? new NetworkError('ERR_CONNECTION_CLOSED', `server closed the connection (${how}) without sending a response header for ${this.#url}`, { url: this.#url })
      : new HeaderError(`server closed the connection (${how}) after ${received} bytes of an unterminated response header for ${this.#url}`, {
          url: this.#url,
          received: this.#headerBytes.subarray(0, 64),
        });
  }

  /**
   * Ends a transaction that has no header: `header` rejects with `err`. `done`
   * is resolved too (as `aborted`) only so nothing stays pending; no caller
   * ever sees it, since a response object exists only once the header arrived.
   */
  #failHeader(err: Error): void {
    if (this.#phase !== 'header') return;
    this.#phase = 'ended';
    this.#teardown(true);
    this.#rejectHeader(err);
    this.body.push(null);
    this.#resolveDone({ complete: false, termination: 'aborted', bytes: 0, error: err });
  }

  /** Ends the response with the given reason, keeping every byte already delivered. Idempotent. */
  finish(termination: Termination, extra: { timeout?: 'idle' | 'total'; error?: Error } = {}): void {
    if (this.#phase === 'header') {
      this.#failHeader(new AbortError({ url: this.#url }));
      return;
    }
    if (this.#phase === 'ended') return;
    this.#phase = 'ended';
    const orderly = termination === 'close_notify' || termination === 'tcp_fin';
    this.#teardown(!orderly);
    this.#timings.total = performance.now() - this.#started;
    const completion: Completion = { complete: termination === 'close_notify', termination, bytes: this.#bytes };
    if (extra.timeout) completion.timeout = extra.timeout;
    if (extra.error) completion.error = extra.error;
    if (!this.body.destroyed) this.body.push(null);
    this.#resolveDone(completion);
  }

  #teardown(destroyNow: boolean): void {
    clearTimeout(this.#timers.header);
    clearTimeout(this.#timers.idle);
    clearTimeout(this.#timers.total);
    this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onClose);
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    // Keep an error listener: a late ECONNRESET on our close_notify reply must not crash the process.
    this.#socket.off('error', this.#onError);
    this.#socket.on('error', () => {});
    if (destroyNow) {
      this.#connection.destroy();
      return;
    }
    // The stream ended in order: answer with our own close_notify, then let go.
    this.#socket.end();
    setTimeout(() => this.#connection.destroy(), 1000).unref();
  }
}

/**
 * Runs `decide` once the event loop has read the I/O that is already waiting.
 * Timers run before the poll phase in each turn of the loop: on a busy machine
 * a limit can fire while the bytes that beat it sit unread in the socket. A
 * limit that fires is judged after that phase, so late reading is not taken
 * for a silent server.
 */
function afterPendingIo(decide: () => void): void {
  setImmediate(decide);
}
