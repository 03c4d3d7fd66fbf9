import { describe, expect, it } from 'vitest';
import { hash64, SeenSet } from '../src/bulk/seen-set.js';

describe('SeenSet', () => {
  it('remembers what was added across growth, and nothing else', () => {
    const set = new SeenSet(4);
    for (let i = 0; i < 50_000; i++) expect(set.add(`gemini://h/${i}`)).toBe(true);
    expect(set.size).toBe(50_000);
    for (let i = 0; i < 50_000; i++) expect(set.has(`gemini://h/${i}`)).toBe(true);
    expect(set.add('gemini://h/42')).toBe(false);
    expect(set.size).toBe(50_000);
    // strings never added: no false positive expected at this size (bound n/2^64 each)
    for (let i = 50_000; i < 100_000; i++) expect(set.has(`gemini://h/${i}`)).toBe(false);
    expect(set.has('')).toBe(false);
    expect(set.add('')).toBe(true);
    expect(set.has('')).toBe(true);
  });

  it('takes 8 bytes per slot at a load of at most 3/4: 1,000,000 URLs in a 2^21-slot table (16 MiB)', () => {
    const set = new SeenSet();
    for (let i = 0; i < 1_000_000; i++) set.add(`gemini://capsule${i % 4000}.example/p/${i}`);
    expect(set.size).toBe(1_000_000);
    expect(set.byteLength).toBe(2 ** 21 * 8);
    expect(set.byteLength / set.size).toBeLessThan(21.4);
    expect(set.byteLength / set.size).toBeGreaterThan(8 / 0.75 - 0.01);
  });

  it('sizes its first table from initialCapacity', () => {
    expect(new SeenSet(3000).byteLength).toBe(4096 * 8); // 3000 <= 3/4 x 4096
    expect(new SeenSet(3073).byteLength).toBe(8192 * 8);
  });

  it('hash64 is deterministic, 64 bits, spreads near strings, never 0/0', () => {
    expect(hash64('gemini://h/1')).toEqual(hash64('gemini://h/1'));
    const [hi, lo] = hash64('gemini://h/1');
    expect(Number.isInteger(hi) && hi >= 0 && hi < 2 ** 32).toBe(true);
    expect(Number.isInteger(lo) && lo >= 0 && lo < 2 ** 32).toBe(true);
    // near strings differ in about half of their 64 bits
    let bits = 0;
    const n = 2000;
    for (let i = 0; i < n; i++) {
      const [a1, a2] = hash64(`gemini://h/${i}`);
      const [b1, b2] = hash64(`gemini://h/${i}x`);
      for (const x of [a1 ^ b1, a2 ^ b2]) for (let v = x >>> 0; v; v >>>= 1) bits += v & 1;
    }
    expect(bits / n).toBeGreaterThan(28);
    expect(bits / n).toBeLessThan(36);
    // no two of 200,000 URLs share a 64-bit hash (expected collisions: 1e-9)
    const all = new Set<string>();
    for (let i = 0; i < 200_000; i++) {
      const [h, l] = hash64(`gemini://c${i % 97}.test/${i}`);
      all.add(`${h}:${l}`);
    }
    expect(all.size).toBe(200_000);
    for (const s of ['', 'a', 'gemini://h/']) expect(hash64(s)).not.toEqual([0, 0]);
  });
});
