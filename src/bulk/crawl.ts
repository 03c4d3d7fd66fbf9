/**
 * `crawl`: follow links from seed URLs, politely, resumably, and yield one
 * record per URL taken into the frontier.
 */
import { Client } from '../net/client.js';
import { InvalidOptionError } from '../errors.js';
import { CRAWL_OPTION_RULES, validateOptions } from '../options.js';
import { decodeBody } from '../protocol/charset.js';
import { extractLinks } from '../protocol/gemtext.js';
import { classifyRecord, HostScheduler, type AttemptOutcome } from './host-scheduler.js';
import { errorRecord, type FetchRecord } from '../net/record.js';
import { parseRobots, type RobotsRules } from '../protocol/robots.js';
import { parseGeminiUrl, resolveReference, type GeminiUrl } from '../protocol/url.js';
import { CrawlJournal, type JournalContents, type QueuedUrl } from './crawl-state.js';
import { Frontier, type HostQueue } from './frontier.js';
import { SeenSet } from './seen-set.js';
import { regexFromText, regexText, resolveCrawlSettings } from './crawl-settings.js';
import { DEFAULT_SLOW_DOWN_RETRIES, fetchAttempt, linkedController, RecordChannel, setAsideRecord, type Attempt, type BulkOptions } from './bulk.js';
import { writeMirror } from '../files/mirror.js';
import { cutByAbort, interruptedRecord } from './interrupt-record.js';
import { WarcWriter } from '../files/warc.js';
import { AddressGuard, ERR_ADDRESS_REFUSED } from './address-guard.js';
import { DuplicateIndex } from './duplicate-index.js';
import { DEFAULT_ROBOTS_TTL, MAX_ROBOTS_BYTES, RobotsCache } from './robots-cache.js';
import type { AddressClass } from '../net/address-class.js';
import { TrapGuards, trapLimits, type TrapCounts, type TrapGuardOptions } from './trap-guards.js';

export { StorageError } from './crawl-state.js';
export { ERR_ADDRESS_REFUSED } from './address-guard.js';

/** Which discovered links a crawl follows. */
export type CrawlScope =
  /** Links to the hosts (host:port) of the seeds. */
  | 'host'
  /** Links under a seed's directory: its URL up to the last `/` of its path. */
  | 'prefix'
  /** Every gemini link. */
  | 'all';

/** Virtual robots.txt agents of the companion specification. */
export type RobotsAgent = 'researcher' | 'indexer' | 'archiver';

/**
 * Options of {@link crawl}.
 *
 * Memory per queued URL (see {@link crawl}): none on the JS heap; 10.7-21.3
 * bytes outside it for the seen-set; the queued URLs themselves go to a spill
 * file (frontier.ts) beyond two 2 KiB blocks per host; `maxPages` and
 * `maxDepth` bound how many are queued.
 */
export interface CrawlOptions extends BulkOptions, TrapGuardOptions {
  /** Default `host`. */
  scope?: CrawlScope;
  /** Deepest link depth followed (seeds are depth 0; default 32). Bounds the frontier. */
  maxDepth?: number;
  /** Most URLs requested in the whole crawl, resumed runs included (default unlimited). */
  maxPages?: number;
  /** When given, only URLs (normalised href) matching one of these are followed. Seeds are always fetched. */
  include?: RegExp[];
  /** URLs matching one of these are not followed. */
  exclude?: RegExp[];
  /** Obey robots.txt (default true). */
  robots?: boolean;
  /** Virtual agent obeyed besides `*` (default `researcher`); `gemfetch` groups are obeyed too. */
  robotsAgent?: RobotsAgent | string;
  /**
   * How long a host's robots.txt is obeyed before it is fetched again, ms
   * (default one day). With `stateDir` they are kept there, so a resumed crawl
   * reuses them until then (see robots-cache.ts).
   */
  robotsTtl?: number;
  /**
   * Address classes (`loopback`, `private`, `link-local`, `public`) the crawl
   * may reach besides its seeds' own (default none: a public seed never leads
   * to a loopback or private address; see address-guard.ts).
   */
  allowAddressClasses?: AddressClass[];
  /** Directory of the resumable journal (see crawl-state.ts). */
  stateDir?: string;
  /** Mirror 2x bodies into this directory (see mirror.ts). */
  mirrorDir?: string;
  /** Append WARC 1.1 request and response records of every response (robots.txt included) to this file (see warc.ts). */
  warcFile?: string;
  /** Gzip each WARC record as its own member (default: when `warcFile` ends in `.gz`). */
  warcGzip?: boolean;
  /** Called after every record and once at the end with the live figures. */
  onProgress?: (stats: CrawlStats) => void;
}

/** One line of `gemfetch crawl`: a {@link FetchRecord} plus crawl facts. */
export interface CrawlRecord extends FetchRecord {
  /** Link depth (seeds: 0). */
  depth: number;
  /** The page whose link (or redirect) queued this URL; null for seeds. */
  parent: string | null;
  /** Requests made for this URL (0: not fetched — invalid, disallowed by robots.txt, host set aside). */
  attempts: number;
  /** The first URL whose 2x body had the same SHA-256, when this one is a duplicate (its links are still followed: relative links differ by base). */
  duplicateOf: string | null;
  /** Links found in a text/gemini 2x body (all schemes), null for other responses. */
  links: number | null;
  /** True when links were parsed from a body that was not complete (cut, or limited by us). */
  linksFromIncomplete: boolean;
  /** New URLs this response added to the frontier (links and redirect targets). */
  queued: number;
  /** Where the body was mirrored, when mirroring: `NAME`, or `NAME.partial` for a body that was not complete (see `mirrorPartial`). */
  mirrorPath: string | null;
  /** True when `mirrorPath` is a `.partial` file: the body was cut (limit, timeout, no close_notify...), so it never got the final name. */
  mirrorPartial: boolean;
  /** Why a 2x body was not mirrored (`mirrorPath` is then null): a message naming the file; null otherwise. */
  mirrorError: string | null;
  /** The server certificate's issuer CN and whether it is self-signed, when a response arrived (for the close_notify census); null otherwise. */
  certificate: { issuer: string; selfSigned: boolean } | null;
}

/** Live figures of a crawl. */
export interface CrawlStats {
  /** Records yielded (this run). */
  records: number;
  /** Records with `error` set. */
  errors: number;
  /** Records of responses that were not complete. */
  incomplete: number;
  /** URLs queued or running. */
  frontier: number;
  /** Hosts seen. */
  hosts: number;
  /** Hosts set aside. */
  setAside: number;
  /** URLs not fetched because `maxPages` was reached (still in the journal's frontier). */
  leftOver: number;
  /** Records found in the journal when resuming. */
  resumedRecords: number;
  /** `Date.now()` when the crawl started. */
  startedAt: number;
  /** Discovered links not queued, per trap guard (see trap-guards.ts; this run only). */
  trapped: TrapCounts;
  /** Records of this run with {@link ERR_ADDRESS_REFUSED}: URLs whose host is outside the seeds' address classes. */
  addressRefused: number;
}

/** Record error code of a URL that robots.txt disallows (no request made). */
export const ERR_ROBOTS_DISALLOWED = 'ERR_ROBOTS_DISALLOWED';
/** Default delay between two requests to one host in a crawl, ms. */
export const DEFAULT_CRAWL_DELAY = 1000;
/** Default retries in a crawl. */
export const DEFAULT_CRAWL_RETRIES = 2;
/** Default depth limit. */
export const DEFAULT_MAX_DEPTH = 32;
/** Default `maxBytes` of a crawl request (16 MiB), unless `requestOptions` says otherwise. */
export const DEFAULT_CRAWL_MAX_BYTES = 16 * 1024 * 1024;
/** Default `totalTimeout` of a crawl request (60 s), unless `requestOptions` says otherwise. */
export const DEFAULT_CRAWL_TOTAL_TIMEOUT = 60_000;

const ALLOW_ALL: RobotsRules = parseRobots('', []);

/** A discovered link to queue, with its host (already parsed once). */
interface Discovered extends QueuedUrl {
  hostKey: string;
}

interface RobotsEntry {
  rules: RobotsRules | undefined;
  /** `Date.now()` when the rules were fetched (or failed to be): fetched again once `robotsTtl` has passed. */
  fetchedAt: number;
  /** While an expired robots.txt is fetched again: the rules before, which jobs already running go on with (they must not wait for a fetch queued behind them). */
  previous: RobotsRules | undefined;
  ready: Promise<void>;
  /** Sets `rules` and resolves `ready` (once). */
  settle: (rules: RobotsRules) => void;
}

/**
 * Crawls from `seeds` and yields one {@link CrawlRecord} per URL that entered
 * the frontier (and per invalid seed), in completion order.
 *
 * Guarantees:
 * - never requests the same normalised href twice (except URLs in flight when
 *   a previous run was killed), never an empty or non-gemini URL; redirects
 *   are not followed by the client but their targets are queued like links
 *   (so scope, robots.txt and politeness apply to them);
 * - links are followed only from text/gemini 2x bodies, including cut ones
 *   (then `linksFromIncomplete` is true); a body seen before under another
 *   URL is noted in `duplicateOf` (link traps are bounded by `maxDepth`);
 * - robots.txt is fetched once per host, as `/robots.txt?gemfetch`, before any
 *   other request to it, and again before the next one once it is older than
 *   `robotsTtl` (default one day; with `stateDir` it is kept there, so a
 *   resumed crawl reuses it until then); at most {@link MAX_ROBOTS_BYTES} of it
 *   are read; a disallowed URL yields a record with error code
 *   {@link ERR_ROBOTS_DISALLOWED}; a robots.txt that cannot be had (no 2x)
 *   allows everything;
 * - with `stateDir`, each record is appended to the journal (with the links
 *   it queued, in one write) BEFORE it is yielded; a restarted crawl skips
 *   recorded URLs, re-queues the rest, and yields only new records;
 * - with `maxPages`, no more than that many URLs are requested (journal included);
 * - nothing is sent to a host whose address (after DNS resolution) is in a
 *   class (loopback, private, link-local, public) none of the seeds is in,
 *   unless `allowAddressClasses` allows it: its URLs get records with error
 *   code {@link ERR_ADDRESS_REFUSED} (see address-guard.ts);
 * - trap guards (trap-guards.ts), on by default, judge every discovered link
 *   (seeds are always fetched): at most `maxPagesPerHost` URLs per host are
 *   queued (journal included), and links longer than `maxUrlLength`, deeper
 *   than `maxPathDepth` segments, with a run of segments repeated more than
 *   `maxSegmentRepeats` times, or with a query string (unless `queries`, by
 *   default true only when a seed has one) are not queued; each refusal is
 *   counted in {@link CrawlStats.trapped};
 * - with `stateDir`, the directory is locked while the crawl runs: a second
 *   crawl on it (in any process) rejects with `ERR_STATE_LOCKED`; the seeds,
 *   `scope`, `maxDepth`, `include`, `exclude`, `robots` and `robotsAgent` of
 *   the first run (and the trap guards, `robotsTtl` and `allowAddressClasses`) are kept in it (crawl-settings.ts): a resumed run takes
 *   those it is not given (seeds included, when `seeds` is empty) and rejects
 *   with `ERR_STATE_MISMATCH`, saying what differs, when one it is given differs;
 * - an invalid option rejects the first `next()` with `ERR_INVALID_OPTION`;
 * - a body that cannot be mirrored (I/O error, a file where a directory is
 *   needed) does not stop the crawl: its record says why in `mirrorError`;
 * - when the journal or the WARC file cannot be opened or written, the
 *   iteration rejects with a {@link StorageError} naming the file (after the
 *   records already yielded) and the crawl stops: it never hangs and never
 *   goes on without them.
 *
 * Memory bounds: seen-set 10.7-21.3 bytes per URL ever queued (seen-set.ts,
 * outside the JS heap); the frontier (frontier.ts): at most two 2 KiB blocks
 * of packed URLs per host in memory, the rest in a spill file (in `stateDir`,
 * else the temporary directory; unlinked while open), nothing per queued URL
 * on the heap; plus about 1 KB per URL running or handed to the scheduler (at
 * most `perHost` waiting per host); a resumed crawl reads its journal back as
 * a stream (one pass) and never holds its pending URLs as objects. The
 * duplicate index (duplicate-index.ts, outside the JS heap): 21-43 bytes per
 * distinct 2x body plus its first URL's bytes; bodies kept
 * only while processing: at most `concurrency` x `maxBytes` (16 MiB default);
 * while one page is processed, its links are held as objects (transient,
 * about 1 KB per link of that page).
 */
export async function* crawl(seeds: string[], options: CrawlOptions = {}): AsyncGenerator<CrawlRecord> {
  if (!Array.isArray(seeds) || !seeds.every((seed) => typeof seed === 'string')) throw new InvalidOptionError('crawl seeds must be an array of URL strings');
  validateOptions(options, CRAWL_OPTION_RULES, 'crawl options');
  const client = options.client ?? new Client();
  const controller = linkedController(options.signal);
  const signal = controller.signal;
  const requestOptions = {
    maxBytes: DEFAULT_CRAWL_MAX_BYTES,
    totalTimeout: DEFAULT_CRAWL_TOTAL_TIMEOUT,
    ...options.requestOptions,
    maxRedirects: 0,
    signal,
  };
  const retries = options.retries ?? DEFAULT_CRAWL_RETRIES;
  const slowDownRetries = options.slowDownRetries ?? DEFAULT_SLOW_DOWN_RETRIES;
  let maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxPages = options.maxPages ?? Infinity;
  let robotsEnabled = options.robots ?? true;
  let agents = ['gemfetch', options.robotsAgent ?? 'researcher']; // most specific first
  const out = new RecordChannel<CrawlRecord>();
  const highWater = Math.max(64, (options.concurrency ?? 16) * 4);
  const scheduler = new HostScheduler({ ...options, delay: options.delay ?? DEFAULT_CRAWL_DELAY }, () => out.length < highWater);
  out.onPull = () => scheduler.pump();

  const stats: CrawlStats = { records: 0, errors: 0, incomplete: 0, frontier: 0, hosts: 0, setAside: 0, leftOver: 0, resumedRecords: 0, startedAt: Date.now(), addressRefused: 0, trapped: { hostBudget: 0, urlLength: 0, pathDepth: 0, repeatedSegments: 0, query: 0 } };
  /** URLs per host already in the journal (records and frontier), for the per-host budget of a resumed crawl. */
  const journaledPerHost = new Map<string, number>();
  const firstUrls = new DuplicateIndex();
  const robots = new Map<string, RobotsEntry>();
  let seen = new SeenSet();
  let recordedInputs = new Set<string>();
  let resumed: JournalContents | undefined;
  const frontier = new Frontier(options.stateDir ? { dir: options.stateDir } : {});
  let pagesRequested = 0;
  let outstanding = 0;
  let finished = false;
  /** URL jobs running now (between their start and their record). */
  let running = 0;
  /** URLs waiting in the scheduler to be retried, with what emits their record if the crawl is interrupted first. */
  const retrying = new Map<QueuedUrl, () => void>();
  let journal: CrawlJournal<CrawlRecord> | undefined;
  let robotsCache = new RobotsCache(undefined, options.robotsTtl ?? DEFAULT_ROBOTS_TTL);
  let warc: WarcWriter | undefined;
  // The frontier: one packed queue per host; the scheduler holds at most `window` not-yet-started jobs of a host.
  const window = Math.max(1, Math.floor(options.perHost ?? 1) || 1);
  /** Hosts whose scheduler window has room: topped up in one microtask loop, never from inside a scheduler callback. */
  const hungry = new Set<HostQueue>();
  let feeding = false;

  const noteBodyHash = (record: FetchRecord): string | null => {
    // typeof, not === null: a damaged journal's record may lack these or hold other types
    if (typeof record.sha256 !== 'string' || typeof record.status !== 'number' || Math.floor(record.status / 10) !== 2) return null;
    return typeof record.url === 'string' ? firstUrls.note(record.sha256, record.url) : null;
  };

  try {
    if (options.stateDir) {
      const opened = await CrawlJournal.open<CrawlRecord>(
        options.stateDir,
        (record) => {
          if (record.attempts > 0) pagesRequested++;
          if (record.duplicateOf === null) noteBodyHash(record);
        },
        frontier, // the journal's pending URLs go straight into the frontier
      );
      journal = opened.journal;
      const settings = resolveCrawlSettings(
        options.stateDir,
        {
          seeds,
          scope: options.scope,
          maxDepth: options.maxDepth,
          include: options.include?.map(regexText),
          exclude: options.exclude?.map(regexText),
          robots: options.robots,
          robotsAgent: options.robotsAgent,
          maxPagesPerHost: options.maxPagesPerHost,
          maxUrlLength: options.maxUrlLength,
          maxPathDepth: options.maxPathDepth,
          maxSegmentRepeats: options.maxSegmentRepeats,
          queries: options.queries,
          robotsTtl: options.robotsTtl,
          allowAddressClasses: options.allowAddressClasses ? [...new Set(options.allowAddressClasses)].sort() : undefined,
        },
        { allowAddressClasses: [], robotsTtl: DEFAULT_ROBOTS_TTL, scope: 'host', maxDepth: DEFAULT_MAX_DEPTH, include: [], exclude: [], robots: true, robotsAgent: 'researcher', ...trapLimits({}, parsedSeeds(seeds)) },
      );
      // A resumed crawl goes on with the settings it was started with (given ones were checked equal).
      if (seeds.length === 0) seeds = settings.seeds;
      options = { ...options, scope: settings.scope as CrawlScope, maxDepth: settings.maxDepth, include: settings.include.map(regexFromText), exclude: settings.exclude.map(regexFromText), robots: settings.robots, robotsAgent: settings.robotsAgent };
      options = { ...options, robotsTtl: settings.robotsTtl, allowAddressClasses: settings.allowAddressClasses as AddressClass[], maxPagesPerHost: settings.maxPagesPerHost, maxUrlLength: settings.maxUrlLength, maxPathDepth: settings.maxPathDepth, maxSegmentRepeats: settings.maxSegmentRepeats, queries: settings.queries };
      maxDepth = settings.maxDepth;
      robotsEnabled = settings.robots;
      agents = ['gemfetch', settings.robotsAgent];
      robotsCache = new RobotsCache(options.stateDir, settings.robotsTtl);
      seen = opened.contents.seen;
      recordedInputs = opened.contents.recordedInputs;
      resumed = opened.contents;
      // The per-host budget counts every URL ever queued: the frontier now holds each queued line
      // of the journal once (those recorded since are dropped only when they come up).
      for (const queue of frontier.hostQueues()) journaledPerHost.set(queue.key, queue.length);
      stats.resumedRecords = opened.contents.recordCount;
    }
    if (options.warcFile) {
      warc = new WarcWriter(options.warcFile, {
        software: 'gemfetch',
        description: `crawl of ${seeds.join(' ')}`,
        ...(options.warcGzip !== undefined ? { gzip: options.warcGzip } : {}),
      });
    }
  } catch (err) {
    journal?.close();
    frontier.close();
    controller.abort();
    throw err;
  }

  /** Ends the crawl: no more jobs, files closed, the iteration ends (with `failure`, if given, after the records already pushed). */
  const finish = (failure?: unknown): void => {
    if (finished) return;
    finished = true;
    scheduler.stop();
    frontier.close(); // queued URLs are dropped (they stay in the journal's frontier)
    let error = failure;
    for (const file of [journal, warc]) {
      try {
        file?.close();
      } catch (err) {
        error ??= err;
      }
    }
    refreshStats();
    try {
      options.onProgress?.(stats);
    } catch (err) {
      error ??= err;
    }
    if (error !== undefined) out.fail(error);
    else out.end();
    controller.abort();
  };
  /** Stops the crawl because of `err` (a journal or WARC write failed, or a bug): the iteration rejects with it. */
  const fail = (err: unknown): void => finish(err);

  const refreshStats = (): void => {
    stats.frontier = outstanding;
    stats.hosts = scheduler.hostCount;
    stats.setAside = scheduler.setAsideCount;
  };

  /** Journals then yields a record; queues the URLs it discovered. Never throws: a journal failure ends the crawl. */
  const emit = (record: CrawlRecord, discovered: Discovered[], countsAsOutstanding = true): void => {
    if (finished) return;
    try {
      journal?.append(discovered, record);
    } catch (err) {
      fail(err);
      return;
    }
    stats.records++;
    if (record.error) stats.errors++;
    else if (!record.complete) stats.incomplete++;
    out.push(record);
    try {
      enqueue(discovered);
    } catch (err) {
      fail(err); // the frontier's spill file failed
      return;
    }
    if (countsAsOutstanding) outstanding--;
    refreshStats();
    try {
      options.onProgress?.(stats);
    } catch (err) {
      fail(err);
      return;
    }
    if (outstanding === 0) finish();
  };

  /**
   * Yields the record of a URL the interrupt cut short, without journaling it:
   * the URL stays in the journal's frontier, so a resumed crawl fetches it.
   */
  const emitInterrupted = (q: QueuedUrl, last: FetchRecord | undefined, attempts: number, waitingToRetry = false): void => {
    if (finished) return;
    const record = crawlFields(interruptedRecord(q.url, last, waitingToRetry), q, attempts);
    stats.records++;
    stats.errors++;
    out.push(record);
  };

  /** The abort (Ctrl-C, a caller's signal): nothing new starts; the crawl ends once every running URL has its record. */
  const interrupt = (): void => {
    if (finished) return;
    scheduler.stop();
    frontier.close(); // queued URLs are dropped (they stay in the journal's frontier)
    for (const entry of robots.values()) entry.settle(ALLOW_ALL); // no URL job may wait for rules that will never come
    for (const emitRecord of retrying.values()) emitRecord();
    retrying.clear();
    if (running === 0) finish();
  };
  /** A URL job ended; after an interrupt the last one ends the crawl. */
  const jobEnded = (): void => {
    running--;
    if (signal.aborted && running === 0) finish();
  };

  // ---- scope

  const seedUrls: GeminiUrl[] = [];
  for (const seed of seeds) {
    try {
      seedUrls.push(parseGeminiUrl(seed));
    } catch {
      // reported below
    }
  }
  const scopeHosts = new Set(seedUrls.map((u) => u.hostPort));
  const guards = new TrapGuards(options, seedUrls);
  stats.trapped = guards.counts;
  for (const [hostKey, count] of journaledPerHost) guards.noteQueued(hostKey, count);
  journaledPerHost.clear();
  // The resolver, family and proxy are the request's, else the client's: a caller's Client({ lookup }) must
  // resolve the guard's names too, and must not be replaced by dns.lookup at connect time.
  const lookup = requestOptions.lookup ?? client.options.lookup;
  const addressGuard = new AddressGuard(seedUrls, { allow: options.allowAddressClasses, lookup, family: requestOptions.family ?? client.options.family });
  // checked again at connect time: a DNS answer that changed since the host's check is refused too
  // (not through a proxy: then every connection goes to the proxy the caller chose, whatever its class)
  if (!(requestOptions.proxy ?? client.options.proxy)) requestOptions.lookup = addressGuard.lookupFunction(lookup);
  const addressRefusedRecord = (q: QueuedUrl, reason: string): CrawlRecord => {
    const record = crawlFields(errorRecord(q.url, new Error(reason)), q, 0);
    record.error = { code: ERR_ADDRESS_REFUSED, message: reason };
    return record;
  };
  const scopePrefixes = seedUrls.map((u) => u.href.slice(0, u.href.length - u.path.length - (u.hasQuery ? u.query.length + 1 : 0)) + u.path.slice(0, u.path.lastIndexOf('/') + 1));
  const inScope = (url: GeminiUrl): boolean => {
    const scope = options.scope ?? 'host';
    if (scope === 'host' && !scopeHosts.has(url.hostPort)) return false;
    if (scope === 'prefix' && !scopePrefixes.some((prefix) => url.href.startsWith(prefix))) return false;
    if (options.include?.length && !options.include.some((re) => re.test(url.href))) return false;
    if (options.exclude?.some((re) => re.test(url.href))) return false;
    return true;
  };

  /** A discovered reference, if it is to be queued (and marks it seen). */
  const consider = (ref: string, depth: number, parent: string): Discovered | undefined => {
    if (depth > maxDepth || !/^gemini:/i.test(ref)) return undefined;
    let url: GeminiUrl;
    try {
      url = parseGeminiUrl(ref);
    } catch {
      return undefined;
    }
    if (!inScope(url) || !seen.add(url.href)) return undefined;
    if (guards.admit(url) !== undefined) return undefined; // counted in stats.trapped
    return { url: url.href, depth, parent, hostKey: url.hostPort };
  };

  // ---- robots.txt

  /** Makes sure `hostKey` has robots.txt rules, or a fetch of them queued first: none yet, or older than `robotsTtl`. */
  const ensureRobots = (hostKey: string): void => {
    if (!robotsEnabled) return;
    const known = robots.get(hostKey);
    if (known !== undefined && (known.rules === undefined || robotsCache.isFresh(known.fetchedAt))) return;
    let ready!: () => void;
    const settle = (rules: RobotsRules, fetchedAt = Date.now()): void => {
      if (entry.rules !== undefined) return;
      entry.rules = rules;
      entry.fetchedAt = fetchedAt;
      ready();
    };
    const entry: RobotsEntry = { rules: undefined, fetchedAt: 0, previous: known?.rules, ready: new Promise<void>((resolve) => (ready = resolve)), settle };
    robots.set(hostKey, entry);
    const cached = known === undefined ? robotsCache.take(hostKey) : undefined;
    if (cached !== undefined) {
      // fetched by an earlier run of this crawl, less than robotsTtl ago
      settle(cached.body === null ? ALLOW_ALL : parseRobots(cached.body, agents), cached.fetchedAt);
      return;
    }
    let robotsHref: string;
    try {
      robotsHref = parseGeminiUrl(`gemini://${hostKey}/robots.txt?gemfetch`).href;
    } catch {
      // a host key from a damaged journal line: its URLs get ERR_INVALID_URL records (submitJob), nothing is sent
      settle(ALLOW_ALL);
      return;
    }
    scheduler.submit(
      {
        hostKey,
        run: async (attempt) => {
          if ((await addressGuard.check(parseGeminiUrl(robotsHref))) !== undefined) {
            settle(ALLOW_ALL); // nothing is sent to this host: its URL jobs get ERR_ADDRESS_REFUSED records
            return { contacted: false, health: 'neutral', retry: false };
          }
          const date = new Date();
          const got = await fetchAttempt(client, robotsHref, { ...requestOptions, maxBytes: Math.min(requestOptions.maxBytes ?? Infinity, MAX_ROBOTS_BYTES) }, (r) => r.category === 2);
          // network failures are not retried here: URL jobs waiting for the rules would hold the host's slot
          const outcome = classifyRecord(got.record, attempt, 0, slowDownRetries);
          if (outcome.retry && !signal.aborted) return outcome;
          let rules = ALLOW_ALL;
          let text: string | null = null;
          try {
            if (isSuccess(got.record) && got.body !== undefined) {
              text = decodeBody(got.body, got.response?.charset).text;
              rules = parseRobots(text, agents);
            }
          } catch {
            // a robots.txt we cannot read allows everything, like one we cannot have; URL jobs must not wait forever
          }
          const fetchedAt = date.getTime();
          settle(rules, fetchedAt);
          // an answer (2x or not) is kept for robotsTtl; no answer is asked again by a resumed crawl
          if (got.record.status !== null && !finished) {
            try {
              robotsCache.put(hostKey, { fetchedAt, body: text });
            } catch (err) {
              fail(err);
            }
          }
          try {
            archive(got, date);
          } catch (err) {
            fail(err);
          }
          return { ...outcome, retry: false };
        },
        setAside: () => settle(ALLOW_ALL),
      },
      { front: true },
    );
  };

  const robotsPath = (url: GeminiUrl): string => (url.hasQuery ? `${url.path}?${url.query}` : url.path);
  const disallowedRecord = (q: QueuedUrl, url: GeminiUrl): CrawlRecord => {
    const record = crawlFields(errorRecord(q.url, new Error('robots')), q, 0);
    record.error = { code: ERR_ROBOTS_DISALLOWED, message: `robots.txt of ${url.hostPort} disallows ${robotsPath(url)} for ${agents.join(', ')} and *` };
    return record;
  }

  // ---- pages

  /** Builds, mirrors, archives and emits the record of a URL's last attempt. Never rejects; a record is always emitted unless the crawl fails. */
  const finishPage = async (q: QueuedUrl, url: GeminiUrl, got: Attempt, attempts: number, date: Date): Promise<void> => {
    try {
      const record = crawlFields(got.record, q, attempts);
      const cert = got.response?.tls.certificate;
      if (cert) record.certificate = { issuer: cert.issuer, selfSigned: cert.selfSigned };
      const discovered = pageLinks(record, q, got);
      if (options.mirrorDir && got.body && isSuccess(record)) {
        const mirrored = await writeMirror(options.mirrorDir, url, got.body, record.mimeType, record.complete && record.error === null);
        record.mirrorPath = mirrored.path;
        record.mirrorPartial = mirrored.partial;
        record.mirrorError = mirrored.error;
      }
      archive(got, date);
      emit(record, discovered);
    } catch (err) {
      fail(err);
    }
  };

  /** Appends an attempt's request and response to the WARC file, when writing one and a response arrived. Throws a StorageError when the write fails. */
  const archive = (got: Attempt, date: Date): void => {
    const response = got.response;
    const termination = got.record.termination;
    if (!warc || finished || !response || termination === null) return;
    warc.writeExchange({
      targetUri: response.url,
      date,
      rawHeader: response.rawHeader,
      body: got.body ?? Buffer.alloc(0),
      complete: got.record.complete,
      termination,
      ipAddress: response.peer.address,
      tls: response.tls,
      certificate: response.peer.certificate,
    });
  };

  /** Notes a 2x body's hash and queues its links, or queues a redirect's target; returns what was queued. */
  const pageLinks = (record: CrawlRecord, q: QueuedUrl, got: Attempt): Discovered[] => {
    const discovered: Discovered[] = [];
    const add = (ref: string): void => {
      const next = consider(ref, q.depth + 1, q.url);
      if (next) discovered.push(next);
    };
    if (isSuccess(record)) {
      record.duplicateOf = noteBodyHash(record);
      // links of a duplicate body are still followed: relative links resolve differently under another base
      if (record.mimeType === 'text/gemini' && got.body) {
        const text = decodeBody(got.body, got.response?.charset).text;
        const links = extractLinks(text, record.finalUrl ?? q.url, resolveReference);
        record.links = links.length;
        record.linksFromIncomplete = !record.complete;
        for (const link of links) add(link.url);
      }
    } else if (record.redirectNotFollowed) {
      add(record.redirectNotFollowed.target);
    }
    record.queued = discovered.length;
    return discovered;
  };

  // ---- frontier: per-host packed queues; the scheduler holds at most `perHost` jobs of a host at a time


  const feedSoon = (host: HostQueue): void => {
    hungry.add(host);
    if (feeding) return;
    feeding = true;
    queueMicrotask(() => {
      try {
        for (const h of hungry) {
          hungry.delete(h);
          while (!finished && h.inScheduler < window && h.length > 0) {
            const q = h.shift(); // undefined: only resumed entries recorded since were left
            if (q === undefined) break;
            submitJob(h, q);
          }
        }
      } catch (err) {
        fail(err);
      } finally {
        hungry.clear();
        feeding = false;
      }
    });
  };

  /** Takes a URL into the frontier (counted as outstanding from now on). Throws a StorageError when the frontier cannot spill. */
  const enqueueOne = (q: QueuedUrl | Discovered): void => {
    outstanding++;
    let hostKey = (q as Discovered).hostKey;
    if (hostKey === undefined) {
      try {
        hostKey = parseGeminiUrl(q.url).hostPort;
      } catch (err) {
        emit(crawlFields(errorRecord(q.url, err), q, 0), []);
        return;
      }
    }
    const host = frontier.host(hostKey);
    ensureRobots(host.key);
    frontier.push(host, q.url, q.depth, q.parent);
    if (host.inScheduler < window) feedSoon(host);
  };
  /** Takes URLs into the frontier. */
  const enqueue = (entries: ReadonlyArray<QueuedUrl | Discovered>): void => {
    for (const q of entries) enqueueOne(q);
  };

  /** Hands one URL of `host` to the scheduler. */
  const submitJob = (host: HostQueue, q: QueuedUrl): void => {
    let url: GeminiUrl;
    try {
      url = parseGeminiUrl(q.url); // parsed when queued, but a resumed journal's lines are not parsed again on reading
    } catch (err) {
      // a damaged journal line: its record (journaled, so not queued again by a later resume), no request
      emit(crawlFields(errorRecord(q.url, err), q, 0), []);
      return;
    }
    ensureRobots(host.key); // older than robotsTtl: fetched again before this job (queued at the front)
    let attempts = 0;
    let last: Attempt | undefined;
    let waiting = true;
    host.inScheduler++;
    /** The job left the scheduler's queue (started, skipped or set aside): the host's window has room again. */
    const left = (): void => {
      if (!waiting) return;
      waiting = false;
      host.inScheduler--;
      feedSoon(host);
    };
    const disallowed = (): boolean => {
      const entry = robots.get(host.key);
      return robotsEnabled && (entry?.rules ?? entry?.previous)?.isAllowed(robotsPath(url)) === false;
    };
    const runJob = async (attempt: number): Promise<AttemptOutcome> => {
      attempts = attempt;
      if (attempt === 1) {
        const refused = await addressGuard.check(url);
        if (refused !== undefined && !signal.aborted) {
          stats.addressRefused++;
          emit(addressRefusedRecord(q, refused), []);
          return { contacted: false, health: 'neutral', retry: false };
        }
        const entry = robots.get(host.key);
        if (entry && entry.rules === undefined && entry.previous === undefined) await entry.ready;
        if (signal.aborted) {
          emitInterrupted(q, undefined, 0);
          return { contacted: false, health: 'neutral', retry: false };
        }
        if (disallowed()) {
          emit(disallowedRecord(q, url), []);
          return { contacted: false, health: 'neutral', retry: false };
        }
        pagesRequested++;
      }
      const date = new Date();
      const keep = (r: { category: number; mimeType: string | undefined }): boolean =>
        r.category === 2 && (r.mimeType === 'text/gemini' || warc !== undefined || options.mirrorDir !== undefined);
      const got = await fetchAttempt(client, q.url, requestOptions, keep);
      last = got;
      const outcome = classifyRecord(got.record, attempt, retries, slowDownRetries);
      if (signal.aborted && (outcome.retry || cutByAbort(got.record))) {
        emitInterrupted(q, got.record, attempts, !cutByAbort(got.record));
        return { ...outcome, retry: false };
      }
      if (outcome.retry) {
        // waits in the scheduler for its backoff: an interrupt meanwhile owes it a record
        retrying.set(q, () => emitInterrupted(q, got.record, attempts, true));
        return outcome;
      }
      await finishPage(q, url, got, attempts, date);
      return { ...outcome, retry: false };
    };
    scheduler.submit({
      hostKey: host.key,
      skip: () => {
        left();
        if (disallowed()) {
          emit(disallowedRecord(q, url), []);
          return true;
        }
        if (pagesRequested >= maxPages) {
          outstanding--;
          stats.leftOver++;
          if (outstanding === 0) finish();
          return true;
        }
        return false;
      },
      run: async (attempt) => {
        left();
        retrying.delete(q);
        running++;
        try {
          return await runJob(attempt);
        } finally {
          jobEnded();
        }
      },
      // a URL already tried keeps the outcome of its last attempt
      setAside: (reason) => {
        left();
        retrying.delete(q);
        if (last) void finishPage(q, url, last, attempts, new Date());
        else emit(crawlFields(setAsideRecord(q.url, reason), q, attempts), []);
      },
    });
  };

  signal.addEventListener('abort', interrupt, { once: true });

  // ---- start: resumed frontier, then new seeds

  const newSeeds: QueuedUrl[] = [];
  const invalidSeeds: CrawlRecord[] = [];
  for (const seed of seeds) {
    let url: GeminiUrl;
    try {
      url = parseGeminiUrl(seed);
    } catch (err) {
      if (!recordedInputs.has(seed)) {
        recordedInputs.add(seed);
        invalidSeeds.push(crawlFields(errorRecord(seed, err), { url: seed, depth: 0, parent: null }, 0));
      }
      continue;
    }
    if (seen.add(url.href)) {
      newSeeds.push({ url: url.href, depth: 0, parent: null });
      guards.noteQueued(url.hostPort);
    }
  }
  journal?.append(newSeeds);
  outstanding++; // held while starting, so no early record can end the crawl
  outstanding += invalidSeeds.length;
  for (const record of invalidSeeds) emit(record, []);
  try {
    if (resumed) {
      // the journal's pending URLs are in the frontier already (CrawlJournal.open put them there)
      outstanding += resumed.pendingCount;
      for (const host of frontier.hostQueues()) {
        ensureRobots(host.key);
        if (host.length > 0) feedSoon(host);
      }
      resumed = undefined;
    }
    enqueue(newSeeds);
  } catch (err) {
    fail(err);
  }
  outstanding--;
  if (outstanding === 0) finish();

  try {
    yield* out;
  } finally {
    finish();
  }
}

/**
 * Turns a record the crawl owns (fresh, not yet handed out) into a
 * {@link CrawlRecord} in place: same keys in the same order as
 * `{ ...record, depth, ... }`. In place because on Node 20 that spread (once
 * per page) cost tens of times more than these stores (profiled: ~20 µs).
 */
function crawlFields(record: FetchRecord, q: QueuedUrl, attempts: number): CrawlRecord {
  const out = record as CrawlRecord;
  out.depth = q.depth;
  out.parent = q.parent;
  out.attempts = attempts;
  out.duplicateOf = null;
  out.links = null;
  out.linksFromIncomplete = false;
  out.queued = 0;
  out.mirrorPath = null;
  out.mirrorPartial = false;
  out.mirrorError = null;
  out.certificate = null;
  return out;
}

/** The seeds that parse (an invalid one gets its record later). */
function parsedSeeds(seeds: readonly string[]): GeminiUrl[] {
  const urls: GeminiUrl[] = [];
  for (const seed of seeds) {
    try {
      urls.push(parseGeminiUrl(seed));
    } catch {
      // reported as a record
    }
  }
  return urls;
}

function isSuccess(record: FetchRecord): boolean {
  return record.status !== null && Math.floor(record.status / 10) === 2;
}
