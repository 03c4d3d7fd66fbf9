/**
 * src/cli/long-run-heap.ts: `gemfetch crawl` holds V8's heap growth down.
 * The effect is checked in child processes by what V8 itself reports (how
 * many full collections the same allocations needed), not by time or by a
 * memory figure of this machine: fewer full collections with V8's own factor,
 * more with the held one.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { limitHeapGrowth } from '../src/cli/long-run-heap.js';
import { requireBuild, ROOT } from './support/cli.js';

/** Allocates objects that live long enough to be promoted, then dies; prints the count of full (major) collections. */
const CHURN = `
const tune = process.argv[1] === 'tune';
if (tune) (await import(${JSON.stringify(path.join(ROOT, 'dist/cli/long-run-heap.js'))})).limitHeapGrowth();
const { PerformanceObserver, constants } = await import('node:perf_hooks');
let major = 0;
new PerformanceObserver((list) => { for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++; }).observe({ entryTypes: ['gc'] });
const live = Array.from({ length: 200_000 }, (_, i) => ({ i, s: 'live ' + i + ' ' + 'x'.repeat(40) }));
const ring = new Array(150_000);
for (let i = 0; i < 1_500_000; i++) ring[i % ring.length] = { i, s: 'garbage ' + i, a: [i, i] };
await new Promise((r) => setTimeout(r, 50));
process.stdout.write(String(live.length > 0 ? major : -1));
`;

function majorCollections(mode: 'tune' | 'default'): number {
  // A small young generation (as on Node 20; Node 24's is larger) so that the objects are promoted on every Node.
  return Number(execFileSync(process.execPath, ['--max-semi-space-size=4', '--input-type=module', '-e', CHURN, mode], { encoding: 'utf8', timeout: 60_000 }));
}

describe('limitHeapGrowth', () => {
  it('makes V8 collect the old space more often for the same allocations', () => {
    requireBuild();
    const held = majorCollections('tune');
    const own = majorCollections('default');
    expect(held).toBeGreaterThanOrEqual(2 * own); // measured: 10-11 against 2 on Node 20, 22 and 24
    expect(own).toBeGreaterThan(0);
  }, 120_000);

  it('leaves a --heap-growing-percent given to node alone', () => {
    expect(limitHeapGrowth(['--heap-growing-percent=80'])).toBe(false);
    expect(limitHeapGrowth(['--heap_growing_percent', '80'])).toBe(false);
    expect(limitHeapGrowth(['-heap-growing-percent=80'])).toBe(false); // node hands V8 this spelling too, and V8 takes it
    expect(limitHeapGrowth(['-heap_growing-percent=80'])).toBe(false);
  });
});
