/**
 * What every bulk run (`batch`, `crawl`, `survey`) shares: the options type,
 * one request reduced to a record ({@link fetchAttempt}), the record of a URL
 * whose host was set aside, the async queue behind the iterables
 * ({@link RecordChannel}), the run's abort controller linked to the caller's
 * signal, and the iteration that ties them together ({@link deliver}).
 */
import { setMaxListeners } from 'node:events';
import { InvalidOptionError } from '../errors.js';
import type { Client, RequestOptions } from '../net/client.js';
import { errorRecord, fetchToRecord, type FetchRecord } from '../net/record.js';
import type { ResponseFields, StreamingResponse } from '../net/response.js';
import { ERR_HOST_SET_ASIDE, type HostPolicy } from './host-scheduler.js';
import type { interruptedRecord } from './interrupt-record.js';

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
  /**
   * Interrupts the run: no new request starts, requests in flight are
   * cancelled, and every input already taken in still yields one record (the
   * ones cut short with `error.code` `ERR_ABORTED`, see
   * {@link interruptedRecord}) before the iteration ends.
   */
  signal?: AbortSignal;
}

/**
 * Refuses a `urls`/`hosts` argument that is not an iterable or async iterable
 * of URLs. A string is refused too: it is iterable, but one character at a
 * time (`batch('gemini://a/')` gave one record per character).
 * @throws InvalidOptionError naming `what`.
 */
export function checkUrlSource(source: unknown, what: string): void {
  const iterable =
    source !== null && typeof source === 'object' && (Symbol.iterator in source || Symbol.asyncIterator in source);
  if (iterable) return;
  const got = typeof source === 'string' ? 'a string: put one URL in an array' : source === null ? 'null' : `a ${typeof source}`;
  throw new InvalidOptionError(`${what} must be an iterable or async iterable of URL strings (got ${got})`);
}

/** Default retries of 44 answers. */
export const DEFAULT_SLOW_DOWN_RETRIES = 5;

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
  let response: StreamingResponse | undefined;
  let chunks: Buffer[] | undefined;
  const record = await fetchToRecord(client, url, {
    ...options,
    onHeader: (header) => {
      response = header;
      if (keepBody(header)) chunks = [];
    },
    onChunk: (chunk) => void chunks?.push(chunk),
  });
  // Politeness: the host's next request must not overlap this connection, even its closing.
  if (response) await response.closed;
  return { record, response, body: chunks ? joinChunks(chunks) : undefined };
}


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

/**
 * Where a producer waits for room: `wait()` resolves at the next `wake()`.
 * Whoever makes room (the consumer taking a record, a run being stopped)
 * must call `wake()`, or the producer waits forever.
 */
export class Wakeup {
  #waiters: Array<() => void> = [];

  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  wake(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}

/**
 * The iteration of a bulk run: starts `feed` (which reads the input and
 * submits work) and yields what `out` receives, in push order. A rejection of
 * `feed` fails the iteration (after the records already pushed) and aborts
 * `controller`. `controller` is also aborted when the iteration ends, however
 * it ends (the consumer stopping early included): that is what cancels the
 * requests still in flight. Nothing runs until the first `next()`.
 */
export async function* deliver<T>(out: RecordChannel<T>, controller: AbortController, feed: () => Promise<void>): AsyncGenerator<T> {
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
