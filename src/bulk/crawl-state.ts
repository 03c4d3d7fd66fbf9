/**
 * Crawl state: a compact seen-set and the append-only journal behind
 * `crawl --state DIR`.
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
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { StateLockedError, StorageError } from '../errors.js';
import { makeDirectory } from '../files/safe-dirs.js';
import { DirectoryLock } from './state-lock.js';

export { StorageError };

/**
 * A set of 64-bit hashes of strings (the first 8 bytes of SHA-256) in an
 * open-addressing table: 8 bytes per slot, load factor at most 1/2, so 16-32
 * bytes per member whatever the string length. Two different strings collide
 * with probability about n^2 / 2^65 (for 10 million URLs: about 3 in a
 * million that ANY two collide); a collision makes `has` answer true for a
 * string never added.
 */
export class HashSet64 {
  #hi: Uint32Array;
  #lo: Uint32Array;
  #size = 0;

  constructor(initialCapacity = 1024) {
    let capacity = 16;
    while (capacity < initialCapacity * 2) capacity *= 2;
    this.#hi = new Uint32Array(capacity);
    this.#lo = new Uint32Array(capacity);
  }

  /** Members. */
  get size(): number {
    return this.#size;
  }

  /** Whether `value` (or a string with the same 64-bit hash) was added. */
  has(value: string): boolean {
    const [hi, lo] = hash64(value);
    return this.#find(hi, lo) >= 0;
  }

  /** Adds `value`; returns false when it was already there. */
  add(value: string): boolean {
    const [hi, lo] = hash64(value);
    if (this.#find(hi, lo) >= 0) return false;
    if ((this.#size + 1) * 2 > this.#hi.length) this.#grow();
    this.#insert(hi, lo);
    this.#size++;
    return true;
  }

  #find(hi: number, lo: number): number {
    const mask = this.#hi.length - 1;
    for (let i = lo & mask; ; i = (i + 1) & mask) {
      const h = this.#hi[i]!;
      const l = this.#lo[i]!;
      if (h === 0 && l === 0) return -1;
      if (h === hi && l === lo) return i;
    }
  }

  #insert(hi: number, lo: number): void {
    const mask = this.#hi.length - 1;
    let i = lo & mask;
    while (this.#hi[i] !== 0 || this.#lo[i] !== 0) i = (i + 1) & mask;
    this.#hi[i] = hi;
    this.#lo[i] = lo;
  }

  #grow(): void {
    const oldHi = this.#hi;
    const oldLo = this.#lo;
    this.#hi = new Uint32Array(oldHi.length * 2);
    this.#lo = new Uint32Array(oldLo.length * 2);
    for (let i = 0; i < oldHi.length; i++) {
      if (oldHi[i] !== 0 || oldLo[i] !== 0) this.#insert(oldHi[i]!, oldLo[i]!);
    }
  }
}

function hash64(value: string): [number, number] {
  const digest = createHash('sha256').update(value).digest();
  let hi = digest.readUInt32BE(0);
  const lo = digest.readUInt32BE(4);
  if (hi === 0 && lo === 0) hi = 1; // 0/0 marks an empty slot
  return [hi, lo];
}

/** A {@link StorageError} for `file`: `what` + the system's own message. */
export function storageError(what: string, file: string, cause: unknown): StorageError {
  if (cause instanceof StorageError) return cause;
  return new StorageError(`${what} ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, file, cause);
}

/** A frontier entry. */
export interface QueuedUrl {
  /** Normalised href. */
  url: string;
  depth: number;
  /** The page that linked to it; null for seeds. */
  parent: string | null;
}

/** What a journal held when it was opened. */
export interface JournalContents {
  /** URLs queued and not done, in queue order. */
  frontier: QueuedUrl[];
  /** Every URL ever queued (done or not). */
  seen: HashSet64;
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
   * it back. `onRecord` sees every record in order (e.g. to rebuild a
   * body-hash index). Memory while loading: the frontier (URLs not done) and
   * the seen-set. Rejects with a {@link StorageError} when the directory or
   * the journal cannot be created, opened or read, and with
   * {@link StateLockedError} when a running crawl has the directory open.
   */
  static async open<R extends { url: string }>(
    dir: string,
    onRecord: (record: R) => void = () => {},
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
      cutTornTail(fd);
      const contents = await readJournal<R>(file, onRecord);
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

/** Truncates the file after its last newline (a line torn by a kill). */
function cutTornTail(fd: number): void {
  const size = fs.fstatSync(fd).size;
  if (size === 0) return;
  const chunk = Buffer.alloc(Math.min(size, 64 * 1024));
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const n = fs.readSync(fd, chunk, 0, end - start, start);
    const nl = chunk.subarray(0, n).lastIndexOf(0x0a);
    if (nl >= 0) {
      const keep = start + nl + 1;
      if (keep !== size) fs.ftruncateSync(fd, keep);
      return;
    }
    end = start;
  }
  fs.ftruncateSync(fd, 0);
}

async function readJournal<R extends { url: string }>(file: string, onRecord: (record: R) => void): Promise<JournalContents> {
  const pending = new Map<string, QueuedUrl>();
  const seen = new HashSet64();
  const recordedInputs = new Set<string>();
  let recordCount = 0;
  let skippedLines = 0;
  let lastParent: string | null = null;
  for await (const entry of journalEntries(file)) {
    if (entry === undefined) {
      skippedLines++;
    } else if ('q' in entry) {
      // a page's links are journaled together: share one parent string between them rather than a copy per URL
      if (entry.p !== lastParent) lastParent = entry.p;
      if (seen.add(entry.q)) pending.set(entry.q, { url: entry.q, depth: entry.d, parent: lastParent });
    } else {
      const record = entry.r as R;
      recordCount++;
      if (!pending.delete(record.url) && !seen.has(record.url)) recordedInputs.add(record.url);
      onRecord(record);
    }
  }
  return { frontier: [...pending.values()], seen, recordedInputs, recordCount, skippedLines };
}

type JournalEntry = { q: string; d: number; p: string | null } | { r: unknown };

async function* journalEntries(file: string): AsyncGenerator<JournalEntry | undefined> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === '') continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      yield undefined;
      continue;
    }
    if (entry && typeof entry === 'object' && ('q' in entry || 'r' in entry)) yield entry as JournalEntry;
    else yield undefined;
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

/**
 * The URLs of one host waiting in a crawl frontier, in FIFO order, packed
 * three array slots per URL (href, parent, depth): no object per URL, and the
 * parent is a reference to the parent's own href string (shared by all its
 * children), not a copy. About 24-40 bytes per URL besides the href string.
 */
export class HostQueue {
  /** The host's key (`GeminiUrl.hostPort`). */
  readonly key: string;
  /** Jobs of this host handed to the scheduler that have not started yet (kept by the crawl). */
  inScheduler = 0;
  #slots: Array<string | number | null> = [];
  #head = 0;

  constructor(key: string) {
    this.key = key;
  }

  /** URLs queued. */
  get length(): number {
    return (this.#slots.length - this.#head) / 3;
  }

  /** Queues a URL at the end. */
  push(url: string, depth: number, parent: string | null): void {
    this.#slots.push(url, parent, depth);
  }

  /** Takes the first URL, or undefined when empty. */
  shift(): QueuedUrl | undefined {
    const slots = this.#slots;
    const i = this.#head;
    if (i >= slots.length) return undefined;
    const q: QueuedUrl = { url: slots[i] as string, depth: slots[i + 2] as number, parent: slots[i + 1] as string | null };
    slots[i] = slots[i + 1] = slots[i + 2] = null;
    this.#head = i + 3;
    if (this.#head === slots.length) {
      this.#slots = [];
      this.#head = 0;
    } else if (this.#head > 3 * 1024 && this.#head * 2 > slots.length) {
      this.#slots = slots.slice(this.#head);
      this.#head = 0;
    }
    return q;
  }
}
