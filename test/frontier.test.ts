import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Frontier, hostKeyOfHref } from '../src/bulk/frontier.js';
import { parseGeminiUrl } from '../src/protocol/url.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gemfetch-frontier-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('Frontier', () => {
  it('keeps URLs, depths and parents of each host in FIFO order, spilling blocks to disk', () => {
    const frontier = new Frontier({ dir, blockBytes: 256 });
    const a = frontier.host('a:1965');
    const b = frontier.host('b:1965');
    expect(frontier.host('a:1965')).toBe(a);
    expect(a.shift()).toBeUndefined();
    const parent = 'gemini://a/é/parent';
    for (let i = 0; i < 5000; i++) {
      frontier.push(a, `gemini://a/${i}/é`, i % 7, i === 0 ? null : parent);
      frontier.push(b, `gemini://b/${i}`, i, `gemini://b/${i - 1}`);
    }
    expect(a.length).toBe(5000);
    expect(frontier.size).toBe(10_000);
    expect(frontier.spilledBytes).toBeGreaterThan(5000 * 30); // most of it is on disk
    expect(a.memoryBytes).toBeLessThanOrEqual(2 * 256);
    for (let i = 0; i < 4000; i++) expect(a.shift()).toEqual({ url: `gemini://a/${i}/é`, depth: i % 7, parent: i === 0 ? null : parent });
    frontier.push(a, 'gemini://a/late', 3, parent);
    expect(a.length).toBe(1001);
    for (let i = 4000; i < 5000; i++) expect(a.shift()?.url).toBe(`gemini://a/${i}/é`);
    expect(a.shift()).toEqual({ url: 'gemini://a/late', depth: 3, parent });
    expect(a.length).toBe(0);
    expect(a.shift()).toBeUndefined();
    frontier.push(a, 'gemini://a/again', 0, null);
    expect(a.shift()?.url).toBe('gemini://a/again');
    for (let i = 0; i < 5000; i++) expect(b.shift()).toEqual({ url: `gemini://b/${i}`, depth: i, parent: `gemini://b/${i - 1}` });
    expect(frontier.size).toBe(0);
    frontier.close();
  });

  it('reads back blocks both from the file and from its write buffer (256 KiB), for many hosts', () => {
    const frontier = new Frontier({ dir, blockBytes: 128 });
    const hosts = Array.from({ length: 7 }, (_, i) => frontier.host(`h${i}:1965`));
    const n = 6000;
    for (let i = 0; i < n; i++) for (const [k, q] of hosts.entries()) frontier.push(q, `gemini://h${k}/${i}/${'y'.repeat(i % 50)}`, i % 100, k % 2 ? null : `gemini://h${k}/`);
    expect(frontier.spilledBytes).toBeGreaterThan(4 * 256 * 1024); // several write-buffer loads went to the file
    for (let i = 0; i < n; i++) {
      for (const [k, q] of hosts.entries()) expect(q.shift()).toEqual({ url: `gemini://h${k}/${i}/${'y'.repeat(i % 50)}`, depth: i % 100, parent: k % 2 ? null : `gemini://h${k}/` });
      if (i === n / 2) for (const [k, q] of hosts.entries()) frontier.push(q, `gemini://h${k}/late`, 1, null); // after the rest
    }
    for (const [k, q] of hosts.entries()) expect(q.shift()?.url).toBe(`gemini://h${k}/late`);
    expect(frontier.size).toBe(0);
    frontier.close();
  });

  it('interleaves pushes and shifts without losing order (head, spilled blocks, tail)', () => {
    const frontier = new Frontier({ dir, blockBytes: 64 });
    const q = frontier.host('h:1965');
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 300; round++) {
      for (let k = 0; k < (round * 7) % 13; k++) frontier.push(q, `gemini://h/${next++}`, 1, null);
      for (let k = 0; k < (round * 5) % 11; k++) {
        const got = q.shift();
        if (got === undefined) {
          expect(expected).toBe(next);
          break;
        }
        expect(got.url).toBe(`gemini://h/${expected++}`);
      }
    }
    while (q.length > 0) expect(q.shift()!.url).toBe(`gemini://h/${expected++}`);
    expect(expected).toBe(next);
    frontier.close();
  });

  it('drops resumed entries found in the skip-set when they come up, and only those', () => {
    const frontier = new Frontier({ dir, blockBytes: 64 });
    const q = frontier.host('h:1965');
    for (let i = 0; i < 50; i++) frontier.push(q, `gemini://h/${i}`, i, null, true);
    frontier.push(q, 'gemini://h/3', 7, null); // not resumed: never skipped
    const recorded = new Set(Array.from({ length: 25 }, (_, i) => `gemini://h/${2 * i}`));
    frontier.skipResumed(recorded);
    const got: Array<[string, number]> = [];
    for (let e = q.shift(); e !== undefined; e = q.shift()) got.push([e.url, e.depth]);
    expect(got).toEqual([...Array.from({ length: 25 }, (_, i) => [`gemini://h/${2 * i + 1}`, 2 * i + 1]), ['gemini://h/3', 7]]);
    expect(q.length).toBe(0);
    expect(frontier.size).toBe(0);
    // a queue holding only skipped entries: length > 0, shift() undefined
    frontier.push(q, 'gemini://h/0', 0, null, true);
    expect(q.length).toBe(1);
    expect(q.shift()).toBeUndefined();
    expect(q.length).toBe(0);
    frontier.close();
  });

  it('takes an entry longer than a block', () => {
    const frontier = new Frontier({ dir, blockBytes: 64 });
    const q = frontier.host('h:1965');
    const long = `gemini://h/${'x'.repeat(1000)}`;
    frontier.push(q, 'gemini://h/1', 0, null);
    frontier.push(q, long, 1, long);
    frontier.push(q, 'gemini://h/2', 0, null);
    expect(q.shift()?.url).toBe('gemini://h/1');
    expect(q.shift()).toEqual({ url: long, depth: 1, parent: long });
    expect(q.shift()?.url).toBe('gemini://h/2');
    frontier.close();
  });

  it('refuses hrefs over 65,534 bytes and bad depths with a RangeError saying which', () => {
    const frontier = new Frontier({ dir });
    const q = frontier.host('h:1965');
    expect(() => frontier.push(q, `gemini://h/${'x'.repeat(70_000)}`, 0, null)).toThrow(/longer than 65534 bytes: gemini:\/\/h\/x/);
    expect(() => frontier.push(q, 'gemini://h/', -1, null)).toThrow(/integer from 0 to 2\^31-1, not -1/);
    expect(q.length).toBe(0);
    frontier.close();
  });

  it('leaves no spill file behind (unlinked while open); after close nothing is kept', () => {
    const own = fs.mkdtempSync(path.join(dir, 'spill-'));
    const frontier = new Frontier({ dir: own, blockBytes: 64 });
    const q = frontier.host('h:1965');
    for (let i = 0; i < 100; i++) frontier.push(q, `gemini://h/${i}`, 0, null);
    expect(frontier.spilledBytes).toBeGreaterThan(0);
    expect(fs.readdirSync(own)).toEqual([]);
    frontier.close();
    expect(q.shift()).toBeUndefined();
    frontier.push(q, 'gemini://h/x', 0, null);
    expect(frontier.size).toBe(0);
  });

  it('names the spill file when it cannot be created', () => {
    const frontier = new Frontier({ dir: path.join(dir, 'missing', 'deeper'), blockBytes: 64 });
    const q = frontier.host('h:1965');
    let err: unknown;
    try {
      for (let i = 0; i < 100; i++) frontier.push(q, `gemini://h/${i}`, 0, null);
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('ERR_STORAGE');
    expect((err as Error).message).toContain(`cannot create the crawl frontier's spill file ${path.join(dir, 'missing', 'deeper')}`);
    frontier.close();
  });
});

describe('hostKeyOfHref', () => {
  it('equals parseGeminiUrl().hostPort for normalised hrefs', () => {
    const inputs = ['gemini://h', 'gemini://h:1965/', 'gemini://H:70/a?b', 'gemini://h?q', 'gemini://[::1]/x', 'gemini://[::1]:300/x', 'gemini://127.0.0.1:1/', 'gemini://xn--caf-dma.example/é?x/y'];
    for (const input of inputs) {
      const url = parseGeminiUrl(input);
      expect(hostKeyOfHref(url.href), input).toBe(url.hostPort);
    }
    expect(hostKeyOfHref('https://h/')).toBeUndefined();
    expect(hostKeyOfHref('gemini:///x')).toBeUndefined();
  });
});
