/**
 * `batch`: fetch a list of URLs politely and yield one record per input URL,
 * in completion order, as soon as each is known. The plumbing it shares with
 * `crawl` and `survey` is in `bulk.ts`.
 */
import { Client, type RequestOptions } from '../net/client.js';
import { BATCH_OPTION_RULES, validateOptions } from '../options.js';
import { errorRecord, type FetchRecord } from '../net/record.js';
import { classifyRecord, HostScheduler } from './host-scheduler.js';
import { parseGeminiUrl, type GeminiUrl } from '../protocol/url.js';
import { deliver, DEFAULT_SLOW_DOWN_RETRIES, fetchAttempt, linkedController, RecordChannel, setAsideRecord, Wakeup, type BulkOptions, checkUrlSource } from './bulk.js';
import { interruptedRecord } from './interrupt-record.js';

/** One line of `gemfetch batch`: a {@link FetchRecord} plus the number of attempts made. */
export interface BatchRecord extends FetchRecord {
  /** Requests made for this URL (0 when none was: invalid URL, host set aside). */
  attempts: number;
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

/**
 * Fetches every URL of `urls` and yields one {@link BatchRecord} per input
 * string, in completion order.
 *
 * Guarantees: count in = count out (blank lines and `#` comments are the
 * caller's to filter; an invalid URL yields a record with `error.code`
 * `ERR_INVALID_URL` or `ERR_URL_TOO_LONG` and `attempts: 0`; a URL of a host
 * set aside yields `ERR_HOST_SET_ASIDE` when it was never tried, else the
 * outcome of its last attempt), unless the consumer stops early. When
 * `signal` aborts, reading stops and every URL already read still yields its
 * record: the ones cut short (running, queued, waiting to retry) with
 * `error.code` `ERR_ABORTED` and the `bytes` received (see
 * {@link interruptedRecord}); then the iteration ends. `url` is the input
 * string as given. Politeness per {@link HostPolicy} (hosts keyed by
 * `host:port`); duplicate inputs are fetched again. Redirects are followed as
 * `requestOptions` say (a redirect to another host is not delayed by that
 * host's politeness). Bodies are hashed, never kept. A slow consumer slows
 * the run: at most `readAhead` URLs are held, whatever the pace of either side.
 * An invalid option rejects the first `next()` with `ERR_INVALID_OPTION` (see options.ts), and so
 * does `urls` when it is not an iterable of strings (a lone string is refused: it would be
 * read one character at a time); an element that is not a string gets a record with `ERR_INVALID_URL`.
 */
export async function* batch(urls: Iterable<string> | AsyncIterable<string>, options: BatchOptions = {}): AsyncGenerator<BatchRecord> {
  checkUrlSource(urls, 'batch urls');
  validateOptions(options, BATCH_OPTION_RULES, 'batch options');
  const client = options.client ?? new Client();
  const controller = linkedController(options.signal);
  const retries = options.retries ?? DEFAULT_BATCH_RETRIES;
  const slowDownRetries = options.slowDownRetries ?? DEFAULT_SLOW_DOWN_RETRIES;
  const readAhead = Math.max(1, options.readAhead ?? 10_000);
  const requestOptions: RequestOptions = { ...options.requestOptions, signal: controller.signal };
  const out = new RecordChannel<BatchRecord>();
  const highWater = Math.max(64, (options.concurrency ?? 16) * 4);
  const scheduler = new HostScheduler(options, () => out.length < highWater);
  /** URLs read and not yet reported. */
  const pending = new Set<PendingUrl>();
  let inputDone = false;
  const room = new Wakeup();
  // Taking a record out makes room for both the scheduler and the reader of the input.
  out.onPull = () => {
    scheduler.pump();
    room.wake();
  };

  const endIfDone = (): void => {
    if ((inputDone || controller.signal.aborted) && pending.size === 0) out.end();
  };
  const report = (entry: PendingUrl, record: FetchRecord): void => {
    if (!pending.delete(entry)) return;
    out.push(toBatchRecord(record, entry.input, entry.attempts));
    endIfDone();
  };

  const submit = (input: string): void => {
    const entry: PendingUrl = { input, attempts: 0, last: undefined, running: false };
    pending.add(entry);
    let target: GeminiUrl;
    try {
      target = parseGeminiUrl(input);
    } catch (err) {
      report(entry, errorRecord(input, err));
      return;
    }
    scheduler.submit({
      hostKey: target.hostPort,
      run: async (attempt) => {
        entry.attempts = attempt;
        entry.running = true;
        const { record } = await fetchAttempt(client, target.href, requestOptions);
        entry.running = false;
        entry.last = record;
        const outcome = classifyRecord(record, attempt, retries, slowDownRetries);
        if (controller.signal.aborted) report(entry, interruptedRecord(input, record));
        else if (!outcome.retry) report(entry, record);
        return controller.signal.aborted ? { ...outcome, retry: false } : outcome;
      },
      // a URL already tried keeps the outcome of its last attempt
      setAside: (reason) => report(entry, entry.last ?? setAsideRecord(input, reason)),
    });
  };

  const feed = async (): Promise<void> => {
    for await (const input of urls) {
      // an input read is an input owed a record, even when the run was just interrupted
      submit(input);
      if (controller.signal.aborted) break;
      while (pending.size + out.length >= readAhead && !controller.signal.aborted) await room.wait();
      if (controller.signal.aborted) break;
    }
    inputDone = true;
    endIfDone();
  };
  /** Stops starting requests; the URLs not running get their record now, the running ones when their request ends. */
  const interrupt = (): void => {
    scheduler.stop();
    for (const entry of [...pending]) {
      if (!entry.running) report(entry, interruptedRecord(entry.input, entry.last, entry.last !== undefined));
    }
    room.wake();
    endIfDone();
  };
  controller.signal.addEventListener('abort', interrupt, { once: true });
  yield* deliver(out, controller, feed);
}

/** A URL read from the input and not yet reported. */
interface PendingUrl {
  input: string;
  attempts: number;
  /** The record of its last attempt, once one ended. */
  last: FetchRecord | undefined;
  /** Whether an attempt is running now. */
  running: boolean;
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
