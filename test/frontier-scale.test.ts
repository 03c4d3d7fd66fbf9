/**
 * Bench case 8 (issue 12, scale) at a small size, as a correctness test: a real crawl process over
 * a simulated Geminispace (test/bench/servers/geminispace-sim.js, virtual hosts by SNI on loopback
 * addresses, names mapped by a lookup hook) is killed with SIGKILL mid-way, then resumed from its
 * journal to the end of its page budget; the server's request counts are compared with the
 * journal's records. No timing is asserted (the figures are the bench's business).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JS bench module, no declarations
import { runScale } from './bench/scale.js';

const ROOT = path.resolve(__dirname, '..');
const built = fs.existsSync(path.join(ROOT, 'dist', 'bulk', 'crawl.js'));

interface ScaleResult {
  first: { killedAt: { records: number; frontier: number }; spill: { path: string; bytes: number } | null; hwmKiB: number | null };
  resume: { firstFetchMs: number | null; resumedRecords: number; records: number; fetched: number; spill: { path: string; bytes: number } | null };
  journal: { entries: number };
  server: { duplicates: number; duplicatesAtKill: number; distinct: number; sniMismatch: number; unknown: number };
  records: { records: number; distinctRecords: number; fetched: number; incomplete: number };
  peakRssKiB: number;
}

describe('crawl at scale, small: kill -9 mid-way and resume', () => {
  it.skipIf(!built)('fetches nothing twice once recorded, loses nothing, and spills the frontier to disk', async () => {
    const concurrency = 8;
    const maxPages = 1500;
    const r = (await runScale({
      shape: { hosts: 20, pages: 200, links: 10, cross: 0.5 },
      addresses: ['127.0.0.20', '127.0.0.21'],
      maxPages, killAtFrontier: Infinity, killAtRecords: 600, concurrency, delay: 0,
      nativeCount: 100, latencyCount: 10, sampleMs: 200,
    })) as ScaleResult;
    // the kill landed mid-way, with a frontier much larger than what was fetched
    expect(r.first.killedAt.records).toBeGreaterThanOrEqual(600);
    expect(r.first.killedAt.records).toBeLessThan(maxPages);
    expect(r.first.killedAt.frontier).toBeGreaterThan(1000);
    expect(r.resume.resumedRecords).toBeGreaterThanOrEqual(600);
    expect(r.journal.entries).toBeGreaterThan(r.first.killedAt.frontier);
    // both runs' frontiers spilled blocks: the spill file (unlinked: seen through /proc/PID/fd) is
    // opened with the first spilled block; it may still be empty, as blocks are written 256 KiB at a time
    expect(r.first.spill?.path).toMatch(/frontier-\d+-[0-9a-f]+\.spill \(deleted\)$/);
    expect(r.resume.spill?.path).toMatch(/frontier-\d+-[0-9a-f]+\.spill \(deleted\)$/);
    // nothing recorded twice, the budget used exactly, every response complete
    expect(r.records.records).toBe(maxPages);
    expect(r.records.distinctRecords).toBe(maxPages);
    expect(r.records.fetched).toBe(maxPages);
    expect(r.records.incomplete).toBe(0);
    expect(r.resume.records).toBe(maxPages - r.resume.resumedRecords);
    // server side: no page asked twice before the kill; after it, only those in flight at the kill
    expect(r.server.duplicatesAtKill).toBe(0);
    expect(r.server.duplicates).toBeLessThanOrEqual(concurrency);
    // nothing lost: every page the server served has a record
    expect(r.server.distinct).toBe(r.records.fetched);
    expect(r.server.sniMismatch).toBe(0);
    expect(r.server.unknown).toBe(0);
    expect(r.resume.firstFetchMs).toBeGreaterThan(0);
    expect(r.peakRssKiB).toBeGreaterThan(0);
  }, 120_000);
});
