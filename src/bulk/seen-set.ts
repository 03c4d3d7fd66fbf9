/**
 * A compact set of strings for a crawl's "seen" URLs: 64-bit hashes in one
 * open-addressing typed array, nothing per member on the JS heap.
 *
 * Size: 8 bytes per slot; the table doubles when more than 3/4 full, so a
 * member costs 10.7-21.3 bytes (8 / load), whatever the string's length
 * (1,000,000 URLs: a 2^21-slot table, 16 MiB). While doubling, the old and
 * the new table exist together for a moment (3x the table).
 *
 * False positives: two different strings with the same 64-bit hash are taken
 * for one. Treating the hash as random, a `has`/`add` of a string never added
 * answers "already there" with probability at most n / 2^64 (n members), and
 * the chance that ANY two of n strings collide is at most n^2 / 2^65: for
 * 10 million URLs about 2.7e-6, i.e. a crawl of that size skips one URL it
 * never fetched with odds of about 3 in a million. There are no false
 * negatives: a string added is always found.
 */

/** Largest table (slots); beyond it `add` throws a RangeError naming the limit. 2^28 slots = 2 GiB, about 200 million members. */
export const MAX_SEEN_SET_SLOTS = 2 ** 28;

/**
 * The 64-bit hash of a string's UTF-16 code units as two unsigned 32-bit
 * halves (cyrb53's two lanes, not truncated to 53 bits). Deterministic across
 * processes and platforms; never 0/0 (that marks an empty slot). Not
 * cryptographic: someone who chooses URLs can make two collide.
 */
export function hash64(value: string): [hi: number, lo: number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  let hi = h1 >>> 0;
  const lo = h2 >>> 0;
  if (hi === 0 && lo === 0) hi = 1;
  return [hi, lo];
}

/**
 * A set of strings kept as 64-bit hashes (see the module comment for size
 * and false-positive bounds). `add` and `has` take O(1) expected time.
 */
export class SeenSet {
  /** Slot i is words 2i (high half) and 2i+1 (low half); 0/0 is empty. */
  #table: Uint32Array;
  #mask: number;
  #size = 0;

  /** Room for `initialCapacity` members before the first doubling. */
  constructor(initialCapacity = 1024) {
    let slots = 16;
    while (slots * 3 < initialCapacity * 4 && slots < MAX_SEEN_SET_SLOTS) slots *= 2;
    this.#table = new Uint32Array(slots * 2);
    this.#mask = slots - 1;
  }

  /** Members. */
  get size(): number {
    return this.#size;
  }

  /** Bytes of the table (what the set holds outside the JS heap). */
  get byteLength(): number {
    return this.#table.byteLength;
  }

  /** Whether `value` (or a string with the same 64-bit hash) was added. */
  has(value: string): boolean {
    const [hi, lo] = hash64(value);
    return this.#find(hi, lo) >= 0;
  }

  /**
   * Adds `value`; returns false when it (or a string with the same hash) was
   * already there. Throws a RangeError when the set would outgrow
   * {@link MAX_SEEN_SET_SLOTS}.
   */
  add(value: string): boolean {
    const [hi, lo] = hash64(value);
    const i = this.#find(hi, lo);
    if (i >= 0) return false;
    if ((this.#size + 1) * 4 > (this.#mask + 1) * 3) {
      this.#grow();
      this.#insert(hi, lo);
    } else {
      const slot = -i - 1;
      this.#table[2 * slot] = hi;
      this.#table[2 * slot + 1] = lo;
    }
    this.#size++;
    return true;
  }

  /** The slot holding hi/lo, or -(empty slot where it would go) - 1. */
  #find(hi: number, lo: number): number {
    const t = this.#table;
    const mask = this.#mask;
    for (let i = (lo ^ hi) & mask; ; i = (i + 1) & mask) {
      const h = t[2 * i]!;
      const l = t[2 * i + 1]!;
      if (h === hi && l === lo) return i;
      if (h === 0 && l === 0) return -i - 1;
    }
  }

  #insert(hi: number, lo: number): void {
    const t = this.#table;
    const mask = this.#mask;
    let i = (lo ^ hi) & mask;
    while (t[2 * i] !== 0 || t[2 * i + 1] !== 0) i = (i + 1) & mask;
    t[2 * i] = hi;
    t[2 * i + 1] = lo;
  }

  #grow(): void {
    const slots = (this.#mask + 1) * 2;
    if (slots > MAX_SEEN_SET_SLOTS) throw new RangeError(`the crawl's seen-set is full: more than ${(MAX_SEEN_SET_SLOTS / 4) * 3} URLs`);
    const old = this.#table;
    this.#table = new Uint32Array(slots * 2);
    this.#mask = slots - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] !== 0 || old[i + 1] !== 0) this.#insert(old[i]!, old[i + 1]!);
    }
  }
}
