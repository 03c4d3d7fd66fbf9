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
 * the write) is cut, a damaged line skipped. The file is read a line at a
 * time (it grows by a line per fetch, TTL refetches included: never read
 * whole). Failed fetches (no answer) are not stored: a resumed crawl asks
 * again.
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

/** Longest line of the cache file read: a {@link MAX_ROBOTS_BYTES} body JSON-escaped (at most 6 bytes per byte) fits; a longer line is damage, skipped. */
export const MAX_CACHE_LINE_BYTES = 8 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

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
    let fd: number;
    try {
      fd = fs.openSync(this.#file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw storageError('cannot read the robots.txt cache', this.#file, err);
    }
    let read: { size: number; complete: number };
    try {
      read = this.#read(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (read.complete !== read.size) {
      // a torn last line would swallow the next append: cut it (that fetch is made again)
      try {
        fs.truncateSync(this.#file, read.complete);
      } catch (err) {
        throw storageError('cannot repair the robots.txt cache', this.#file, err);
      }
    }
  }

  /**
   * Reads the file a chunk at a time (memory: one chunk and one line, never
   * the file: it grows by a line per robots.txt fetched, TTL refetches
   * included); a line longer than {@link MAX_CACHE_LINE_BYTES} is damage and
   * is skipped. Returns the file's size and the offset after its last newline.
   */
  #read(fd: number): { size: number; complete: number } {
    const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    let parts: Buffer[] = [];
    let partBytes = 0;
    let overlong = false;
    let pos = 0;
    let complete = 0;
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, chunk, 0, chunk.length, pos);
      } catch (err) {
        throw storageError('cannot read the robots.txt cache', this.#file!, err);
      }
      if (n === 0) break;
      const data = chunk.subarray(0, n);
      let start = 0;
      for (;;) {
        const nl = data.indexOf(0x0a, start);
        if (nl < 0) {
          if (!overlong && partBytes + (n - start) <= MAX_CACHE_LINE_BYTES) {
            parts.push(Buffer.from(data.subarray(start)));
            partBytes += n - start;
          } else {
            overlong = true;
            parts = [];
            partBytes = 0;
          }
          break;
        }
        if (!overlong && partBytes + (nl - start) <= MAX_CACHE_LINE_BYTES) {
          const line = parts.length > 0 ? Buffer.concat([...parts, data.subarray(start, nl)]) : data.subarray(start, nl);
          this.#load(line.toString('utf8'));
        }
        parts = [];
        partBytes = 0;
        overlong = false;
        start = nl + 1;
        complete = pos + start;
      }
      pos += n;
    }
    return { size: pos, complete };
  }

  /** Takes one line of the file (the last line of a host wins); a line that is not an entry is skipped. */
  #load(line: string): void {
    if (line === '') return;
    try {
      const entry = JSON.parse(line) as { host?: unknown; fetchedAt?: unknown; body?: unknown };
      if (typeof entry.host !== 'string' || typeof entry.fetchedAt !== 'number' || (entry.body !== null && typeof entry.body !== 'string')) return;
      this.#loaded.set(entry.host, { fetchedAt: entry.fetchedAt, body: entry.body });
    } catch {
      // a damaged line (null, garbage): that fetch is made again
    }
  }

  /** The time-to-live, ms. */
  get ttl(): number {
    return this.#ttl;
  }

  /**
   * Whether something fetched at `fetchedAt` is still fresh at `now`: less
   * than the TTL apart, either way (a time from further in the future, a
   * damaged entry or a clock set back, would otherwise never expire).
   */
  isFresh(fetchedAt: number, now = Date.now()): boolean {
    return Math.abs(now - fetchedAt) < this.#ttl;
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
