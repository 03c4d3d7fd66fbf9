/**
 * Politeness shared by `batch`, `crawl` and `survey`: a total concurrency
 * limit, per-host concurrency (one connection per host by default), a delay
 * between requests to one host, status 44 handling, retries with exponential
 * backoff, and setting aside hosts that keep failing.
 *
 * The scheduler knows nothing about Gemini records: a {@link HostJob} runs one
 * attempt and reports an {@link AttemptOutcome}; {@link classifyRecord} turns a
 * record into that outcome.
 */
import type { FetchRecord } from '../net/record.js';
import { timerDelay } from '../net/timers.js';

/** Politeness settings of a {@link HostScheduler}. */
export interface HostPolicy {
  /** Attempts running at once over all hosts (default 16). */
  concurrency?: number;
  /** Attempts running at once against one host (default 1: one connection per host). */
  perHost?: number;
  /**
   * Milliseconds between the end of one request to a host and the start of
   * the next (also between two starts when `perHost` > 1). Default 0.
   */
  delay?: number;
  /** Cap, in ms, of a host's delay when 44 doubles it, and of the part of a 44 wait its integer META asks for (default 60 000). */
  maxDelay?: number;
  /** Consecutive failed attempts (network failures) after which a host is set aside (default 5; 0 = never). */
  maxFailures?: number;
  /**
   * Consecutive 44 (slow down) answers after which a host is set aside
   * (default {@link DEFAULT_MAX_SLOW_DOWNS}; 0 = never): a host that answers
   * 44 to everything would otherwise hold the run for `slowDownRetries + 1`
   * waits of up to `maxDelay` per URL (days for a crawl's 10,000 URLs of one
   * host). Any other answer from the host starts the count again.
   */
  maxSlowDowns?: number;
  /** First retry backoff in ms, doubled at each further retry (default 1000, at most 60 000). */
  retryBackoff?: number;
  /**
   * Told each time a 44 (slow down) makes a host wait: the host's key and the
   * ms until its next request may start. For progress displays; an exception
   * it throws is ignored.
   */
  onSlowDown?: (hostKey: string, waitMs: number) => void;
}

/** What one attempt tells the scheduler. */
export interface AttemptOutcome {
  /** Whether a request reached the host (only then does the per-host delay apply). */
  contacted: boolean;
  /**
   * - `ok`: the host answered (resets its failure count);
   * - `failure`: a network-level failure (counts toward setting the host aside);
   * - `slow-down`: status 44 (see `slowDownSeconds`);
   * - `neutral`: says nothing about the host.
   */
  health: 'ok' | 'failure' | 'slow-down' | 'neutral';
  /** The integer META of a 44, in seconds: a lower bound of the wait (the host's delay doubles at every 44 anyway); absent when META was not an integer. */
  slowDownSeconds?: number;
  /** Queue the job again (after a backoff for failures; after the 44 wait for slow-down). */
  retry: boolean;
}

/** One unit of work against one host. */
export interface HostJob {
  /** Key of the host, e.g. `GeminiUrl.hostPort`. */
  readonly hostKey: string;
  /**
   * Called when the job is about to start; returning true drops the job
   * without using a slot or a delay (it must report its own result, e.g. a
   * robots.txt refusal known in advance).
   */
  skip?(): boolean;
  /** Runs attempt number `attempt` (1-based). Must not reject. */
  run(attempt: number): Promise<AttemptOutcome>;
  /** Called instead of `run` once the host is set aside (also for jobs already queued). Must report its own result. */
  setAside(reason: string): void;
}

/** Live per-host figures, for progress displays and tests. */
export interface HostStatus {
  hostKey: string;
  queued: number;
  active: number;
  /** Current delay in ms (grows with 44s). */
  delay: number;
  consecutiveFailures: number;
  setAside: boolean;
}

interface QueuedJob {
  job: HostJob;
  attempt: number;
  notBefore: number;
}

/** A FIFO with O(1) push/shift, compacted as it drains. */
class Deque<T> {
  #items: T[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(item: T): void {
    this.#items.push(item);
  }
  unshift(item: T): void {
    if (this.#head > 0) this.#items[--this.#head] = item;
    else this.#items.unshift(item);
  }
  peek(): T | undefined {
    return this.#items[this.#head];
  }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined as T;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
  drain(): T[] {
    const rest = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return rest;
  }
}

interface HostState {
  key: string;
  queue: Deque<QueuedJob>;
  /** Retries waiting for their backoff, sorted by notBefore. */
  retries: QueuedJob[];
  active: number;
  nextStart: number;
  delay: number;
  consecutiveFailures: number;
  /** 44 answers in a row (reset by an `ok` answer). */
  consecutiveSlowDowns: number;
  setAside: boolean;
}

/** Default {@link HostPolicy.maxSlowDowns}: two URLs' worth of 44s at the default `slowDownRetries` (5), about 7 minutes of waits at the default `maxDelay`. */
export const DEFAULT_MAX_SLOW_DOWNS = 12;

/** Least delay, in ms, a 44 leaves a host with (a delay of 0 doubles to this). */
export const SLOW_DOWN_FLOOR_MS = 1000;
/** The outcome of a job whose `run` broke its contract and rejected. */
const REJECTED_OUTCOME: AttemptOutcome = Object.freeze({ contacted: true, health: 'neutral', retry: false });
const MAX_BACKOFF_MS = 60_000;

/**
 * Runs {@link HostJob}s under a {@link HostPolicy}.
 *
 * Guarantees: never more than `concurrency` jobs running, never more than
 * `perHost` per host; a host's next request starts at least `delay` ms after
 * its previous one ended; every 44 doubles the host's delay (from at least
 * 1 s, capped by `maxDelay`) for the rest of the run and pauses the host that
 * long, or longer when the 44's META is an integer number of seconds that is
 * longer (META is only a lower bound, itself capped by `maxDelay`; see
 * {@link slowDownWait}); after
 * `maxFailures` consecutive failures (or `maxSlowDowns` consecutive 44s) every queued job of the host gets
 * `setAside()` and so do later submissions. Jobs of one host start in
 * submission order (retries once their backoff has passed).
 *
 * Memory: one small object per host seen and one per queued job.
 */
export class HostScheduler {
  readonly #hosts = new Map<string, HostState>();
  /** Hosts with queued or retrying jobs. */
  readonly #pendingHosts = new Set<HostState>();
  readonly #concurrency: number;
  readonly #perHost: number;
  readonly #delay: number;
  readonly #maxDelay: number;
  readonly #maxFailures: number;
  readonly #maxSlowDowns: number;
  readonly #retryBackoff: number;
  readonly #canStart: () => boolean;
  readonly #onSlowDown: ((hostKey: string, waitMs: number) => void) | undefined;
  #active = 0;
  #queued = 0;
  #setAsideHosts = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #stopped = false;
  #idleWaiters: Array<() => void> = [];

  /** `canStart` lets the owner pause starting jobs (e.g. while its output is backed up); call {@link pump} when it may say yes again. */
  constructor(policy: HostPolicy = {}, canStart: () => boolean = () => true) {
    this.#concurrency = positive(policy.concurrency, 16);
    this.#perHost = positive(policy.perHost, 1);
    this.#delay = nonNegative(policy.delay, 0);
    this.#maxDelay = nonNegative(policy.maxDelay, 60_000);
    this.#maxFailures = nonNegative(policy.maxFailures, 5);
    this.#maxSlowDowns = nonNegative(policy.maxSlowDowns, DEFAULT_MAX_SLOW_DOWNS);
    this.#retryBackoff = nonNegative(policy.retryBackoff, 1000);
    this.#canStart = canStart;
    this.#onSlowDown = policy.onSlowDown;
  }

  /** Jobs queued or waiting for a retry, plus those running. */
  get size(): number {
    return this.#queued + this.#active;
  }

  /** Jobs running now. */
  get active(): number {
    return this.#active;
  }

  /** Number of hosts seen so far. */
  get hostCount(): number {
    return this.#hosts.size;
  }

  /** Hosts set aside so far. */
  get setAsideCount(): number {
    return this.#setAsideHosts;
  }

  /** A snapshot of one host's state, or undefined if never seen. */
  hostStatus(hostKey: string): HostStatus | undefined {
    const host = this.#hosts.get(hostKey);
    if (!host) return undefined;
    return {
      hostKey,
      queued: host.queue.length + host.retries.length,
      active: host.active,
      delay: host.delay,
      consecutiveFailures: host.consecutiveFailures,
      setAside: host.setAside,
    };
  }

  /** Queues a job at the end of its host's queue (or sets it aside at once if the host is). */
  submit(job: HostJob, options: { front?: boolean } = {}): void {
    const host = this.#host(job.hostKey);
    if (host.setAside) {
      job.setAside(this.#setAsideReason(host));
      return;
    }
    const entry = { job, attempt: 1, notBefore: 0 };
    if (options.front) host.queue.unshift(entry);
    else host.queue.push(entry);
    this.#queued++;
    this.#pendingHosts.add(host);
    this.pump();
  }

  /** Resolves when no job is queued, retrying or running. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops starting jobs (running ones finish); queued jobs are dropped without a call. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const host of this.#pendingHosts) {
      this.#queued -= host.queue.drain().length + host.retries.length;
      host.retries = [];
    }
    this.#pendingHosts.clear();
    this.#notifyIdle();
  }

  /** Starts every job that may start now, and arms a timer for the next one. */
  pump(): void {
    if (this.#stopped) return;
    const now = Date.now();
    let wake = Infinity;
    for (const host of this.#pendingHosts) {
      while (this.#active < this.#concurrency && host.active < this.#perHost) {
        if (!this.#canStart()) return;
        if (now < host.nextStart) {
          wake = Math.min(wake, host.nextStart);
          break;
        }
        const entry = this.#take(host, now);
        if (!entry) {
          if (host.retries.length > 0) wake = Math.min(wake, host.retries[0]!.notBefore);
          break;
        }
        if (entry.attempt === 1 && entry.job.skip?.()) continue;
        this.#start(host, entry);
      }
      if (host.queue.length === 0 && host.retries.length === 0) this.#pendingHosts.delete(host);
      if (this.#active >= this.#concurrency) break;
    }
    this.#arm(wake);
    this.#notifyIdle();
  }

  #take(host: HostState, now: number): QueuedJob | undefined {
    const retry = host.retries[0];
    if (retry && retry.notBefore <= now) {
      host.retries.shift();
      this.#queued--;
      return retry;
    }
    const entry = host.queue.shift();
    if (entry) this.#queued--;
    return entry;
  }

  #start(host: HostState, entry: QueuedJob): void {
    this.#active++;
    host.active++;
    if (this.#perHost > 1) host.nextStart = Math.max(host.nextStart, Date.now() + host.delay);
    let outcome: Promise<AttemptOutcome>;
    try {
      outcome = entry.job.run(entry.attempt);
    } catch (err) {
      outcome = Promise.reject(err);
    }
    // One reaction per job (not .catch().then()): this runs once per request.
    outcome.then(
      (result) => this.#finish(host, entry, result),
      () => this.#finish(host, entry, REJECTED_OUTCOME),
    );
  }

  #tellSlowDown(hostKey: string, waitMs: number): void {
    try {
      this.#onSlowDown?.(hostKey, waitMs);
    } catch {
      // a display callback must not break the run
    }
  }

  #finish(host: HostState, entry: QueuedJob, outcome: AttemptOutcome): void {
    this.#active--;
    host.active--;
    const now = Date.now();
    if (outcome.contacted) host.nextStart = Math.max(host.nextStart, now + host.delay);
    switch (outcome.health) {
      case 'ok':
        host.consecutiveFailures = 0;
        host.consecutiveSlowDowns = 0;
        break;
      case 'failure':
        host.consecutiveFailures++;
        break;
      case 'slow-down': {
        // Exponential back-off (spec 0.24): every 44 doubles the host's delay; an integer META is only a lower bound of the wait.
        host.consecutiveSlowDowns++;
        host.delay = slowDownDelay(host.delay, this.#maxDelay);
        host.nextStart = Math.max(host.nextStart, now + slowDownWait(host.delay, outcome.slowDownSeconds, this.#maxDelay));
        this.#tellSlowDown(entry.job.hostKey, host.nextStart - now);
        break;
      }
      case 'neutral':
        break;
    }
    const setAsideNow =
      !host.setAside &&
      ((this.#maxFailures > 0 && host.consecutiveFailures >= this.#maxFailures) || (this.#maxSlowDowns > 0 && host.consecutiveSlowDowns >= this.#maxSlowDowns));
    if (setAsideNow) {
      host.setAside = true;
      this.#setAsideHosts++;
    }
    if (outcome.retry && !this.#stopped) {
      const retry: QueuedJob = { job: entry.job, attempt: entry.attempt + 1, notBefore: now };
      if (outcome.health !== 'slow-down') {
        retry.notBefore = now + Math.min(this.#retryBackoff * 2 ** (entry.attempt - 1), MAX_BACKOFF_MS);
      }
      if (host.setAside) {
        retry.job.setAside(this.#setAsideReason(host));
      } else {
        insertSorted(host.retries, retry);
        this.#queued++;
        this.#pendingHosts.add(host);
      }
    }
    if (setAsideNow) this.#setAsideQueued(host);
    this.pump();
  }

  #setAsideQueued(host: HostState): void {
    const reason = this.#setAsideReason(host);
    const jobs = [...host.retries, ...host.queue.drain()];
    host.retries = [];
    this.#queued -= jobs.length;
    this.#pendingHosts.delete(host);
    for (const entry of jobs) entry.job.setAside(reason);
  }

  #setAsideReason(host: HostState): string {
    if (this.#maxSlowDowns > 0 && host.consecutiveSlowDowns >= this.#maxSlowDowns) {
      return `host ${host.key} set aside after ${host.consecutiveSlowDowns} consecutive 44 (slow down) answers`;
    }
    return `host ${host.key} set aside after ${host.consecutiveFailures} consecutive failures`;
  }

  #host(key: string): HostState {
    let host = this.#hosts.get(key);
    if (!host) {
      host = {
        key,
        queue: new Deque(),
        retries: [],
        active: 0,
        nextStart: 0,
        delay: this.#delay,
        consecutiveFailures: 0,
        consecutiveSlowDowns: 0,
        setAside: false,
      };
      this.#hosts.set(key, host);
    }
    return host;
  }

  #arm(wake: number): void {
    if (this.#stopped) return;
    if (wake === Infinity || wake >= this.#timerAt) {
      if (wake === Infinity && this.#timer && this.#pendingHosts.size === 0) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#timerAt = Infinity;
      }
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = wake;
    // A wait past Node's timer range (a --delay of weeks) would fire at once, with a warning: the
    // timer wakes at most every 24.8 days instead, and pump() arms it again until the host is due.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.pump();
    }, timerDelay(wake - Date.now()));
  }

  #notifyIdle(): void {
    if (this.size !== 0 || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/**
 * A host's delay after one more 44: doubled, at least {@link SLOW_DOWN_FLOOR_MS}
 * (so a delay of 0 grows too), at most `maxDelay`.
 */
export function slowDownDelay(delay: number, maxDelay: number): number {
  return Math.min(Math.max(delay * 2, SLOW_DOWN_FLOOR_MS), maxDelay);
}

/**
 * How long a host is left alone after a 44, in ms: its (already doubled)
 * `delay`, or the integer META in seconds when that is longer; the META part
 * is capped by `maxDelay` (a server cannot park a crawl for a day), the
 * doubled delay never goes below itself. META never shortens the wait.
 */
export function slowDownWait(delay: number, metaSeconds: number | undefined, maxDelay: number): number {
  const asked = metaSeconds === undefined ? 0 : Math.min(metaSeconds * 1000, maxDelay);
  return Math.max(delay, asked);
}

function insertSorted(list: QueuedJob[], entry: QueuedJob): void {
  let i = list.length;
  while (i > 0 && list[i - 1]!.notBefore > entry.notBefore) i--;
  list.splice(i, 0, entry);
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? Math.floor(value) : fallback;
}

function nonNegative(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 0 ? value : fallback;
}

/** Error codes after which an attempt is retried and counted as a host failure. */
export const NETWORK_FAILURE_CODES: ReadonlySet<string> = new Set(['ERR_DNS', 'ERR_CONNECT', 'ERR_CONNECTION_CLOSED', 'ERR_TIMEOUT', 'ERR_TLS']);

/** Record error code of a URL whose host was set aside (no request made). */
export const ERR_HOST_SET_ASIDE = 'ERR_HOST_SET_ASIDE';

/**
 * Error codes of requests that never reached a host (the URL was refused
 * before connecting), so no per-host delay applies after them. Every other
 * error counts as "host contacted", in particular the server-caused ones:
 * `ERR_BAD_HEADER`, `ERR_HEADER_TOO_LONG`, `ERR_BAD_REDIRECT` (an unparsable
 * redirect target), `ERR_TOO_MANY_REDIRECTS`, `ERR_REDIRECT_LOOP`, certificate refusals.
 */
export const UNCONTACTED_ERROR_CODES: ReadonlySet<string> = new Set(['ERR_INVALID_URL', 'ERR_URL_TOO_LONG']);

/**
 * Reads a record as an {@link AttemptOutcome}:
 * - a network failure (see {@link NETWORK_FAILURE_CODES}): `failure`, retried while `attempt <= retries`;
 * - 44: `slow-down` (an integer META given as `slowDownSeconds`), retried while `attempt <= slowDownRetries`;
 * - other 4x: `ok` for the host, retried while `attempt <= retries`;
 * - any other response: `ok`, not retried;
 * - any other error (bad header or redirect target, certificate refused, aborted...): `neutral`, not
 *   retried, contacted unless its code is in {@link UNCONTACTED_ERROR_CODES}.
 */
export function classifyRecord(record: FetchRecord, attempt: number, retries: number, slowDownRetries: number): AttemptOutcome {
  if (record.error) {
    const code = record.error.code;
    if (NETWORK_FAILURE_CODES.has(code)) return { contacted: true, health: 'failure', retry: attempt <= retries };
    return { contacted: !UNCONTACTED_ERROR_CODES.has(code), health: 'neutral', retry: false };
  }
  if (record.status === 44) {
    const seconds = /^\s*(\d{1,9})\s*$/.exec(record.meta ?? '');
    return {
      contacted: true,
      health: 'slow-down',
      ...(seconds ? { slowDownSeconds: Number(seconds[1]) } : {}),
      retry: attempt <= slowDownRetries,
    };
  }
  if (record.status !== null && Math.floor(record.status / 10) === 4) {
    return { contacted: true, health: 'ok', retry: attempt <= retries };
  }
  return { contacted: true, health: 'ok', retry: false };
}
