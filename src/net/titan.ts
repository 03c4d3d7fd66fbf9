/**
 * Titan uploads: the body of an upload, how it is sent (with backpressure,
 * exactly `size` bytes or not at all), and what an upload returns. The
 * transaction itself is the client's ordinary one (client.ts): same trust,
 * client certificate, timeouts and redirects as gemini://.
 */
import type * as tls from 'node:tls';
import { InvalidOptionError, TimeoutError, UploadError } from '../errors.js';
import { DEFAULT_TITAN_MIME, parseTitanUrl, titanRequest, type TitanRequest, type TitanUrl } from '../protocol/titan-url.js';
import type { RequestOptions } from './client.js';
import type { BodySender } from './request.js';
import { GeminiResponse, type Completion, type ResponseFields } from './response.js';
import { timerDelay } from './timers.js';

/**
 * What can be uploaded: bytes, a string (sent as UTF-8), or a stream of
 * chunks (a `Readable`, or any async iterable of `Uint8Array`/string) whose
 * length must then be given as `size`.
 */
export type UploadBody = Uint8Array | string | AsyncIterable<Uint8Array | string>;

/** Options of an upload: the request options, plus the Titan parameters. */
export interface UploadOptions extends Omit<RequestOptions, 'input'> {
  /** MIME type of the body, `type/subtype`. Default: the URL's `;mime=`, else `text/gemini`. */
  mime?: string;
  /** A token some servers require (sent percent-encoded). Default: the URL's `;token=`, else none. */
  token?: string;
  /**
   * Bytes the body holds. Required for a stream (unless the URL has `;size=`);
   * for bytes or a string, it must equal their length when given.
   */
  size?: number;
  /** Called after each chunk of the body is handed to the connection, with the total so far. */
  onProgress?: (bytesSent: number) => void;
}

/** What happened to the body of an upload. */
export interface UploadReport {
  /** The Titan URL sent, parameters included, the token's value shown as `***`. */
  url: string;
  mime: string;
  /** The size declared in the request. */
  size: number;
  /** Body bytes handed to the connection. */
  bytesSent: number;
  /**
   * True when all `size` bytes were handed to the connection. False when the
   * server answered first (a refusal, usually): nothing more was sent after
   * its header, and the rest of the body was not read.
   */
  finished: boolean;
}

/** The response to an upload: a Gemini response (after any redirect followed) plus what was sent. */
export class UploadResponse extends GeminiResponse {
  readonly upload: UploadReport;

  /** @internal */
  constructor(fields: ResponseFields, body: Buffer, completion: Completion, upload: UploadReport) {
    super(fields, body, completion);
    this.upload = upload;
  }
}

/** An upload ready to be sent: where, the request line, the body's sender, and what to report once done. */
export interface PreparedUpload {
  target: TitanUrl;
  request: TitanRequest;
  sender: UploadSender;
  report(): UploadReport;
}

/**
 * Checks an upload's body and Titan parameters (options first, then those
 * written in the URL) and builds its request line and sender. No I/O.
 * @throws InvalidUrlError for a bad Titan URL or parameter; InvalidOptionError
 *   for a body of another kind, bytes whose length is not `size`, or a stream without `size`.
 */
export function prepareUpload(
  url: string,
  body: unknown,
  params: Pick<UploadOptions, 'mime' | 'token' | 'size' | 'onProgress'>,
  idleMs: number,
): PreparedUpload {
  const target = parseTitanUrl(url);
  const source = uploadSource(body);
  if (!source) throw new InvalidOptionError('the upload body must be a Buffer, a Uint8Array, a string or an async iterable (a Readable) of them');
  const declared = params.size ?? target.params.size;
  if (source.length !== undefined && declared !== undefined && declared !== source.length) {
    throw new InvalidOptionError(`upload size ${declared} does not match the body, which holds ${source.length} bytes`);
  }
  const size = source.length ?? declared;
  if (size === undefined) throw new InvalidOptionError('option size is required to upload a stream (the Titan request states the length first)');
  const mime = params.mime ?? target.params.mime ?? DEFAULT_TITAN_MIME;
  const request = titanRequest(target, { mime, size, token: params.token ?? target.params.token });
  const sender = new UploadSender(source.chunks, { size, idleMs, url: request.shown, onProgress: params.onProgress });
  return {
    target,
    request,
    sender,
    report: () => ({ url: request.shown, mime, size, bytesSent: sender.bytesSent, finished: sender.finished }),
  };
}

/** Pieces a bytes body is written in: progress and an early answer are seen between them. */
const WRITE_CHUNK = 64 * 1024;

/** The body as a stream of Buffers, and its length when known without reading it. */
export interface UploadSource {
  chunks: AsyncIterable<Uint8Array | string>;
  /** Length of a bytes or string body; undefined for a stream. */
  length: number | undefined;
}

/** Normalises an upload body; `undefined` when it is none of the accepted kinds. */
export function uploadSource(body: unknown): UploadSource | undefined {
  if (typeof body === 'string') return bytesSource(Buffer.from(body, 'utf8'));
  if (body instanceof Uint8Array) return bytesSource(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  if (body !== null && typeof body === 'object' && typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    return { chunks: body as AsyncIterable<Uint8Array | string>, length: undefined };
  }
  return undefined;
}

function bytesSource(bytes: Buffer): UploadSource {
  return {
    length: bytes.length,
    chunks: (async function* () {
      for (let offset = 0; offset < bytes.length; offset += WRITE_CHUNK) yield bytes.subarray(offset, offset + WRITE_CHUNK);
    })(),
  };
}

/**
 * Sends an upload body: exactly `size` bytes, with backpressure, and stops
 * the moment it is told to (the server answered). The last chunk is held back
 * until the body has ended, so a body longer than `size` is caught before the
 * server has `size` bytes: a server never receives a cut body that looks whole.
 */
export class UploadSender implements BodySender {
  readonly #chunks: AsyncIterable<Uint8Array | string>;
  readonly #size: number;
  readonly #idleMs: number;
  readonly #url: string;
  readonly #onProgress: ((bytesSent: number) => void) | undefined;
  #bytesSent = 0;
  #finished = false;
  #stopped = false;
  #wake: (() => void) | undefined;

  constructor(chunks: AsyncIterable<Uint8Array | string>, options: { size: number; idleMs: number; url: string; onProgress?: ((bytesSent: number) => void) | undefined }) {
    this.#chunks = chunks;
    this.#size = options.size;
    this.#idleMs = options.idleMs;
    this.#url = options.url;
    this.#onProgress = options.onProgress;
  }

  get bytesSent(): number {
    return this.#bytesSent;
  }

  get finished(): boolean {
    return this.#finished;
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  async send(socket: tls.TLSSocket): Promise<void> {
    const iterator = this.#chunks[Symbol.asyncIterator]();
    let given = 0;
    let held: Buffer | undefined;
    try {
      for (;;) {
        const chunk = await this.#nextBytes(iterator);
        if (chunk === undefined) return;
        if (chunk === null) break;
        given += chunk.length;
        if (given > this.#size) throw this.#mismatch(given, true);
        if (held) await this.#write(socket, held);
        held = chunk;
      }
      if (given !== this.#size) throw this.#mismatch(given, false);
      if (held) await this.#write(socket, held);
      // An answer may arrive while the last write drains: the body was still handed over whole.
      this.#finished = this.#bytesSent === this.#size;
    } catch (err) {
      if (err instanceof UploadError || err instanceof TimeoutError) throw err;
      throw new UploadError('ERR_UPLOAD_BODY', `reading the upload body for ${this.#url} failed: ${err instanceof Error ? err.message : String(err)}`, {
        url: this.#url,
        cause: err,
        size: this.#size,
        given,
        bytesSent: this.#bytesSent,
      });
    } finally {
      // Stop reading the source unless it was read to its end. A stream is destroyed directly: an
      // iterator's return() waits for a pending next(), which a stalled source never settles.
      if (!this.#finished) {
        const destroy = (this.#chunks as { destroy?: unknown }).destroy;
        if (typeof destroy === 'function') destroy.call(this.#chunks);
        else Promise.resolve(iterator.return?.()).catch(() => {});
      }
    }
  }

  #mismatch(given: number, longer: boolean): UploadError {
    const message = longer
      ? `upload body for ${this.#url} is longer than its declared size of ${this.#size} bytes (at least ${given} bytes given): the upload was stopped and the connection closed`
      : `upload body for ${this.#url} ended after ${given} bytes, but its declared size is ${this.#size} bytes: the upload was stopped and the connection closed`;
    return new UploadError('ERR_UPLOAD_SIZE', message, { url: this.#url, size: this.#size, given, bytesSent: this.#bytesSent });
  }

  /**
   * The body's next chunk that holds bytes; null once the body has ended,
   * undefined as soon as the sender is stopped. Rejects with a `source`
   * timeout when the body gives no bytes for `idleTimeout`: empty chunks are
   * no bytes, so a source yielding only those times out too, and between two
   * of them the event loop runs (stop, abort and timers are not starved).
   */
  async #nextBytes(iterator: AsyncIterator<Uint8Array | string>): Promise<Buffer | null | undefined> {
    const started = performance.now();
    for (;;) {
      const left = this.#idleMs - (performance.now() - started);
      if (left <= 0) throw new TimeoutError('source', this.#idleMs, { url: this.#url });
      const next = await this.#unlessStopped(iterator.next(), left);
      if (next === undefined) return undefined;
      if (next.done) return null;
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value, 'utf8') : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      if (chunk.length > 0) return chunk;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Settles as `pending` does, or with undefined as soon as the sender is
   * stopped, or rejects with a `source` timeout after `limitMs` (Infinity:
   * never). Its timer ends with it: none is left running once the sender is
   * stopped (a server that answered early) while `pending` never settles.
   */
  async #unlessStopped<T>(pending: Promise<T>, limitMs: number): Promise<T | undefined> {
    if (this.#stopped) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const stoppedOrLate = new Promise<undefined>((resolve, reject) => {
      this.#wake = () => resolve(undefined);
      if (limitMs !== Infinity) timer = setTimeout(() => reject(new TimeoutError('source', this.#idleMs, { url: this.#url })), timerDelay(limitMs));
    });
    try {
      return await Promise.race([pending, stoppedOrLate]);
    } finally {
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }

  async #write(socket: tls.TLSSocket, chunk: Buffer): Promise<void> {
    if (this.#stopped || socket.destroyed || socket.writableEnded) {
      this.#stopped = true;
      return;
    }
    this.#bytesSent += chunk.length;
    const drained = socket.write(chunk);
    this.#onProgress?.(this.#bytesSent);
    if (!drained) await this.#drained(socket);
  }

  /** Waits for the socket to drain, at most `idleTimeout`; a stop or a closed socket ends the wait (the response reader reports a closed connection). */
  #drained(socket: tls.TLSSocket): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.off('drain', done);
        socket.off('close', done);
        this.#wake = undefined;
      };
      const done = (): void => {
        cleanup();
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
      this.#wake = done;
      if (this.#idleMs !== Infinity) {
        timer = setTimeout(() => {
          cleanup();
          reject(new TimeoutError('upload', this.#idleMs, { url: this.#url }));
        }, timerDelay(this.#idleMs));
      }
    });
  }
}
