/**
 * robots.txt per host, kept for a time-to-live (default one day, as the web's
 * crawlers do) and, in a resumable crawl, in the state directory
 * (`DIR/robots.ndjson`), so a resumed crawl does not ask every capsule for
 * its robots.txt again, and does ask once the TTL has passed.
 *
 * The file is append-only, one JSON line per robots.txt fetched:
 * `{"host":"example.org:1965","fetchedAt":1733300000000,"body":"User-agent: *\n..."}`
 * (`body` null when the host answered something other than 2x: nothing is
 * disallowed). The last line of a host wins; a torn last line (a kill during
 * the write) is skipped. Failed fetches (no answer) are not stored: a resumed
 * crawl asks again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { storageError } from './crawl-state.js';

/** Name of the cache file inside a crawl's state directory. */
export const ROBOTS_CACHE_FILE = 'robots.ndjson';
/** Default time a robots.txt is trusted, ms (one day). */
export const DEFAULT_ROBOTS_TTL = 24 * 60 * 60 * 1000;
/** Most bytes of a robots.txt read (as Google's 500 KiB): the rest is ignored, and a cached body is never larger. */
export const MAX_ROBOTS_BYTES = 512 * 1024;

/** What is cached of one host's robots.txt. */
export interface CachedRobots {
  /** `Date.now()` when it was fetched. */
  fetchedAt: number;
  /** The text, or null when the host had none (a non-2x answer: nothing disallowed). */
  body: string | null;
}

/**
 * The robots.txt cache of one crawl. Memory: the entries read from the file,
 * each dropped once {@link take}n (the crawl keeps the parsed rules instead).
 */
export class RobotsCache {
  readonly #file: string | undefined;
  readonly #ttl: number;
  readonly #loaded = new Map<string, CachedRobots>();

  /**
   * Opens the cache of the state directory `dir` (reading what earlier runs
   * stored), or an in-memory one without `dir`. `ttl` in ms.
   * @throws StorageError when the file exists but cannot be read.
   */
  constructor(dir: string | undefined, ttl = DEFAULT_ROBOTS_TTL) {
    this.#ttl = ttl;
    this.#file = dir === undefined ? undefined : path.join(dir, ROBOTS_CACHE_FILE);
    if (this.#file === undefined) return;
    let text: string;
    try {
      text = fs.readFileSync(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw storageError('cannot read the robots.txt cache', this.#file, err);
    }
    const end = text.lastIndexOf('\n') + 1;
    if (end !== text.length) {
      // a torn last line would swallow the next append: cut it (that fetch is made again)
      try {
        fs.truncateSync(this.#file, Buffer.byteLength(text.slice(0, end)));
      } catch (err) {
        throw storageError('cannot repair the robots.txt cache', this.#file, err);
      }
    }
    for (const line of text.slice(0, end).split('\n')) {
      if (line === '') continue;
      try {
        const entry = JSON.parse(line) as { host?: unknown; fetchedAt?: unknown; body?: unknown };
        if (typeof entry.host !== 'string' || typeof entry.fetchedAt !== 'number' || (entry.body !== null && typeof entry.body !== 'string')) continue;
        this.#loaded.set(entry.host, { fetchedAt: entry.fetchedAt, body: entry.body });
      } catch {
        // a torn line (kill -9 during the append): that fetch is made again
      }
    }
  }

  /** The time-to-live, ms. */
  get ttl(): number {
    return this.#ttl;
  }

  /** Whether something fetched at `fetchedAt` is still fresh at `now`. */
  isFresh(fetchedAt: number, now = Date.now()): boolean {
    return now - fetchedAt < this.#ttl;
  }

  /** The stored robots.txt of `host` if still fresh at `now` (then forgotten here: the caller keeps it); else undefined. */
  take(host: string, now = Date.now()): CachedRobots | undefined {
    const entry = this.#loaded.get(host);
    if (entry === undefined) return undefined;
    this.#loaded.delete(host);
    return this.isFresh(entry.fetchedAt, now) ? entry : undefined;
  }

  /**
   * Stores a fetched robots.txt (appended to the file, when there is one).
   * @throws StorageError naming the file when the append fails.
   */
  put(host: string, entry: CachedRobots): void {
    if (this.#file === undefined) return;
    try {
      fs.appendFileSync(this.#file, `${JSON.stringify({ host, fetchedAt: entry.fetchedAt, body: entry.body })}\n`);
    } catch (err) {
      throw storageError('cannot write the robots.txt cache', this.#file, err);
    }
  }
}
