/**
 * One machine-readable record per fetched URL: the shape of `gemfetch --json`,
 * of every `batch` line and of every `crawl` line.
 */
import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { Client, RequestOptions } from './client.js';
import { GeminiError } from './errors.js';
import type { Completion, StreamingResponse, Termination, Timings } from './response.js';

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
  timings: { connect: number; secure: number; header: number; total: number | null } | null;
  /** Which timeout ended the response, for `termination: 'timeout'`. */
  timeout: 'idle' | 'total' | null;
  /** Set when there was no response: the error's stable code and its message. */
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
 * and written to `sink` if given (with backpressure), never buffered. Rejects
 * only when the sink or a callback fails; the connection is then closed.
 */
export async function fetchToRecord(client: Client, url: string, options: RecordFetchOptions = {}): Promise<FetchRecord> {
  const { sink, onChunk, onHeader, ...requestOptions } = options;
  let response: StreamingResponse;
  try {
    response = await client.request(url, requestOptions);
  } catch (err) {
    return errorRecord(url, err);
  }
  onHeader?.(response);
  const hash = createHash('sha256');
  for await (const chunk of response.body) {
    const bytes = chunk as Buffer;
    hash.update(bytes);
    onChunk?.(bytes);
    if (sink && !sink.write(bytes)) await drained(sink);
  }
  const completion = await response.done;
  return responseRecord(url, response, completion, hash.digest('hex'));
}

/** Resolves when `sink` drains; rejects if it errors or closes first (a closed sink never drains). */
function drained(sink: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      sink.off('drain', onDrain);
      sink.off('error', onError);
      sink.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    const onError = (err: Error): void => done(err);
    const onClose = (): void => done(new Error('the sink closed before the body was written'));
    sink.on('drain', onDrain);
    sink.on('error', onError);
    sink.on('close', onClose);
  });
}

/** The record of a response. */
export function responseRecord(url: string, response: StreamingResponse, completion: Completion, sha256: string): FetchRecord {
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
