/**
 * Crawler-trap guards: rules that stop a crawl from following links into
 * endless generated spaces (calendars, `/a/b/a/b/...` relative-link loops,
 * search forms, one huge capsule eating the whole page budget).
 *
 * Every guard is on by default, has an option to change or disable it, and is
 * counted when it refuses a link, so the crawl's summary can say what it left
 * out. The URL checks are pure ({@link urlTrap}); {@link TrapGuards} adds the
 * per-host page budget, which needs a count per host.
 */
import type { GeminiUrl } from '../protocol/url.js';

/** What a guard refused a link for. */
export type TrapKind =
  /** The host already had `maxPagesPerHost` URLs taken into the frontier. */
  | 'hostBudget'
  /** The URL (href, bytes) is longer than `maxUrlLength`. */
  | 'urlLength'
  /** The path has more than `maxPathDepth` segments. */
  | 'pathDepth'
  /** A run of path segments repeats more than `maxSegmentRepeats` times in a row (`/a/b/a/b/a/b`). */
  | 'repeatedSegments'
  /** The URL has a query string and queries are not followed. */
  | 'query';

/** Every {@link TrapKind}, in the order summaries list them. */
export const TRAP_KINDS: readonly TrapKind[] = ['hostBudget', 'urlLength', 'pathDepth', 'repeatedSegments', 'query'];

/** Links refused per guard. */
export type TrapCounts = Record<TrapKind, number>;

/** Settings of the guards. For the numbers, 0 means "no limit". */
export interface TrapGuardOptions {
  /** Most URLs taken into the frontier per host (host:port), seeds included (default {@link DEFAULT_MAX_PAGES_PER_HOST}). */
  maxPagesPerHost?: number;
  /** Longest URL followed, in bytes of the normalised href (default {@link DEFAULT_MAX_URL_LENGTH}; the protocol's own limit is 1024). */
  maxUrlLength?: number;
  /** Most path segments followed (`/a/b/c.gmi` has 3; default {@link DEFAULT_MAX_PATH_DEPTH}). */
  maxPathDepth?: number;
  /**
   * Most times a run of 1 to {@link MAX_REPEAT_PERIOD} path segments may occur
   * in a row (default {@link DEFAULT_MAX_SEGMENT_REPEATS}: `/a/b/a/b` passes,
   * `/a/b/a/b/a/b` does not).
   */
  maxSegmentRepeats?: number;
  /**
   * Follow links with a query string (`?...`). Default: only when a seed has
   * one (a crawl started on a search result means it).
   */
  queries?: boolean;
}

/** Default per-host page budget. */
export const DEFAULT_MAX_PAGES_PER_HOST = 10_000;
/** Default longest URL followed, bytes. */
export const DEFAULT_MAX_URL_LENGTH = 512;
/** Default deepest path followed, segments. */
export const DEFAULT_MAX_PATH_DEPTH = 16;
/** Default times a run of segments may occur in a row. */
export const DEFAULT_MAX_SEGMENT_REPEATS = 2;
/** Longest run of segments (in segments) checked for repetition: traps loop over short cycles, and it bounds the work. */
export const MAX_REPEAT_PERIOD = 8;

/** Limits with every default filled in (0: no limit). */
export interface TrapLimits {
  maxPagesPerHost: number;
  maxUrlLength: number;
  maxPathDepth: number;
  maxSegmentRepeats: number;
  queries: boolean;
}

/** The limits of `options`, defaults filled in; `queries` defaults to whether a seed has a query. */
export function trapLimits(options: TrapGuardOptions, seeds: readonly GeminiUrl[]): TrapLimits {
  return {
    maxPagesPerHost: options.maxPagesPerHost ?? DEFAULT_MAX_PAGES_PER_HOST,
    maxUrlLength: options.maxUrlLength ?? DEFAULT_MAX_URL_LENGTH,
    maxPathDepth: options.maxPathDepth ?? DEFAULT_MAX_PATH_DEPTH,
    maxSegmentRepeats: options.maxSegmentRepeats ?? DEFAULT_MAX_SEGMENT_REPEATS,
    queries: options.queries ?? seeds.some((seed) => seed.hasQuery),
  };
}

/**
 * The first URL guard `url` trips (in {@link TRAP_KINDS} order, the host
 * budget aside), or undefined. Pure; linear in the path's length (the
 * repetition check looks at runs of at most {@link MAX_REPEAT_PERIOD} segments).
 */
export function urlTrap(url: GeminiUrl, limits: Omit<TrapLimits, 'maxPagesPerHost'>): TrapKind | undefined {
  if (limits.maxUrlLength > 0 && url.href.length > limits.maxUrlLength) return 'urlLength';
  const segments = url.path.split('/').filter((s) => s !== '');
  if (limits.maxPathDepth > 0 && segments.length > limits.maxPathDepth) return 'pathDepth';
  if (limits.maxSegmentRepeats > 0 && repeatsMoreThan(segments, limits.maxSegmentRepeats)) return 'repeatedSegments';
  if (!limits.queries && url.hasQuery) return 'query';
  return undefined;
}

/** Whether some run of 1..MAX_REPEAT_PERIOD segments occurs more than `times` times in a row. */
export function repeatsMoreThan(segments: readonly string[], times: number): boolean {
  const n = segments.length;
  for (let period = 1; period <= MAX_REPEAT_PERIOD && period * (times + 1) <= n; period++) {
    // run = how many positions in a row equal the one `period` before: a run of period*times means times+1 copies
    let run = 0;
    for (let i = period; i < n; i++) {
      if (segments[i] === segments[i - period]) {
        if (++run >= period * times) return true;
      } else {
        run = 0;
      }
    }
  }
  return false;
}

/**
 * The guards of one crawl. Memory: one map entry per host (its count).
 * {@link admit} is the one call per discovered link; {@link noteQueued} counts
 * URLs that enter the frontier without being judged (seeds, a resumed frontier).
 */
export class TrapGuards {
  readonly limits: TrapLimits;
  /** Links refused so far, per guard. */
  readonly counts: TrapCounts = { hostBudget: 0, urlLength: 0, pathDepth: 0, repeatedSegments: 0, query: 0 };
  readonly #perHost = new Map<string, number>();

  constructor(options: TrapGuardOptions, seeds: readonly GeminiUrl[]) {
    this.limits = trapLimits(options, seeds);
  }

  /** Counts `count` (default 1) URLs of `hostKey` as taken into the frontier. */
  noteQueued(hostKey: string, count = 1): void {
    this.#perHost.set(hostKey, (this.#perHost.get(hostKey) ?? 0) + count);
  }

  /**
   * Whether a discovered link may be queued: undefined when it may (then it
   * is counted against its host's budget; call only for links not seen
   * before), else the guard that refused it (counted in {@link counts}).
   */
  admit(url: GeminiUrl): TrapKind | undefined {
    let trap = urlTrap(url, this.limits);
    if (trap === undefined && this.limits.maxPagesPerHost > 0 && (this.#perHost.get(url.hostPort) ?? 0) >= this.limits.maxPagesPerHost) trap = 'hostBudget';
    if (trap !== undefined) {
      this.counts[trap]++;
      return trap;
    }
    this.noteQueued(url.hostPort);
    return undefined;
  }

  /** Links refused in all. */
  get total(): number {
    return TRAP_KINDS.reduce((sum, kind) => sum + this.counts[kind], 0);
  }
}

/** `3 per-host budget, 1 repeated segments` for a summary line; '' when nothing was refused. */
export function formatTrapCounts(counts: TrapCounts): string {
  const names: Record<TrapKind, string> = {
    hostBudget: 'per-host page budget',
    urlLength: 'URL too long',
    pathDepth: 'path too deep',
    repeatedSegments: 'repeated path segments',
    query: 'query string',
  };
  return TRAP_KINDS.filter((kind) => counts[kind] > 0)
    .map((kind) => `${counts[kind]} ${names[kind]}`)
    .join(', ');
}
