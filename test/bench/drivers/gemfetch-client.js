// gemfetch side of the in-process cases, run as its own process (its CPU and RSS are measured alone).
//   node gemfetch-client.js '{"mode":"seq"|"conc"|"batch"|"stream"|"file"|"crawl"|"queue", "url":..., "count":N, ...}'
// Prints {"count","seconds","cpu":{user,system} (µs),"maxRSS" (KiB),"bytes","complete"} on stdout.
// Every response's verdict is checked: `complete` counts responses ended by close_notify.
import fs from 'node:fs';
import { once } from 'node:events';
import { Client } from '../../../dist/index.js';

const o = { count: 1, concurrency: 1, resume: false, warmup: 0, ...JSON.parse(process.argv[2]) };
const client = new Client({ trust: 'insecure', sessionResumption: o.resume, maxBytes: Infinity });
let complete = 0;
let bytes = 0;

async function fetchOnce() {
  const response = await client.fetch(o.url);
  bytes += response.body.length;
  if (response.complete) complete++;
}

async function streamOnce(sink) {
  const response = await client.request(o.url);
  for await (const chunk of response.body) {
    bytes += chunk.length;
    if (sink && !sink.write(chunk)) await once(sink, 'drain');
  }
  if ((await response.done).complete) complete++;
}

async function workers(n, c, task) {
  const shares = Array.from({ length: c }, (_, i) => Math.floor(n / c) + (i < n % c ? 1 : 0));
  await Promise.all(shares.map(async (share) => {
    for (let i = 0; i < share; i++) await task();
  }));
}

async function runBatch() {
  const { batch } = await import('../../../dist/bulk/batch.js');
  const urls = Array.from({ length: o.count }, () => o.url);
  const records = batch(urls, { client, concurrency: o.concurrency, perHost: o.concurrency, requestOptions: { trust: 'insecure' } });
  for await (const record of records) {
    bytes += record.bytes;
    if (record.complete) complete++;
  }
}

async function runCrawl() {
  const { crawl } = await import('../../../dist/bulk/crawl.js');
  let count = 0;
  const t0 = performance.now();
  let firstAt = 0;
  for await (const record of crawl(o.seeds, { client, delay: 0, ...o.crawlOptions, requestOptions: { trust: 'insecure' } })) {
    if (!firstAt) firstAt = performance.now() - t0;
    count++;
    bytes += record.bytes ?? 0;
    if (record.complete) complete++;
  }
  return count;
}

/**
 * Memory of a crawl frontier: crawl one page of `o.links` links with a long politeness delay, so
 * every link stays queued; heap growth (after GC) from before the crawl to when the page's record
 * arrives, per queued URL. Needs --expose-gc.
 */
async function runQueue() {
  const { crawl } = await import('../../../dist/bulk/crawl.js');
  const controller = new AbortController();
  globalThis.gc();
  const before = process.memoryUsage();
  let frontier = 0;
  let after;
  const records = crawl([o.url], {
    client, delay: 600_000, robots: false, concurrency: 1, perHost: 1, signal: controller.signal,
    requestOptions: { trust: 'insecure' },
    onProgress: (stats) => (frontier = stats.frontier),
  });
  for await (const record of records) {
    if (record.queued > 0) {
      globalThis.gc();
      after = process.memoryUsage();
      frontier = Math.max(frontier, record.queued);
      controller.abort();
      break;
    }
  }
  const grown = (k) => after[k] - before[k];
  return { queued: frontier, heapBytes: grown('heapUsed'), externalBytes: grown('external') /* arrayBuffers are part of it */, rssBytes: grown('rss') };
}

if (o.mode === 'queue') {
  const r = await runQueue();
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}
for (let i = 0; i < o.warmup; i++) await fetchOnce();
bytes = 0;
complete = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let count = o.count;
if (o.mode === 'seq') await workers(o.count, 1, fetchOnce);
else if (o.mode === 'conc') await workers(o.count, o.concurrency, fetchOnce);
else if (o.mode === 'batch') await runBatch();
else if (o.mode === 'stream') await streamOnce();
else if (o.mode === 'file') {
  const sink = fs.createWriteStream(o.file);
  await streamOnce(sink);
  await new Promise((resolve) => sink.end(resolve));
} else if (o.mode === 'crawl') count = await runCrawl();
else throw new Error(`unknown mode ${o.mode}`);
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(JSON.stringify({ count, seconds, cpu, maxRSS: process.resourceUsage().maxRSS, bytes, complete }) + '\n');
