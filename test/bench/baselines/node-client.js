// Native Node fetch loop: tls.connect per request, no close_notify detection.
// What Node can do at best; the gap to gemfetch is what detection and its API cost.
//   node node-client.js '{"mode":"seq"|"conc"|"stream"|"file","url":"gemini://...","count":N,"concurrency":C,"resume":false,"warmup":W,"file":PATH}'
// With "urls":[...] (conc mode), worker i fetches urls[i % urls.length]: one connection per host when C = hosts.
// Prints {"count","seconds","cpu":{user,system} (µs),"maxRSS" (KiB),"bytes"} on stdout.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const o = { count: 1, concurrency: 1, resume: false, warmup: 0, ...JSON.parse(process.argv[2]) };
const urls = (o.urls ?? [o.url]).map((u) => new URL(u));
const target = (url) => ({ host: url.hostname, port: Number(url.port || 1965), rejectUnauthorized: false, ...(net.isIP(url.hostname) ? {} : { servername: url.hostname }) });
let session;

function fetchOnce(sink, url = urls[0]) {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const socket = tls.connect({ ...target(url), session: o.resume ? session : undefined }, () => socket.write(`${url.href}\r\n`));
    if (o.resume) socket.on('session', (s) => (session = s));
    socket.on('data', (chunk) => {
      bytes += chunk.length;
      if (sink && !sink.write(chunk)) {
        socket.pause();
        sink.once('drain', () => socket.resume());
      }
    });
    socket.on('end', () => resolve(bytes));
    socket.on('error', reject);
  });
}

async function worker(n, sink, url) {
  let bytes = 0;
  for (let i = 0; i < n; i++) bytes += await fetchOnce(sink, url);
  return bytes;
}

for (let i = 0; i < o.warmup; i++) await fetchOnce();
const sink = o.mode === 'file' ? fs.createWriteStream(o.file) : undefined;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const workers = o.mode === 'conc' ? o.concurrency : 1;
const shares = Array.from({ length: workers }, (_, i) => Math.floor(o.count / workers) + (i < o.count % workers ? 1 : 0));
const bytes = (await Promise.all(shares.map((n, i) => worker(n, sink, urls[i % urls.length])))).reduce((a, b) => a + b, 0);
if (sink) await new Promise((resolve) => sink.end(resolve));
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(JSON.stringify({ count: o.count, seconds, cpu, maxRSS: process.resourceUsage().maxRSS, bytes }) + '\n');
