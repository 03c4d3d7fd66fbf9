/**
 * `batch`: fetch a list of URLs politely and yield one record per input URL,
 * in completion order, as soon as each is known.
 *
 * Also home of the pieces `crawl` and `survey` share: {@link fetchAttempt}
 * (one request reduced to a record, optionally keeping the body) and
 * {@link RecordChannel} (the async queue behind the iterables).
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import { Client, type RequestOptions } from './client.js';
import { errorRecord, responseRecord, type FetchRecord } from './record.js';
import type { ResponseFields, StreamingResponse } from './response.js';
import { classifyRecord, ERR_HOST_SET_ASIDE, HostScheduler, type HostPolicy } from './host-scheduler.js';
import { parseGeminiUrl, type GeminiUrl } from './url.js';

/** One line of `gemfetch batch`: a {@link FetchRecord} plus the number of attempts made. */
export interface BatchRecord extends FetchRecord {
  /** Requests made for this URL (0 when none was: invalid URL, host set aside). */
  attempts: number;
}

/** Options shared by `batch`, `crawl` and `survey`. */
export interface BulkOptions extends HostPolicy {
  /** Client to use (TLS sessions are reused per host within it). Default: a new `Client()`. */
  client?: Client;
  /** Per-request options (timeouts, trust, maxBytes, redirects...). `signal` is ignored: use `signal` below. */
  requestOptions?: RequestOptions;
  /** Retries after a network failure or a 4x other than 44, with exponential backoff (`retryBackoff`). */
  retries?: number;
  /** Retries of a URL answered with 44 (default 5); the 44 itself is the record after that. */
  slowDownRetries?: number;
  /** Stops everything: no record is yielded after the abort, in-flight requests are cancelled. */
  signal?: AbortSignal;
}

/** Options of {@link batch}. */
export interface BatchOptions extends BulkOptions {
  /**
   * Input URLs read ahead of their completion (default 10 000). Bounds memory:
   * at most this many URLs (queued, running or with a record not yet consumed)
   * are held at once, however long the input.
   */
  readAhead?: number;
}

/** Default retries of `batch` (none: one request per URL unless asked). */
export const DEFAULT_BATCH_RETRIES = 0;
/** Default retries of 44 answers. */
export const DEFAULT_SLOW_DOWN_RETRIES = 5;

/**
 * Fetches every URL of `urls` and yields one {@link BatchRecord} per input
 * string, in completion order.
 *
 * Guarantees: count in = count out (blank lines and `#` comments are the
 * caller's to filter; an invalid URL yields a record with `error.code`
 * `ERR_INVALID_URL` or `ERR_URL_TOO_LONG` and `attempts: 0`; a URL of a host
 * set aside yields `ERR_HOST_SET_ASIDE` when it was never tried, else the
 * outcome of its last attempt), unless `signal` aborts or the
 * consumer stops early. `url` is the input string as given. Politeness per
 * {@link HostPolicy} (hosts keyed by `host:port`); duplicate inputs are
 * fetched again. Redirects are followed as `requestOptions` say (a redirect to
 * another host is not delayed by that host's politeness). Bodies are hashed,
 * never kept.
 */
export async function* batch(urls: Iterable<string> | AsyncIterable<string>, options: BatchOptions = {}): AsyncGenerator<BatchRecord> {
  const client = options.client ?? new Client();
  const controller = linkedController(options.signal);
  const retries = options.retries ?? DEFAULT_BATCH_RETRIES;
  const slowDownRetries = options.slowDownRetries ?? DEFAULT_SLOW_DOWN_RETRIES;
  const readAhead = Math.max(1, options.readAhead ?? 10_000);
  const requestOptions: RequestOptions = { ...options.requestOptions, signal: controller.signal };
  const out = new RecordChannel<BatchRecord>();
  const highWater = Math.max(64, (options.concurrency ?? 16) * 4);
  const scheduler = new HostScheduler(options, () => out.length < highWater);
  out.onPull = () => scheduler.pump();
  let outstanding = 0;
  let inputDone = false;
  let progress: (() => void) | undefined;

  const report = (record: BatchRecord): void => {
    if (controller.signal.aborted) return;
    outstanding--;
    out.push(record);
    progress?.();
    if (inputDone && outstanding === 0) out.end();
  };

  const submit = (input: string): void => {
    outstanding++;
    let target: GeminiUrl;
    try {
      target = parseGeminiUrl(input);
    } catch (err) {
      report({ ...errorRecord(input, err), attempts: 0 });
      return;
    }
    let attempts = 0;
    let last: FetchRecord | undefined;
    scheduler.submit({
      hostKey: target.hostPort,
      run: async (attempt) => {
        attempts = attempt;
        const { record } = await fetchAttempt(client, target.href, requestOptions);
        last = record;
        const outcome = classifyRecord(record, attempt, retries, slowDownRetries);
        if (!outcome.retry || controller.signal.aborted) report(toBatchRecord(record, input, attempts));
        return controller.signal.aborted ? { ...outcome, retry: false } : outcome;
      },
      // a URL already tried keeps the outcome of its last attempt
      setAside: (reason) => report(toBatchRecord(last ?? setAsideRecord(input, reason), input, attempts)),
    });
  };

  const feed = async (): Promise<void> => {
    for await (const input of urls) {
      if (controller.signal.aborted) return;
      while (outstanding + out.length >= readAhead && !controller.signal.aborted) {
        await new Promise<void>((resolve) => (progress = resolve));
        progress = undefined;
      }
      submit(input);
    }
    inputDone = true;
    if (outstanding === 0) out.end();
  };
  const stopAll = (): void => {
    scheduler.stop();
    out.end();
    progress?.();
  };
  controller.signal.addEventListener('abort', stopAll, { once: true });
  feed().catch((err: unknown) => {
    out.fail(err);
    controller.abort();
  });
  try {
    yield* out;
  } finally {
    controller.abort();
  }
}

/**
 * Turns a record this run owns (fresh from {@link fetchAttempt} or
 * {@link setAsideRecord}, not yet handed out) into a {@link BatchRecord} in
 * place: same keys in the same order as `{ ...record, url, attempts }`,
 * without that spread's cost (several µs on Node 20) once per fetch.
 */
function toBatchRecord(record: FetchRecord, url: string, attempts: number): BatchRecord {
  const out = record as BatchRecord;
  out.url = url;
  out.attempts = attempts;
  return out;
}

/** The record of a URL not fetched because its host was set aside. */
export function setAsideRecord(url: string, reason: string): FetchRecord {
  return {
    ...errorRecord(url, new Error(reason)),
    error: { code: ERR_HOST_SET_ASIDE, message: reason },
  };
}

/** What {@link fetchAttempt} returns. */
export interface Attempt {
  record: FetchRecord;
  /** The response's header fields (TLS details included), when a header arrived. */
  response: ResponseFields | undefined;
  /** The body bytes received, when `keepBody` asked for them (bounded by `maxBytes`). */
  body: Buffer | undefined;
}

/**
 * Makes one request (redirects and input as `options` say) and reduces it to
 * a record; never rejects. The body is hashed and, when `keepBody(response)`
 * returns true, kept in memory (at most the request's `maxBytes`).
 */
export async function fetchAttempt(
  client: Client,
  url: string,
  options: RequestOptions,
  keepBody: (response: StreamingResponse) => boolean = () => false,
): Promise<Attempt> {
  let response: StreamingResponse;
  try {
    response = await client.request(url, options);
  } catch (err) {
    return { record: errorRecord(url, err), response: undefined, body: undefined };
  }
  const hash = createHash('sha256');
  const chunks: Buffer[] | undefined = keepBody(response) ? [] : undefined;
  const onChunk = chunks
    ? (chunk: Buffer): void => {
        hash.update(chunk);
        chunks.push(chunk);
      }
    : (chunk: Buffer): void => void hash.update(chunk);
  // the body stream never errors by contract; be safe anyway
  if (!(await readBody(response.body, onChunk))) response.cancel();
  const completion = await response.done;
  // Politeness: the host's next request must not overlap this connection, even its closing.
  await response.closed;
  const record = responseRecord(url, response, completion, hash.digest('hex'));
  return { record, response, body: chunks ? joinChunks(chunks) : undefined };
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

/** The body as one Buffer; a single chunk is used as is (no copy). */
function joinChunks(chunks: Buffer[]): Buffer {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/**
 * An AbortController that aborts when `parent` does. Its signal accepts any
 * number of listeners without Node's MaxListenersExceededWarning: every
 * in-flight request of a bulk run listens to it (and stops listening when it
 * ends), so it legitimately has about `concurrency` listeners. Once the
 * controller aborts it stops listening to `parent` (so a long-lived parent
 * signal shared by many runs does not collect listeners): owners abort it
 * when their run ends.
 */
export function linkedController(parent: AbortSignal | undefined): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  if (!parent) return controller;
  if (parent.aborted) {
    controller.abort(parent.reason);
    return controller;
  }
  const onParentAbort = (): void => controller.abort(parent.reason);
  parent.addEventListener('abort', onParentAbort, { once: true });
  controller.signal.addEventListener('abort', () => parent.removeEventListener('abort', onParentAbort), { once: true });
  return controller;
}

/**
 * A single-consumer async queue: producers `push`, then `end` (or `fail`);
 * iterating yields items in push order. Unbounded by itself: producers watch
 * `length` for backpressure, and `onPull` is called whenever the consumer
 * takes an item.
 */
export class RecordChannel<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #head = 0;
  #ended = false;
  #error: unknown;
  #failed = false;
  #wake: (() => void) | undefined;
  /** Called after the consumer took an item. */
  onPull: (() => void) | undefined;

  /** Items pushed and not yet taken. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    if (this.#ended) return;
    this.#items.push(item);
    this.#signal();
  }

  /** No more items; iteration ends after those already pushed. */
  end(): void {
    this.#ended = true;
    this.#signal();
  }

  /** Iteration throws `error` after the items already pushed. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#failed = true;
    this.#error = error;
    this.end();
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.#head < this.#items.length) {
        const item = this.#items[this.#head]!;
        this.#items[this.#head++] = undefined as T;
        if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
          this.#items = this.#items.slice(this.#head);
          this.#head = 0;
        }
        this.onPull?.();
        yield item;
        continue;
      }
      if (this.#ended) {
        if (this.#failed) throw this.#error;
        return;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}
