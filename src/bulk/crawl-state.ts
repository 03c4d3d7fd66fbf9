/**
 * Crawl state: the append-only journal behind `crawl --state DIR`, and how
 * a resumed crawl reads it back (seen-set in seen-set.ts, frontier in
 * frontier.ts).
 *
 * Journal: `DIR/journal.ndjson`, one JSON object per line, only ever appended:
 * - `{"q":HREF,"d":DEPTH,"p":PARENT}`: a URL entered the frontier;
 * - `{"r":RECORD}`: the record of a URL (the URL is done for good).
 *
 * A page's discovered links and its record go out in ONE write(2), links
 * first, so a kill leaves either both or neither (a torn last line is
 * dropped, and truncated away, on the next open). Every append is a
 * synchronous write to the kernel: a process killed at any moment (even
 * SIGKILL) loses nothing it had appended. Data are flushed to the disk
 * (fdatasync) at most one second after an append and on close: a power
 * failure can lose up to the last second.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StateLockedError, StorageError } from '../errors.js';
import { makeDirectory } from '../files/safe-dirs.js';
import { DirectoryLock } from './state-lock.js';
import { hostKeyOfHref, MAX_FRONTIER_DEPTH, MAX_FRONTIER_HREF_BYTES, type Frontier, type QueuedUrl } from './frontier.js';
import { SeenSet } from './seen-set.js';

export { StorageError };
export type { QueuedUrl };



/** A {@link StorageError} for `file`: `what` + the system's own message. */
export function storageError(what: string, file: string, cause: unknown): StorageError {
  if (cause instanceof StorageError) return cause;
  return new StorageError(`${what} ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, file, cause);
}

/** What a journal held when it was opened. */
export interface JournalContents {
  /** URLs queued and not done: those the frontier passed to `open` will hand out. */
  pendingCount: number;
  /** Every URL ever queued (done or not). */
  seen: SeenSet;
  /** `url` of every record, for inputs that never entered the frontier (invalid seeds). */
  recordedInputs: Set<string>;
  /** Number of records in the journal. */
  recordCount: number;
  /** Lines that did not parse (none in a healthy journal: a torn last line is cut on open). */
  skippedLines: number;
}

/** Name of the journal file inside the state directory. */
export const JOURNAL_FILE = 'journal.ndjson';
const FLUSH_INTERVAL_MS = 1000;

/**
 * The append-only crawl journal (see the module comment for its format and
 * durability). One writer at a time: the directory is locked while the
 * journal is open (see state-lock.ts); a second opener, in this process or
 * another, is refused with {@link StateLockedError} (`ERR_STATE_LOCKED`).
 */
export class CrawlJournal<R extends { url: string }> {
  readonly path: string;
  #fd: number;
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #lock: DirectoryLock;

  private constructor(file: string, fd: number, lock: DirectoryLock) {
    this.path = file;
    this.#fd = fd;
    this.#lock = lock;
  }

  /**
   * Opens (creating) the journal in `dir`, cuts a torn last line, and reads
   * it back in one streaming pass: `onRecord` sees every record in order
   * (e.g. to rebuild the duplicate index); every URL queued in it goes into
   * `frontier`, if given, marked as resumed, and the frontier is told to skip
   * those recorded (so it hands out exactly `pendingCount` URLs). Memory
   * while loading: the seen-set and the set of recorded URLs (about 16 bytes
   * per URL each, outside the heap) and what `frontier` keeps in memory;
   * never an object per URL. Rejects with a {@link StorageError} when the
   * directory or the journal cannot be created, opened or read (or the
   * frontier cannot spill), and with {@link StateLockedError} when a running
   * crawl has the directory open.
   */
  static async open<R extends { url: string }>(
    dir: string,
    onRecord: (record: R) => void = () => {},
    frontier?: Frontier,
  ): Promise<{ journal: CrawlJournal<R>; contents: JournalContents }> {
    const file = path.join(dir, JOURNAL_FILE);
    let fd = -1;
    let lock: DirectoryLock | undefined;
    try {
      await makeDirectory(dir).catch((err: StorageError) => {
        throw new StorageError(`cannot open the crawl journal ${file}: ${err.message}`, file, err.cause);
      });
      lock = DirectoryLock.acquire(dir);
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_APPEND, 0o644);
      const end = cutTornTail(fd);
      const contents = readJournal<R>(file, end, onRecord, frontier);
      return { journal: new CrawlJournal<R>(file, fd, lock), contents };
    } catch (err) {
      if (fd >= 0) fs.closeSync(fd);
      lock?.release();
      if (err instanceof StateLockedError) throw err;
      throw storageError('cannot open the crawl journal', file, err);
    }
  }

  /**
   * Appends queued URLs (and then a record, if given) in one write. Throws a
   * {@link StorageError} when the write fails (disk full...); a partly
   * written last line is cut when the journal is next opened.
   */
  append(queued: readonly QueuedUrl[], record?: R): void {
    let text = '';
    for (const q of queued) text += `${JSON.stringify({ q: q.url, d: q.depth, p: q.parent })}\n`;
    if (record) text += `${JSON.stringify({ r: record })}\n`;
    if (text === '') return;
    if (this.#fd < 0) throw new StorageError(`the crawl journal ${this.path} is closed`, this.path);
    const bytes = Buffer.from(text, 'utf8');
    let offset = 0;
    try {
      while (offset < bytes.length) offset += fs.writeSync(this.#fd, bytes, offset);
    } catch (err) {
      throw storageError('cannot append to the crawl journal', this.path, err);
    }
    this.#dirty = true;
    this.#timer ??= setTimeout(() => this.#flush(), FLUSH_INTERVAL_MS).unref();
  }

  #flush(): void {
    this.#timer = undefined;
    if (!this.#dirty) return;
    this.#dirty = false;
    try {
      fs.fdatasyncSync(this.#fd);
    } catch {
      // best effort: the data are with the kernel already
    }
  }

  /** Flushes to disk and closes. */
  close(): void {
    if (this.#fd < 0) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#dirty = true;
    this.#flush();
    fs.closeSync(this.#fd);
    this.#fd = -1;
    this.#lock.release();
  }
}

/** Truncates the file after its last newline (a line torn by a kill); returns its size after that. */
function cutTornTail(fd: number): number {
  const size = fs.fstatSync(fd).size;
  if (size === 0) return 0;
  const chunk = Buffer.alloc(Math.min(size, 64 * 1024));
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const n = fs.readSync(fd, chunk, 0, end - start, start);
    const nl = chunk.subarray(0, n).lastIndexOf(0x0a);
    if (nl >= 0) {
      const keep = start + nl + 1;
      if (keep !== size) fs.ftruncateSync(fd, keep);
      return keep;
    }
    end = start;
  }
  fs.ftruncateSync(fd, 0);
  return 0;
}

/**
 * Reads the journal (its first `end` bytes) in one synchronous streaming pass
 * (1 MiB at a time): builds the seen-set and the set of recorded URLs, hands
 * each record to `onRecord`, and pushes the first occurrence of every queued
 * URL into `frontier` as a resumed entry; the frontier then skips those that
 * turn out to be recorded ({@link Frontier.skipResumed}). Memory: the two
 * hash sets (about 16 bytes per URL, see seen-set.ts), one chunk, and what
 * the frontier keeps in memory; no object per URL.
 */
function readJournal<R extends { url: string }>(file: string, end: number, onRecord: (record: R) => void, frontier: Frontier | undefined): JournalContents {
  // sized from the file (queued lines are about 100-150 bytes): no doubling of a large table while loading
  const seen = new SeenSet(Math.min(end / 128, 2 ** 26));
  const done = new SeenSet();
  const recordedInputs = new Set<string>();
  let recordCount = 0;
  let skippedLines = 0;
  let queued = 0;
  let doneQueued = 0;
  const queue = (q: string, d: number, p: string | null): void => {
    if (tooLong(q) || (p !== null && tooLong(p))) {
      skippedLines++; // a damaged line: the frontier cannot hold it (and no gemini URL is that long)
      return;
    }
    const hostKey = hostKeyOfHref(q);
    if (hostKey === undefined || !Number.isInteger(d) || d < 0 || d > MAX_FRONTIER_DEPTH || !seen.add(q)) return;
    queued++;
    frontier?.push(frontier.host(hostKey), q, d, p, true);
  };
  scanLines(
    file,
    end,
    (line) => {
      const fast = line.startsWith('{"q"') ? parseQueued(line) : undefined;
      if (fast !== undefined) {
        queue(fast.q, fast.d, fast.p);
        return;
      }
      const entry = parseEntry(line);
      if (entry === undefined) {
        skippedLines++;
      } else if ('q' in entry) {
        queue(entry.q, entry.d, typeof entry.p === 'string' ? entry.p : null);
      } else {
        const record = entry.r as R;
        recordCount++;
        const url = record.url;
        if (!seen.has(url)) recordedInputs.add(url);
        else if (done.add(url)) doneQueued++;
        onRecord(record);
      }
    },
    () => skippedLines++,
  );
  frontier?.skipResumed(done);
  return { pendingCount: queued - doneQueued, seen, recordedInputs, recordCount, skippedLines };
}

/** Whether `href` is longer than a frontier entry can hold (UTF-8 is at most 3 bytes per UTF-16 unit: most hrefs need no count). */
function tooLong(href: string): boolean {
  return href.length * 3 > MAX_FRONTIER_HREF_BYTES && Buffer.byteLength(href, 'utf8') > MAX_FRONTIER_HREF_BYTES;
}

const QUEUED_HEAD = '{"q":"';
const QUEUED_DEPTH = '","d":';
const QUEUED_PARENT = ',"p":';

/**
 * A `{"q":...}` line as `append` writes it, read without JSON.parse (a third
 * of the time, profiled on a million lines); undefined when the line has
 * another shape or a backslash (an escape) anywhere: then JSON.parse reads it.
 */
function parseQueued(line: string): { q: string; d: number; p: string | null } | undefined {
  if (!line.startsWith(QUEUED_HEAD) || line.includes('\\')) return undefined;
  const urlEnd = line.indexOf(QUEUED_DEPTH, QUEUED_HEAD.length);
  if (urlEnd < 0) return undefined;
  const parentAt = line.indexOf(QUEUED_PARENT, urlEnd + QUEUED_DEPTH.length);
  if (parentAt < 0 || line.charCodeAt(line.length - 1) !== 0x7d /* } */) return undefined;
  const depthText = line.slice(urlEnd + QUEUED_DEPTH.length, parentAt);
  const d = Number(depthText);
  if (!/^\d+$/.test(depthText)) return undefined;
  const parentText = line.slice(parentAt + QUEUED_PARENT.length, line.length - 1);
  let p: string | null;
  if (parentText === 'null') p = null;
  else if (parentText.length >= 2 && parentText.startsWith('"') && parentText.indexOf('"', 1) === parentText.length - 1) p = parentText.slice(1, -1);
  else return undefined;
  const q = line.slice(QUEUED_HEAD.length, urlEnd);
  if (q.includes('"')) return undefined;
  return { q, d, p };
}

function parseEntry(line: string): JournalEntry | undefined {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return undefined;
  }
  return isJournalEntry(entry) ? entry : undefined;
}

/**
 * Whether a parsed journal line is a queued line (`q` a string) or a record
 * line (`r` an object with a string `url`, as `append` writes them). Anything
 * else (`{"r":null}`, `{"r":"x"}`, a record without its url: a damaged
 * journal) is a line that did not parse: skipped, never handed on.
 */
function isJournalEntry(entry: unknown): entry is JournalEntry {
  if (!entry || typeof entry !== 'object') return false;
  if ('q' in entry) return typeof (entry as { q: unknown }).q === 'string';
  if (!('r' in entry)) return false;
  const r = (entry as { r: unknown }).r;
  return r !== null && typeof r === 'object' && !Array.isArray(r) && typeof (r as { url?: unknown }).url === 'string';
}

const SCAN_CHUNK = 1 << 20;

/**
 * Longest journal line kept, in bytes: a record or a queued URL takes a few
 * KiB at most, so a longer line is damage (a file written over, a disk
 * error). It is skipped, never held whole: memory stays bounded by this plus
 * one read chunk, whatever the file holds.
 */
export const MAX_JOURNAL_LINE_BYTES = 16 * 1024 * 1024;

/** Splits chunks into non-empty lines; a line over {@link MAX_JOURNAL_LINE_BYTES} is dropped (`onOversize`) as it grows. */
class JournalLineSplitter {
  #carry: Buffer | undefined;
  #skipping = false;
  readonly #onLine: (line: string) => void;
  readonly #onOversize: () => void;

  constructor(onLine: (line: string) => void, onOversize: () => void) {
    this.#onLine = onLine;
    this.#onOversize = onOversize;
  }

  push(chunk: Buffer): void {
    let data = chunk;
    if (this.#skipping) {
      const nl = data.indexOf(0x0a);
      if (nl < 0) return;
      this.#skipping = false;
      data = data.subarray(nl + 1);
    }
    if (this.#carry) {
      data = Buffer.concat([this.#carry, data]);
      this.#carry = undefined;
    }
    const last = data.lastIndexOf(0x0a);
    if (last >= 0) {
      const text = data.toString('utf8', 0, last);
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        const stop = nl < 0 ? text.length : nl;
        if (stop > start) this.#onLine(text.slice(start, stop));
        if (nl < 0) break;
        start = nl + 1;
      }
    }
    const rest = data.subarray(last + 1);
    if (rest.length > MAX_JOURNAL_LINE_BYTES) {
      this.#skipping = true;
      this.#onOversize();
    } else if (rest.length > 0) {
      this.#carry = Buffer.from(rest);
    }
  }

  /** The last line, if the file does not end with a newline. */
  end(): void {
    if (this.#carry && this.#carry.length > 0) this.#onLine(this.#carry.toString('utf8'));
    this.#carry = undefined;
  }
}

/**
 * Calls `onLine` for every non-empty line of the first `end` bytes of `file`,
 * synchronously, and `onOversize` for each line over {@link MAX_JOURNAL_LINE_BYTES}
 * (skipped), holding one 1 MiB chunk and at most one bounded line. Throws a
 * StorageError naming the file, `what` saying what failed.
 */
export function scanLines(file: string, end: number, onLine: (line: string) => void, onOversize: () => void, what = 'cannot read the crawl journal'): void {
  let fd = -1;
  try {
    fd = fs.openSync(file, 'r');
    const chunk = Buffer.allocUnsafe(SCAN_CHUNK);
    const splitter = new JournalLineSplitter(onLine, onOversize);
    let pos = 0;
    while (pos < end) {
      const n = fs.readSync(fd, chunk, 0, Math.min(SCAN_CHUNK, end - pos), pos);
      if (n === 0) break;
      pos += n;
      splitter.push(chunk.subarray(0, n));
    }
    splitter.end();
  } catch (err) {
    throw storageError(what, file, err);
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/**
 * The length of `file` up to and including its last newline (0 when it has
 * none), read backwards 64 KiB at a time. Throws a StorageError naming the file.
 */
export function endOfLastLine(file: string, what: string): number {
  let fd = -1;
  try {
    fd = fs.openSync(file, 'r');
    const chunk = Buffer.allocUnsafe(64 * 1024);
    for (let pos = fs.fstatSync(fd).size; pos > 0; ) {
      const start = Math.max(0, pos - chunk.length);
      const n = fs.readSync(fd, chunk, 0, pos - start, start);
      const nl = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (nl >= 0) return start + nl + 1;
      pos = start;
    }
    return 0;
  } catch (err) {
    throw storageError(what, file, err);
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

type JournalEntry = { q: string; d: number; p: string | null } | { r: unknown };

/** The journal's entries (undefined for a damaged or oversized line), holding at most one bounded line. */
async function* journalEntries(file: string): AsyncGenerator<JournalEntry | undefined> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(SCAN_CHUNK);
    let lines: (string | undefined)[] = [];
    const splitter = new JournalLineSplitter(
      (line) => lines.push(line),
      () => lines.push(undefined),
    );
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, SCAN_CHUNK, null);
      if (bytesRead === 0) splitter.end();
      else splitter.push(chunk.subarray(0, bytesRead));
      const batch = lines;
      lines = [];
      for (const line of batch) yield line === undefined ? undefined : parseEntry(line);
      if (bytesRead === 0) return;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Every record of the journal in `dir`, in the order they were written
 * (for re-emitting records an output file missed). Yields nothing when there
 * is no journal.
 */
export async function* journalRecords<R>(dir: string): AsyncGenerator<R> {
  const file = path.join(dir, JOURNAL_FILE);
  if (!fs.existsSync(file)) return;
  for await (const entry of journalEntries(file)) {
    if (entry && 'r' in entry) yield entry.r as R;
  }
}
