/**
 * A crawl frontier that does not keep queued URLs on the JS heap: per-host
 * FIFO queues of packed entries in blocks, where every block but a host's
 * first (being read) and last (being filled) lives in one append-only spill
 * file.
 *
 * Memory: at most two blocks per host with queued URLs (`blockBytes` each,
 * 2 KiB by default; a block being filled starts small and grows) plus about
 * 200 bytes of objects per host, 16 bytes per spilled block (its offset
 * and length), and one 256 KiB write buffer; nothing per queued URL. Disk: each queued URL takes 8 bytes
 * plus its href and its parent's href (UTF-8) in the spill file, which only
 * grows while the frontier is open (it is not reclaimed as URLs leave; at
 * 1,000,000 URLs of 40-byte hrefs, about 90 MB).
 *
 * The spill file is created on the first spilled block, in `dir` (the crawl's
 * state directory, or the system's temporary directory), and unlinked at once
 * where the system allows (POSIX): a killed process leaves nothing behind.
 * It is a cache, never a record: a resumed crawl rebuilds its frontier from
 * the journal (crawl-state.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { StorageError } from '../errors.js';

/** A frontier entry. */
export interface QueuedUrl {
  /** Normalised href. */
  url: string;
  depth: number;
  /** The page that linked to it; null for seeds. */
  parent: string | null;
}

/** Default size of a spilled block, bytes. */
export const DEFAULT_FRONTIER_BLOCK_BYTES = 2048;
/** Bytes before the hrefs of an entry: href length (u16), parent length (u16, 0xffff: none), depth (u32; bit 31: read back from a journal). */
const ENTRY_HEADER = 8;
const NO_PARENT = 0xffff;
const RESUMED_BIT = 0x80000000;
/** Longest href (and parent href) an entry can carry, bytes of UTF-8. */
export const MAX_FRONTIER_HREF_BYTES = NO_PARENT - 1;
/** Deepest depth an entry can carry. */
export const MAX_FRONTIER_DEPTH = 0x7fffffff;

/** What a frontier asks of the set of URLs to skip (a seen-set of recorded URLs). */
export interface UrlSet {
  has(url: string): boolean;
}
/** A block being filled starts this small, and doubles up to `blockBytes`. */
const FIRST_TAIL_BYTES = 256;

/** Options of a {@link Frontier}. */
export interface FrontierOptions {
  /** Directory of the spill file (default: the system's temporary directory). */
  dir?: string;
  /** Bytes per spilled block (default {@link DEFAULT_FRONTIER_BLOCK_BYTES}; at least 64). */
  blockBytes?: number;
}

/**
 * The host part of a normalised gemini href (as `parseGeminiUrl` made it):
 * `GeminiUrl.hostPort`, i.e. `host:port` with the default port 1965 made
 * explicit and IPv6 hosts in brackets. Undefined for a string that is not a
 * normalised `gemini://` href.
 */
export function hostKeyOfHref(href: string): string | undefined {
  if (!href.startsWith('gemini://')) return undefined;
  let end = href.indexOf('/', 9);
  const q = href.indexOf('?', 9);
  if (end < 0 || (q >= 0 && q < end)) end = q >= 0 ? q : href.length;
  const authority = href.slice(9, end);
  if (authority === '') return undefined;
  const colon = authority.lastIndexOf(':');
  const bracket = authority.lastIndexOf(']');
  if (colon > bracket) return authority;
  return `${authority}:1965`;
}

/** Bytes of spilled blocks gathered before one write(2) (profiled: a write per 2 KiB block cost a tenth of a resume's time). */
const SPILL_WRITE_BYTES = 256 * 1024;

/** The spill file shared by a frontier's host queues; blocks are gathered in a {@link SPILL_WRITE_BYTES} buffer and written together. */
class SpillFile {
  readonly #dir: string;
  #fd = -1;
  #path = '';
  #end = 0;
  #unlinked = false;
  #buffer: Buffer | undefined;
  #buffered = 0;
  /** File offset where the buffer starts (bytes already written). */
  #flushed = 0;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#end;
  }

  /** Appends `bytes[0, length)` (copied: the caller may reuse `bytes`); returns its offset. Throws a StorageError naming the file when it cannot be written. */
  write(bytes: Buffer, length: number): number {
    if (this.#fd < 0) this.#open();
    const at = this.#end;
    if (this.#buffered + length > SPILL_WRITE_BYTES) this.#flush();
    if (length > SPILL_WRITE_BYTES) {
      this.#writeAt(bytes, length, at);
      this.#flushed = at + length;
    } else {
      this.#buffer ??= Buffer.allocUnsafeSlow(SPILL_WRITE_BYTES);
      bytes.copy(this.#buffer, this.#buffered, 0, length);
      this.#buffered += length;
    }
    this.#end += length;
    return at;
  }

  #flush(): void {
    if (this.#buffered === 0) return;
    this.#writeAt(this.#buffer!, this.#buffered, this.#flushed);
    this.#flushed += this.#buffered;
    this.#buffered = 0;
  }

  #writeAt(bytes: Buffer, length: number, position: number): void {
    let done = 0;
    try {
      while (done < length) done += fs.writeSync(this.#fd, bytes, done, length - done, position + done);
    } catch (err) {
      throw new StorageError(`cannot write the crawl frontier's spill file ${this.#path}: ${(err as Error).message}`, this.#path, err);
    }
  }

  /** Reads `length` bytes at `offset` into a new Buffer. */
  read(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafeSlow(length); // not a slice of the shared pool: a kept block must not pin 8 KiB of others
    if (offset >= this.#flushed) {
      // still in the write buffer (a block is never split between the buffer and the file)
      this.#buffer!.copy(out, 0, offset - this.#flushed, offset - this.#flushed + length);
      return out;
    }
    let done = 0;
    try {
      while (done < length) {
        const n = fs.readSync(this.#fd, out, done, length - done, offset + done);
        if (n === 0) throw new Error('unexpected end of file');
        done += n;
      }
    } catch (err) {
      throw new StorageError(`cannot read the crawl frontier's spill file ${this.#path}: ${(err as Error).message}`, this.#path, err);
    }
    return out;
  }

  #open(): void {
    this.#path = path.join(this.#dir, `frontier-${process.pid}-${randomBytes(4).toString('hex')}.spill`);
    try {
      this.#fd = fs.openSync(this.#path, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    } catch (err) {
      throw new StorageError(`cannot create the crawl frontier's spill file ${this.#path}: ${(err as Error).message}`, this.#path, err);
    }
    try {
      fs.unlinkSync(this.#path); // nothing left behind, even after kill -9
      this.#unlinked = true;
    } catch {
      // Windows: removed on close
    }
  }

  close(): void {
    if (this.#fd < 0) return;
    fs.closeSync(this.#fd);
    this.#fd = -1;
    if (!this.#unlinked) fs.rmSync(this.#path, { force: true });
  }
}

/**
 * The URLs of one host waiting in a {@link Frontier}, FIFO. Made by
 * {@link Frontier.host}; entries are added through {@link Frontier.push}.
 */
export class HostQueue {
  /** The host's key (`GeminiUrl.hostPort`). */
  readonly key: string;
  /** Jobs of this host handed to the scheduler that have not started yet (kept by the crawl). */
  inScheduler = 0;
  #length = 0;
  /** Block being read: from the spill file, or a former tail. */
  #head: Buffer | undefined;
  #headPos = 0;
  #headEnd = 0;
  /** Spilled blocks, FIFO: offset, length, offset, length... from index #blocksHead. */
  #blocks: number[] = [];
  #blocksHead = 0;
  /** Block being filled. */
  #tail: Buffer | undefined;
  #tailLen = 0;
  readonly #frontier: Frontier;

  /** @internal made by {@link Frontier.host} */
  constructor(key: string, frontier: Frontier) {
    this.key = key;
    this.#frontier = frontier;
  }

  /** URLs queued. */
  get length(): number {
    return this.#length;
  }

  /** Bytes of the blocks this queue holds in memory. */
  get memoryBytes(): number {
    return (this.#head?.length ?? 0) + (this.#tail?.length ?? 0);
  }

  /** @internal appends an encoded entry (see {@link Frontier.push}). */
  append(url: string, depth: number, parent: string | null, resumed: boolean, blockBytes: number, spill: () => SpillFile): void {
    const urlBytes = Buffer.byteLength(url, 'utf8');
    const parentBytes = parent === null ? 0 : Buffer.byteLength(parent, 'utf8');
    if (urlBytes >= NO_PARENT || parentBytes >= NO_PARENT) throw new RangeError(`a frontier URL is longer than ${NO_PARENT - 1} bytes: ${url.slice(0, 80)}...`);
    if (!Number.isInteger(depth) || depth < 0 || depth > MAX_FRONTIER_DEPTH) throw new RangeError(`a frontier depth must be an integer from 0 to 2^31-1, not ${depth}`);
    const need = ENTRY_HEADER + urlBytes + parentBytes;
    if (this.#tail !== undefined && this.#tailLen + need > blockBytes && this.#tailLen > 0) {
      // the filled block goes to the spill file (or straight to the head when it is free)
      if (this.#head === undefined && this.#blocksHead === this.#blocks.length) {
        this.#head = this.#tail;
        this.#headPos = 0;
        this.#headEnd = this.#tailLen;
        this.#tail = undefined;
      } else {
        const file = spill();
        this.#blocks.push(file.write(this.#tail, this.#tailLen), this.#tailLen); // copied: the tail is reused
      }
      this.#tailLen = 0;
    }
    if (this.#tail === undefined || this.#tail.length - this.#tailLen < need) {
      let size = this.#tail?.length ?? FIRST_TAIL_BYTES;
      while (size - this.#tailLen < need) size *= 2;
      if (size > blockBytes) size = Math.max(blockBytes, this.#tailLen + need);
      const grown = Buffer.allocUnsafeSlow(size);
      if (this.#tail) this.#tail.copy(grown, 0, 0, this.#tailLen);
      this.#tail = grown;
    }
    const t = this.#tail;
    let at = this.#tailLen;
    t.writeUInt16LE(urlBytes, at);
    t.writeUInt16LE(parent === null ? NO_PARENT : parentBytes, at + 2);
    t.writeUInt32LE(resumed ? (depth | RESUMED_BIT) >>> 0 : depth, at + 4);
    at += ENTRY_HEADER;
    at += t.write(url, at, 'utf8');
    if (parent !== null) at += t.write(parent, at, 'utf8');
    this.#tailLen = at;
    this.#length++;
  }

  /**
   * Takes the first URL, or undefined when empty (always after the frontier is
   * closed). An entry pushed as `resumed` whose URL is in the frontier's
   * skip-set ({@link Frontier.skipResumed}) is dropped, not returned: so
   * `length > 0` does not promise a URL. Throws a StorageError when the spill
   * file cannot be read.
   */
  shift(): QueuedUrl | undefined {
    for (;;) {
      if (this.#length === 0 || this.#frontier.closed) return undefined;
      const q = this.#take();
      if (q !== undefined) return q;
    }
  }

  /** The first entry, or undefined when it was a resumed one to skip. */
  #take(): QueuedUrl | undefined {
    if (this.#head === undefined || this.#headPos >= this.#headEnd) this.#nextHead();
    const h = this.#head!;
    let at = this.#headPos;
    const urlBytes = h.readUInt16LE(at);
    const parentField = h.readUInt16LE(at + 2);
    const depthField = h.readUInt32LE(at + 4);
    at += ENTRY_HEADER;
    const url = h.toString('utf8', at, at + urlBytes);
    at += urlBytes;
    let parent: string | null = null;
    if (parentField !== NO_PARENT) {
      parent = h.toString('utf8', at, at + parentField);
      at += parentField;
    }
    this.#headPos = at;
    this.#length--;
    this.#frontier.shifted();
    if (this.#headPos >= this.#headEnd) this.#head = undefined;
    if (depthField >= RESUMED_BIT && this.#frontier.skips(url)) return undefined;
    return { url, depth: depthField & MAX_FRONTIER_DEPTH, parent };
  }

  #nextHead(): void {
    if (this.#blocksHead < this.#blocks.length) {
      const offset = this.#blocks[this.#blocksHead]!;
      const length = this.#blocks[this.#blocksHead + 1]!;
      this.#blocksHead += 2;
      if (this.#blocksHead === this.#blocks.length) {
        this.#blocks = [];
        this.#blocksHead = 0;
      } else if (this.#blocksHead > 1024 && this.#blocksHead * 2 > this.#blocks.length) {
        this.#blocks = this.#blocks.slice(this.#blocksHead);
        this.#blocksHead = 0;
      }
      this.#head = this.#frontier.readBlock(offset, length);
      this.#headEnd = length;
    } else {
      this.#head = this.#tail;
      this.#headEnd = this.#tailLen;
      this.#tail = undefined;
      this.#tailLen = 0;
    }
    this.#headPos = 0;
  }
}

/**
 * Per-host queues of a crawl (see the module comment for the memory bound).
 * Not thread-safe, not persistent; one per crawl run.
 */
export class Frontier {
  readonly #hosts = new Map<string, HostQueue>();
  readonly #blockBytes: number;
  readonly #dir: string;
  #spill: SpillFile | undefined;
  #size = 0;
  #closed = false;
  #skip: UrlSet | undefined;

  constructor(options: FrontierOptions = {}) {
    this.#blockBytes = Math.max(64, Math.floor(options.blockBytes ?? DEFAULT_FRONTIER_BLOCK_BYTES));
    this.#dir = options.dir ?? os.tmpdir();
  }

  /** URLs queued over all hosts. */
  get size(): number {
    return this.#size;
  }

  /** Hosts that have (or had) a queue. */
  get hostCount(): number {
    return this.#hosts.size;
  }

  /** Every host queue made so far. */
  hostQueues(): IterableIterator<HostQueue> {
    return this.#hosts.values();
  }

  /**
   * From now on, entries pushed as `resumed` whose URL is in `set` are dropped
   * when they come up (a resumed crawl's journal queues URLs before it knows
   * which of them were recorded later on).
   */
  skipResumed(set: UrlSet): void {
    this.#skip = set;
  }

  /** @internal whether a resumed entry is to be dropped */
  skips(url: string): boolean {
    return this.#skip?.has(url) ?? false;
  }

  /** Bytes written to the spill file so far. */
  get spilledBytes(): number {
    return this.#spill?.size ?? 0;
  }

  /** The queue of `hostKey`, made empty on first use. */
  host(hostKey: string): HostQueue {
    let queue = this.#hosts.get(hostKey);
    if (!queue) {
      queue = new HostQueue(hostKey, this);
      this.#hosts.set(hostKey, queue);
    }
    return queue;
  }

  /**
   * Queues a URL at the end of `queue` (take entries with `queue.shift()`);
   * `resumed` marks an entry read back from a journal (see {@link skipResumed}).
   * After {@link close} the URL is dropped. Throws a RangeError for an href or
   * parent longer than 65,534 bytes or a depth over 2^31-1, and a StorageError
   * when a block cannot be spilled.
   */
  push(queue: HostQueue, url: string, depth: number, parent: string | null, resumed = false): void {
    if (this.#closed) return;
    queue.append(url, depth, parent, resumed, this.#blockBytes, () => (this.#spill ??= new SpillFile(this.#dir)));
    this.#size++;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** @internal a queue gave up an entry */
  shifted(): void {
    this.#size--;
  }

  /** @internal */
  readBlock(offset: number, length: number): Buffer {
    return this.#spill!.read(offset, length);
  }

  /** Drops every queued URL and closes (and removes) the spill file; later pushes are dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#hosts.clear();
    this.#size = 0;
    this.#spill?.close();
    this.#spill = undefined;
  }
}
