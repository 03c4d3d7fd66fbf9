// gemfetch side of bench case 8 (issue 12, scale), run as its own process so its RSS and CPU are its own.
//   node scale-crawl.js '{"mode":"crawl"|"native"|"latency", "shape":{hosts,pages,links,cross}, "addresses":[...], "port":N, ...}'
// crawl:   crawls the simulated Geminispace (all capsule roots as seeds, scope all) with
//          {stateDir, maxPages, concurrency, delay}, the heap growth held as the CLI holds it
//          (unless heap: "v8"); every `sampleMs` prints `P {...}` on stderr (records,
//          frontier, rss, heap, external); at the end prints one JSON line on stdout: records, seconds,
//          cpu (µs), maxRSS (KiB), samples, firstFetchMs (process start -> first connection's address delivered),
//          resumedRecords, complete.
// native:  the native Node TLS loop (tls.connect per request, SNI set, no close_notify check, no
//          parsing) fetching `count` pages spread over the capsules with `concurrency` in flight.
// latency: median wall ms of sequential gemfetch fetches of one capsule's pages.
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { Client } from '../../../dist/index.js';
import { hostName, lookupFor, mix } from '../servers/geminispace-graph.js';

const o = JSON.parse(process.argv[2]);
const shape = o.shape;
let firstFetchMs = null;
const baseLookup = lookupFor(shape, o.addresses);
/** With a state directory, samples and the first fetch also go to STATE/bench-samples.ndjson as they happen (a long run can be followed, or cut short, with its figures so far). */
const trace = (line) => {
  if (o.stateDir) fs.appendFileSync(path.join(o.stateDir, 'bench-samples.ndjson'), `${JSON.stringify(line)}\n`);
};
// The first fetch is timed when its address is delivered (on the next tick): a lookup can be asked
// from inside a long synchronous start-up, and the connection cannot go on before that ends.
const lookup = (hostname, options, callback) => {
  baseLookup(hostname, options, (...answer) => {
    if (firstFetchMs === null) {
      firstFetchMs = performance.now();
      trace({ firstFetchMs, pid: process.pid, resume: Boolean(o.resume) });
    }
    callback(...answer);
  });
};
const url = (h, n) => `gemini://${hostName(h)}:${o.port}${n < 0 ? '/' : `/p/${n}`}`;
const mem = () => {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, heapTotal: m.heapTotal, external: m.external }; // arrayBuffers are part of external
};

async function runCrawl() {
  const { crawl } = await import('../../../dist/bulk/crawl.js');
  // As `gemfetch crawl` runs it: V8's heap growth held down (src/cli/long-run-heap.ts); `heap: "v8"` leaves V8's own.
  if (o.heap !== 'v8') (await import('../../../dist/cli/long-run-heap.js')).limitHeapGrowth();
  const client = new Client({ trust: 'insecure', lookup });
  const seeds = Array.from({ length: shape.hosts }, (_, h) => url(h, -1));
  let last = { records: 0, frontier: 0, resumedRecords: 0 };
  const samples = [];
  const sample = () => {
    if (o.gcBeforeSample) globalThis.gc(); // live heap figures (diagnosis; needs --expose-gc)
    const s = { t: Math.round(performance.now()), records: last.records, frontier: last.frontier, ...mem() };
    samples.push(s);
    process.stderr.write(`P ${JSON.stringify(s)}\n`);
    trace({ ...s, pid: process.pid });
  };
  const timer = setInterval(sample, o.sampleMs ?? 1000);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let records = 0;
  let complete = 0;
  let fetched = 0;
  for await (const record of crawl(o.resume ? [] : seeds, {
    client, scope: 'all', stateDir: o.stateDir, maxPages: o.maxPages, concurrency: o.concurrency ?? 16, perHost: 1,
    delay: o.delay ?? 1000, maxDepth: 64, requestOptions: { trust: 'insecure' },
    onProgress: (stats) => (last = stats),
  })) {
    records++;
    if (record.attempts > 0) fetched++;
    if (record.complete) complete++;
  }
  clearInterval(timer);
  sample();
  const seconds = (performance.now() - t0) / 1000;
  return { records, fetched, complete, seconds, cpu: process.cpuUsage(cpu0), maxRSS: process.resourceUsage().maxRSS, samples, firstFetchMs, resumedRecords: last.resumedRecords };
}

function nativeFetch(h, n) {
  return new Promise((resolve, reject) => {
    const name = hostName(h);
    const socket = tls.connect({ host: o.addresses[h % o.addresses.length], port: o.port, servername: name, rejectUnauthorized: false }, () => socket.write(`${url(h, n)}\r\n`));
    let bytes = 0;
    socket.on('data', (d) => (bytes += d.length));
    socket.on('end', () => resolve(bytes));
    socket.on('error', reject);
  });
}

async function runNative() {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: o.concurrency }, async () => {
    while (next < o.count) {
      const i = next++;
      const h = mix(i, 1, 2) % shape.hosts;
      await nativeFetch(h, mix(i, 3, 4) % shape.pages);
    }
  }));
  return { count: o.count, seconds: (performance.now() - t0) / 1000, cpu: process.cpuUsage(cpu0), maxRSS: process.resourceUsage().maxRSS };
}

async function runLatency() {
  const client = new Client({ trust: 'insecure', lookup });
  const times = [];
  for (let i = 0; i < o.count; i++) {
    const t = performance.now();
    const response = await client.fetch(url(0, i % shape.pages));
    if (!response.complete) throw new Error('a response without close_notify');
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[times.length >> 1] };
}

const result = o.mode === 'crawl' ? await runCrawl() : o.mode === 'native' ? await runNative() : await runLatency();
process.stdout.write(JSON.stringify(result) + '\n');
