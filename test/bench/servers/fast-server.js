#!/usr/bin/env node
/**
 * Fast Gemini test server for the benchmarks (run as its own process so its
 * CPU is not charged to the client being measured).
 *
 *   node fast-server.js '{"hosts":["127.0.0.1"],"port":0,"delay":0,"pages":50}'
 *
 * Prints one JSON line `{"port":N,"hosts":[...]}` on stdout once listening on
 * every host (same port on each). Every response ends with `socket.end()`,
 * which sends close_notify then FIN.
 *
 * Paths:
 *   /bytes/N      20 application/octet-stream, exactly N body bytes (bodies
 *                 up to 1 MiB are generated once and cached; larger ones are
 *                 streamed from one 1 MiB buffer with backpressure)
 *   /robots.txt   20 text/plain, empty
 *   / and /p/I    capsule pages (case 6): `/` links to /p/1../p/(pages-1);
 *                 /p/I links back to / and to the next capsule's root
 *   /many/N       text/gemini page of N links /m/1../m/N (crawl frontier memory)
 *   anything else 51 Not found
 * A request line may also be `GET /path HTTP/1.0` (for `openssl s_time -www`).
 * Every response is delayed by `delay` ms after the request line arrives.
 * On SIGTERM it prints `{"cpu":{user,system},"served":N}` (µs) to stdout and exits.
 */
import { listenOnAll, requestLineHandler } from './tls-listener.js';
import { createCertificate } from '../../../dist/trust/selfsigned.js';

const config = { hosts: ['127.0.0.1'], port: 0, delay: 0, pages: 50, ...JSON.parse(process.argv[2] ?? '{}') };
const cert = createCertificate({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: config.hosts });
const CHUNK = Buffer.alloc(1 << 20, 'x');
const cache = new Map();
let served = 0;

function bytesResponse(size) {
  let cached = cache.get(size);
  if (!cached) {
    const header = Buffer.from('20 application/octet-stream\r\n');
    cached = Buffer.concat([header, size <= CHUNK.length ? CHUNK.subarray(0, size) : Buffer.alloc(0)]);
    if (size <= CHUNK.length) cache.set(size, cached);
  }
  return cached;
}

function capsulePage(host, port, path) {
  const index = config.hosts.indexOf(host);
  const next = config.hosts[(index + 1) % config.hosts.length];
  const lines = ['20 text/gemini', `# ${host} ${path}`];
  if (path === '/') for (let i = 1; i < config.pages; i++) lines.push(`=> /p/${i} page ${i}`);
  else lines.push('=> / home', `=> gemini://${next}:${port}/ next capsule`);
  return Buffer.from(lines.join('\r\n') + '\r\n');
}

async function respond(socket, line) {
  const match = /^(?:GET )?(?:gemini:\/\/[^/]*)?(\/[^ ?#]*)/.exec(line);
  const path = match ? match[1] : '';
  const bytes = /^\/bytes\/(\d+)$/.exec(path);
  if (bytes) {
    const size = Number(bytes[1]);
    socket.write(bytesResponse(size));
    if (size > CHUNK.length) {
      for (let left = size; left > 0; left -= CHUNK.length) {
        const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
        if (!socket.write(piece)) await new Promise((resolve) => socket.once('drain', resolve));
        if (socket.destroyed) return;
      }
    }
  } else if (/^\/many\/\d+$/.test(path)) {
    let page = cache.get(path);
    if (!page) {
      const n = Number(path.slice(6));
      const links = Array.from({ length: n }, (_, i) => `=> /m/${i + 1}`);
      page = Buffer.from(['20 text/gemini', ...links, ''].join('\r\n'));
      cache.set(path, page);
    }
    socket.write(page);
  } else if (path === '/robots.txt') {
    socket.write('20 text/plain\r\n');
  } else if (path === '/' || /^\/p\/\d+$/.test(path)) {
    socket.write(capsulePage(socket.localAddress, socket.localPort, path));
  } else {
    socket.write('51 Not found\r\n');
  }
  served++;
  socket.end();
}

const answer = (socket, line) => {
  if (config.delay > 0) setTimeout(() => respond(socket, line), config.delay);
  else respond(socket, line);
};
const { port } = await listenOnAll(config.hosts, config.port, cert, requestLineHandler(answer));
process.stdout.write(JSON.stringify({ port, hosts: config.hosts }) + '\n');

process.on('SIGTERM', () => {
  const cpu = process.cpuUsage();
  process.stdout.write(JSON.stringify({ cpu, served }) + '\n', () => process.exit(0));
});
