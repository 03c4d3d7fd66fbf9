/**
 * A crawl's duplicate-content index: for each body seen (by a 64-bit prefix
 * of its SHA-256), the URL that first had it. Kept outside the JS heap, so a
 * long crawl's index adds nothing for the garbage collector to walk and
 * nothing that heap growth multiplies.
 *
 * Size: the table is 16 bytes per slot and doubles past 3/4 full (21-43
 * bytes per body), plus each first URL's UTF-8 bytes and 2 bytes of length,
 * in 1 MiB chunks that are only ever appended to. 200,000 distinct pages of
 * 60-byte URLs: about 4 MiB of table and 12 MiB of URLs.
 *
 * Bounds: a URL longer than 65,535 bytes in UTF-8 is not indexed (a Gemini
 * URL is at most 1,024), nor one that UTF-8 cannot hold as it is (a lone
 * surrogate, from a damaged journal: it would come back as U+FFFD, another
 * URL); past {@link MAX_DUPLICATE_INDEX_SLOTS} slots no new
 * body is indexed (later duplicates of those bodies go unnoticed; nothing is
 * lost). Two bodies whose SHA-256 share their first 64 bits are taken for
 * one, as before this index kept the same 16 hex digits as strings.
 */

import { hasLoneSurrogate } from '../protocol/url.js';

/** Largest table (slots, 16 bytes each: 2 GiB): about 100 million bodies. */
export const MAX_DUPLICATE_INDEX_SLOTS = 2 ** 27;

/** Bytes of one chunk of the URL store. */
const CHUNK_BYTES = 1024 * 1024;
/** Longest URL indexed, in UTF-8 bytes (its length is stored in 2 bytes). */
const MAX_URL_BYTES = 0xffff;

/** Which URL first had each body; see the module comment for its size and bounds. */
export class DuplicateIndex {
  /** Slot i is words 4i (key high half), 4i+1 (key low half), 4i+2 (chunk + 1; 0 = empty), 4i+3 (offset in the chunk). */
  #table: Uint32Array;
  #mask: number;
  #size = 0;
  #chunks: Buffer[] = [];
  /** Bytes used in the last chunk. */
  #used = CHUNK_BYTES;

  /** Room for `initialCapacity` bodies before the first doubling. */
  constructor(initialCapacity = 1024) {
    let slots = 16;
    while (slots * 3 < initialCapacity * 4 && slots < MAX_DUPLICATE_INDEX_SLOTS) slots *= 2;
    this.#table = new Uint32Array(slots * 4);
    this.#mask = slots - 1;
  }

  /** Bodies indexed. */
  get size(): number {
    return this.#size;
  }

  /** Bytes held outside the JS heap (table and URL chunks). */
  get byteLength(): number {
    return this.#table.byteLength + this.#chunks.length * CHUNK_BYTES;
  }

  /**
   * Notes that `url` had the body whose SHA-256 is `sha256` (hex; its first
   * 16 digits are the key). Returns the URL that had it first when that is
   * another URL; otherwise null (the body is new, and `url` is now its first
   * URL, or `url` had it first). A key that is not 16 hex digits is ignored
   * (null).
   */
  note(sha256: string, url: string): string | null {
    const hi = hexWord(sha256, 0);
    const lo = hexWord(sha256, 8);
    if (hi === undefined || lo === undefined) return null;
    const i = this.#find(hi, lo);
    if (i >= 0) {
      const first = this.#url(i);
      return first === url ? null : first;
    }
    this.#add(hi, lo, url, -i - 1);
    return null;
  }

  #add(hi: number, lo: number, url: string, slot: number): void {
    const bytes = Buffer.byteLength(url, 'utf8');
    if (bytes > MAX_URL_BYTES || hasLoneSurrogate(url)) return;
    if ((this.#size + 1) * 4 > (this.#mask + 1) * 3) {
      if ((this.#mask + 1) * 2 > MAX_DUPLICATE_INDEX_SLOTS) return;
      this.#grow();
      slot = -this.#find(hi, lo) - 1;
    }
    if (this.#used + 2 + bytes > CHUNK_BYTES) {
      this.#chunks.push(Buffer.allocUnsafeSlow(CHUNK_BYTES));
      this.#used = 0;
    }
    const chunk = this.#chunks[this.#chunks.length - 1]!;
    const offset = this.#used;
    chunk.writeUInt16LE(bytes, offset);
    chunk.write(url, offset + 2, bytes, 'utf8');
    this.#used = offset + 2 + bytes;
    const t = this.#table;
    t[4 * slot] = hi;
    t[4 * slot + 1] = lo;
    t[4 * slot + 2] = this.#chunks.length; // chunk index + 1
    t[4 * slot + 3] = offset;
    this.#size++;
  }

  #url(slot: number): string {
    const chunk = this.#chunks[this.#table[4 * slot + 2]! - 1]!;
    const offset = this.#table[4 * slot + 3]!;
    return chunk.toString('utf8', offset + 2, offset + 2 + chunk.readUInt16LE(offset));
  }

  /** The slot holding hi/lo, or -(empty slot where it would go) - 1. */
  #find(hi: number, lo: number): number {
    const t = this.#table;
    const mask = this.#mask;
    for (let i = (lo ^ hi) & mask; ; i = (i + 1) & mask) {
      if (t[4 * i + 2] === 0) return -i - 1;
      if (t[4 * i] === hi && t[4 * i + 1] === lo) return i;
    }
  }

  #grow(): void {
    const old = this.#table;
    const slots = (this.#mask + 1) * 2;
    this.#table = new Uint32Array(slots * 4);
    this.#mask = slots - 1;
    for (let i = 0; i < old.length; i += 4) {
      if (old[i + 2] === 0) continue;
      let j = (old[i + 1]! ^ old[i]!) & this.#mask;
      while (this.#table[4 * j + 2] !== 0) j = (j + 1) & this.#mask;
      this.#table.set(old.subarray(i, i + 4), 4 * j);
    }
  }
}

/** The 8 hex digits of `text` at `at` as an unsigned 32-bit number; undefined when they are not 8 hex digits. */
function hexWord(text: string, at: number): number | undefined {
  if (text.length < at + 8) return undefined;
  let value = 0;
  for (let i = at; i < at + 8; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (digit < 0) return undefined;
    value = value * 16 + digit;
  }
  return value;
}
