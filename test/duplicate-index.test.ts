/**
 * The crawl's duplicate-content index (src/bulk/duplicate-index.ts): first
 * URL per body, kept outside the heap. Pure: no sockets.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DuplicateIndex } from '../src/bulk/duplicate-index.js';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('DuplicateIndex', () => {
  it('answers the first URL of a body for another URL, null for the first URL itself and for new bodies', () => {
    const index = new DuplicateIndex();
    expect(index.note(sha('a'), 'gemini://x/1')).toBeNull();
    expect(index.note(sha('a'), 'gemini://x/2')).toBe('gemini://x/1');
    expect(index.note(sha('a'), 'gemini://x/1')).toBeNull(); // the same page fetched again is not its own duplicate
    expect(index.note(sha('b'), 'gemini://x/2')).toBeNull();
    expect(index.note(sha('b'), 'gemini://y/')).toBe('gemini://x/2');
    expect(index.size).toBe(2);
  });

  it('keys on the first 64 bits (16 hex digits), in either case', () => {
    const index = new DuplicateIndex();
    const key = sha('c');
    index.note(key, 'gemini://x/c');
    expect(index.note(`${key.slice(0, 16)}${'0'.repeat(48)}`, 'gemini://x/d')).toBe('gemini://x/c');
    expect(index.note(key.toUpperCase(), 'gemini://x/e')).toBe('gemini://x/c');
    expect(index.note(`${key.slice(0, 15)}${key[15] === '0' ? '1' : '0'}`, 'gemini://x/f')).toBeNull();
  });

  it('ignores keys that are not 16 hex digits (a damaged journal record)', () => {
    const index = new DuplicateIndex();
    for (const bad of ['', 'abc', 'zz'.repeat(32), `${'0'.repeat(15)}g${'0'.repeat(48)}`]) {
      expect(index.note(bad, 'gemini://x/1')).toBeNull();
      expect(index.note(bad, 'gemini://x/2')).toBeNull();
    }
    expect(index.size).toBe(0);
  });

  it('keeps every first URL through doubling and across 1 MiB chunks, non-ASCII URLs whole', () => {
    const index = new DuplicateIndex(4);
    const n = 60_000;
    const url = (i: number): string => `gemini://é${i % 97}.test/${'ü'.repeat(i % 13)}/page-${i}`;
    for (let i = 0; i < n; i++) expect(index.note(sha(`body ${i}`), url(i))).toBeNull();
    expect(index.size).toBe(n);
    expect(index.byteLength).toBeGreaterThan(2 * 1024 * 1024); // several chunks and a grown table
    for (let i = 0; i < n; i += 7) expect(index.note(sha(`body ${i}`), `gemini://other/${i}`)).toBe(url(i));
  });

  it('a URL with a lone surrogate (a damaged journal) is not indexed: it would come back as another URL', () => {
    const index = new DuplicateIndex();
    const damaged = 'gemini://x/\ud800';
    expect(index.note(sha('s'), damaged)).toBeNull();
    expect(index.note(sha('s'), damaged)).toBeNull(); // not its own duplicate under a U+FFFD spelling
    expect(index.note(sha('s'), 'gemini://x/ok')).toBeNull();
    expect(index.note(sha('s'), damaged)).toBe('gemini://x/ok');
  });

  it('a URL longer than 65,535 UTF-8 bytes is not indexed', () => {
    const index = new DuplicateIndex();
    const long = `gemini://x/${'a'.repeat(70_000)}`;
    expect(index.note(sha('long'), long)).toBeNull();
    expect(index.note(sha('long'), 'gemini://x/short')).toBeNull(); // nothing was kept for that body
    expect(index.note(sha('long'), 'gemini://x/other')).toBe('gemini://x/short');
  });
});
