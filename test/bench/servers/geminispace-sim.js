#!/usr/bin/env node
/**
 * A simulated Geminispace for bench case 8 (issue 12, scale), run as its own process:
 *
 *   node geminispace-sim.js '{"hosts":4000,"pages":400,"links":20,"cross":0.5,"addresses":["127.0.0.20",...]}'
 *
 * One TLS server per loopback address, all on one port, serving every capsule of
 * geminispace-graph.js by name (virtual hosts: the request URL's host, checked against SNI).
 * Pages are text/gemini, generated per request; /robots.txt disallows /private/. Every response
 * ends with close_notify. Prints `{"port":N}` once listening; on SIGUSR1 prints a stats line (SIGUSR2:
 * after zeroing the figures), on
 * SIGTERM prints one and exits: {cpu:{user,system} (µs), served, pages, distinct, duplicates,
 * sniMismatch, unknown}. `duplicates` counts requests for a page (not robots.txt) asked before.
 */
import { createCertificate } from '../../../dist/trust/selfsigned.js';
import { hostIndex, hostName, pageIndex, pageLinks } from './geminispace-graph.js';
import { listenOnAll, requestLineHandler } from './tls-listener.js';

const config = { hosts: 4000, pages: 400, links: 20, cross: 0.5, addresses: ['127.0.0.1'], port: 0, ...JSON.parse(process.argv[2] ?? '{}') };
const shape = { hosts: config.hosts, pages: config.pages, links: config.links, cross: config.cross };
const cert = createCertificate({ commonName: 'gemini.test', dnsNames: ['*.gemini.test'], ipAddresses: config.addresses });
/** Requests per URL, saturating at 255: (pages + 1) slots per capsule, the last for `/`. */
const counts = new Uint8Array(config.hosts * (config.pages + 1));
const stats = { served: 0, pages: 0, distinct: 0, duplicates: 0, sniMismatch: 0, unknown: 0 };

function page(h, n, port) {
  const lines = [`# ${hostName(h)} ${n < 0 ? 'home' : `page ${n}`}`, 'A page of the simulated Geminispace.', ''];
  for (const [t, m] of pageLinks(shape, h, n)) {
    const where = m < 0 ? '/' : `/p/${m}`;
    lines.push(t === h ? `=> ${where} ${m < 0 ? 'home' : `page ${m}`}` : `=> gemini://${hostName(t)}:${port}${where} ${hostName(t)}`);
  }
  return `20 text/gemini\r\n${lines.join('\n')}\n`;
}

function respond(socket, line) {
  const m = /^gemini:\/\/([^/:]+)(?::(\d+))?(\/[^?#\r]*)?(\?[^#\r]*)?$/.exec(line);
  stats.served++;
  const h = m ? hostIndex(m[1], config.hosts) : -1;
  if (h < 0) {
    stats.unknown++;
    socket.end('53 No such capsule\r\n');
    return;
  }
  if (socket.servername !== m[1]) stats.sniMismatch++;
  const path = m[3] ?? '/';
  if (path === '/robots.txt') {
    socket.end('20 text/plain\r\nUser-agent: *\nDisallow: /private/\n');
    return;
  }
  const n = pageIndex(path, config.pages);
  if (n === undefined) {
    stats.unknown++;
    socket.end('51 Not found\r\n');
    return;
  }
  stats.pages++;
  const slot = h * (config.pages + 1) + (n < 0 ? config.pages : n);
  if (counts[slot] === 0) stats.distinct++;
  else stats.duplicates++;
  if (counts[slot] < 255) counts[slot]++;
  socket.end(page(h, n, socket.localPort));
}

const { port } = await listenOnAll(config.addresses, config.port, cert, requestLineHandler(respond));
process.stdout.write(JSON.stringify({ port }) + '\n');

const report = () => JSON.stringify({ cpu: process.cpuUsage(), ...stats }) + '\n';
process.on('SIGUSR1', () => process.stdout.write(report()));
// SIGUSR2: forget every request so far (counts and figures), then print a stats line as the acknowledgement
process.on('SIGUSR2', () => {
  counts.fill(0);
  for (const k of Object.keys(stats)) stats[k] = 0;
  process.stdout.write(report());
});
process.on('SIGTERM', () => process.stdout.write(report(), () => process.exit(0)));
