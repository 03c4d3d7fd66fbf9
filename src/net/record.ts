/**
 * One machine-readable record per fetched URL: the shape of `gemfetch --json`,
 * of every `batch` line and of every `crawl` line.
 */
import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { Client, RequestOptions } from './client.js';
import { GeminiError } from '../errors.js';
import type { Completion, ResponseFields, StreamingResponse, Termination, Timings } from './response.js';

/** A record of one fetch. Every field is always present; `null` where it does not apply. */
export interface FetchRecord {
  /** The URL as requested (before redirects). */
  url: string;
  /** The URL that produced the response, after redirects. */
  finalUrl: string | null;
  status: number | null;
  meta: string | null;
  mimeType: string | null;
  /** True only for a response ended by close_notify with nothing of ours cutting it. */
  complete: boolean;
  termination: Termination | null;
  /** Body bytes received. */
  bytes: number;
  /** SHA-256 (hex) of the body bytes received (the hash of no bytes for a non-2x response), null without a response. */
  sha256: string | null;
  redirects: string[];
  /** Where a redirect pointed when it was not followed, and why. */
  redirectNotFollowed: { target: string; reason: string } | null;
  tls: { protocol: string; cipher: string; fingerprint: string; trust: string; resumed: boolean } | null;
  /** The identity (client certificate) offered with the request that produced the response: its name (null when it has none, e.g. `--cert`) and SPKI SHA-256; null when none was. */
  identity: { name: string | null; fingerprint: string } | null;
  timings: { connect: number; secure: number; header: number; total: number | null } | null;
  /** Which timeout ended the response, for `termination: 'timeout'`. */
  timeout: 'idle' | 'total' | null;
  /**
   * The error's stable code and its message: set when there was no response,
   * and also beside a response when something of ours cut it short (a bulk run
   * interrupted: `ERR_ABORTED` with the `bytes` received; the CLI could not
   * write the body: `ERR_OUTPUT`, `ERR_OUTPUT_CLOSED`). Null otherwise.
   */
  error: { code: string; message: string } | null;
}

/** Options of {@link fetchToRecord}. */
export interface RecordFetchOptions extends RequestOptions {
  /** Where to write the body as it streams (left open: the caller ends it). */
  sink?: Writable;
  /** Called with each body chunk, e.g. to parse links or show progress. */
  onChunk?: (chunk: Buffer) => void;
  /** Called once the header has arrived. */
  onHeader?: (response: StreamingResponse) => void;
}

/**
 * Fetches a URL and reduces the outcome to a {@link FetchRecord}. Never
 * rejects for a fetch failure: errors become `record.error` (an unexpected
 * non-gemfetch error gets code `ERR_INTERNAL`). The body is hashed, counted
 * and written to `sink` if given (with backpressure), never buffered.
 *
 * Rejects only when the sink or a callback fails: a callback throws, or the
 * sink errors, is destroyed, or is ended by someone else before the body is
 * written (a sink that has already failed rejects at the next chunk, without
 * waiting). The connection is then closed at once. While the body is written,
 * an 'error' listener is kept on the sink, so a failing sink without a
 * listener of its own does not crash the process; its error becomes the
 * rejection.
 */
export async function fetchToRecord(client: Client, url: string, options: RecordFetchOptions = {}): Promise<FetchRecord> {
  const { sink, onChunk, onHeader, ...requestOptions } = options;
  let response: StreamingResponse;
  try {
    response = await client.request(url, requestOptions);
  } catch (err) {
    return errorRecord(url, err);
  }
  let sha256: string;
  try {
    onHeader?.(response);
    sha256 = await consumeBody(response, sink, onChunk);
  } catch (err) {
    response.cancel(); // a failed consumer must not leave the connection open (or paused) forever
    throw err;
  }
  const completion = await response.done;
  return responseRecord(url, response, completion, sha256);
}

/** Reads the whole body into the hash, `onChunk` and `sink`; resolves with the SHA-256 hex. Rejects as soon as the sink fails. */
async function consumeBody(response: StreamingResponse, sink: Writable | undefined, onChunk: ((chunk: Buffer) => void) | undefined): Promise<string> {
  const hash = createHash('sha256');
  // A failing sink cancels the response, so a body stalled by the server (or paused by us) ends at once.
  if (!sink) {
    let failure: { error: unknown } | undefined;
    const ended = await readBody(response.body, (chunk) => {
      if (failure) return;
      hash.update(chunk);
      try {
        onChunk?.(chunk);
      } catch (error) {
        failure = { error }; // thrown inside a 'data' event it would escape to the socket: end the response instead
        response.cancel();
      }
    });
    if (failure) throw failure.error;
    if (!ended) response.cancel(); // the body never errors by contract; be safe anyway
    return hash.digest('hex');
  }
  const watch = watchSink(sink, () => response.cancel());
  let written = false;
  try {
    for await (const chunk of response.body) {
      const bytes = chunk as Buffer;
      hash.update(bytes);
      onChunk?.(bytes);
      watch.check();
      written = true;
      if (!sink.write(bytes)) await watch.drained();
    }
    if (written) watch.check(); // the last write may have failed the sink
  } finally {
    watch.release();
  }
  return hash.digest('hex');
}

/** The state of a sink being written to, watched with one set of listeners for the whole body. */
interface SinkWatch {
  /** Throws if the sink has failed (errored, destroyed, closed or ended): writing more would be lost. */
  check(): void;
  /** Resolves when the sink drains; rejects at once if it has failed or when it fails first (a failed sink never drains). */
  drained(): Promise<void>;
  /** Removes the listeners (keeping the 'error' one until 'close' when an error may still be emitted). */
  release(): void;
}

function watchSink(sink: Writable, onFailure: () => void): SinkWatch {
  let failure: Error | undefined;
  let closed = false;
  let errorSeen = false;
  let wake: (() => void) | undefined;
  const fail = (err: Error): void => {
    if (failure) return;
    failure = err;
    onFailure();
    wake?.();
  };
  const onError = (err: Error): void => {
    errorSeen = true;
    fail(err);
  };
  const onClose = (): void => {
    closed = true;
    fail(new Error('the sink closed before the body was written'));
  };
  const onDrain = (): void => wake?.();
  sink.on('error', onError);
  sink.on('close', onClose);
  sink.on('drain', onDrain);

  // Events that already fired will not fire again: read the state as well.
  const failed = (): Error | undefined => {
    if (failure) return failure;
    if (sink.errored) return sink.errored;
    if (sink.destroyed) return new Error('the sink was destroyed before the body was written');
    if (sink.writableEnded) return new Error('the sink was ended before the body was written');
    return undefined;
  };
  const check = (): void => {
    const err = failed();
    if (err) throw err;
  };
  return {
    check,
    async drained() {
      check();
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
      check();
    },
    release() {
      sink.off('close', onClose);
      sink.off('drain', onDrain);
      // An errored sink may still be about to emit its error: without a listener it would crash the process.
      if (sink.errored && !errorSeen && !closed) sink.once('close', () => sink.off('error', onError));
      else sink.off('error', onError);
    },
  };
}

/** The record of a response. */
export function responseRecord(url: string, response: ResponseFields, completion: Completion, sha256: string): FetchRecord {
  return {
    url,
    finalUrl: response.url,
    status: response.status,
    meta: response.meta,
    mimeType: response.mimeType ?? null,
    complete: completion.complete,
    termination: completion.termination,
    bytes: completion.bytes,
    sha256,
    redirects: [...response.redirects],
    redirectNotFollowed: response.redirectNotFollowed ?? null,
    tls: {
      protocol: response.tls.protocol,
      cipher: response.tls.cipher,
      fingerprint: response.tls.fingerprint,
      trust: response.tls.trust,
      resumed: response.tls.resumed,
    },
    identity: response.tls.identity ? { name: response.tls.identity.name, fingerprint: response.tls.identity.fingerprint } : null,
    timings: roundTimings(response.timings),
    timeout: completion.timeout ?? null,
    error: null,
  };
}

/** The record of a fetch that produced no response. */
export function errorRecord(url: string, err: unknown): FetchRecord {
  const error =
    err instanceof GeminiError
      ? { code: err.code, message: err.message }
      : { code: 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) };
  return {
    url,
    finalUrl: null,
    status: null,
    meta: null,
    mimeType: null,
    complete: false,
    termination: null,
    bytes: 0,
    sha256: null,
    redirects: err instanceof GeminiError && 'chain' in err ? [...(err as { chain: string[] }).chain] : [],
    redirectNotFollowed: null,
    tls: null,
    identity: null,
    timings: null,
    timeout: null,
    error,
  };
}

function roundTimings(timings: Timings): NonNullable<FetchRecord['timings']> {
  const ms = (value: number): number => Math.round(value * 10) / 10;
  return {
    connect: ms(timings.connect),
    secure: ms(timings.secure),
    header: ms(timings.header),
    total: timings.total === undefined ? null : ms(timings.total),
  };
}

/**
 * Hands every chunk of `body` to `onChunk` (flowing mode: `onChunk` is
 * synchronous, so nothing piles up); resolves true at 'end', false if the
 * stream errors or is destroyed first. Never rejects. Does per response what
 * `for await` does, with a handful of listeners instead of an async iterator,
 * `finished()` and one promise per chunk.
 */
function readBody(body: Readable, onChunk: (chunk: Buffer) => void): Promise<boolean> {
  if (body.readableEnded) return Promise.resolve(true);
  if (body.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const settle = (ended: boolean): void => {
      body.off('data', onChunk);
      body.off('end', onEnd);
      body.off('close', onStop);
      body.off('error', onStop);
      // a late error (none by contract) must not crash the process once we stopped listening
      if (!ended) body.on('error', ignore);
      resolve(ended);
    };
    const onEnd = (): void => settle(true);
    const onStop = (): void => settle(false);
    body.on('end', onEnd);
    body.on('close', onStop);
    body.on('error', onStop);
    body.on('data', onChunk);
  });
}

function ignore(): void {}
