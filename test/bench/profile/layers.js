// Where gemfetch's per-fetch CPU goes, layer by layer: client CPU ms per fetch, 16 in flight, each
// layer in its own process, interleaved, medians.
//   node test/bench/profile/layers.js gemini://localhost:PORT/bytes/2048 [count] [runs]
//   native     tls.connect on the TCP handle (what Node does at best)
//   relay      tls.connect over a plain Duplex relaying a net.Socket (JSStreamSocket path, no detection)
//   transport  gemfetch connectTls (relay + close_notify detection), request written by hand
//   client     gemfetch Client.fetch (trust insecure, no resumption): + request engine, verifyPeer, records
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

const [url, count = '1500', runs = '3', layer] = process.argv.slice(2);
const LAYERS = ['native', 'relay', 'transport', 'client'];

if (!layer) {
  const samples = Object.fromEntries(LAYERS.map((l) => [l, []]));
  for (let r = 0; r < Number(runs); r++) {
    for (const l of LAYERS) samples[l].push(Number(execFileSync(process.execPath, [fileURLToPath(import.meta.url), url, count, runs, l], { encoding: 'utf8' })));
  }
  const med = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  const base = med(samples.native);
  for (const l of LAYERS) console.log(`${l.padEnd(10)} ${med(samples[l]).toFixed(2)} ms CPU/fetch  (${(med(samples[l]) / base).toFixed(2)}x native)`);
  process.exit(0);
}

const u = new URL(url);
const host = u.hostname;
const port = Number(u.port);
const { connectTls } = await import('../../../dist/net/transport.js');
const { Client } = await import('../../../dist/index.js');
const client = new Client({ trust: 'insecure', sessionResumption: false });

class Relay extends Duplex {
  constructor(raw) {
    super({ allowHalfOpen: true });
    this.raw = raw;
    raw.on('data', (c) => this.push(c) || raw.pause());
    raw.on('end', () => this.push(null));
    raw.on('error', () => this.push(null));
  }
  _read() { this.raw.resume(); }
  _write(c, e, cb) { this.raw.write(c, cb); }
  _final(cb) { this.raw.end(); cb(); }
  _destroy(err, cb) { this.raw.destroy(); cb(err); }
}

function readToEnd(socket) {
  return new Promise((resolve, reject) => {
    socket.on('data', () => {});
    socket.on('end', resolve);
    socket.on('error', reject);
  });
}

const once = {
  native: () => {
    const s = tls.connect({ host, port, servername: host, rejectUnauthorized: false }, () => s.write(`${url}\r\n`));
    return readToEnd(s);
  },
  relay: () => {
    const raw = net.connect({ host, port, allowHalfOpen: true });
    const s = tls.connect({ socket: new Relay(raw), servername: host, rejectUnauthorized: false }, () => s.write(`${url}\r\n`));
    s.allowHalfOpen = false; // as the transport: answer close_notify and close (left true, nothing is ever closed)
    return readToEnd(s);
  },
  transport: async () => {
    const c = await connectTls({ host, port, servername: host, connectTimeout: 5000, handshakeTimeout: 5000 });
    c.socket.write(`${url}\r\n`);
    await readToEnd(c.socket);
    if (c.end !== 'close_notify') throw new Error(`end ${c.end}`);
  },
  client: async () => {
    if (!(await client.fetch(url)).complete) throw new Error('incomplete');
  },
}[layer];

const n = Number(count);
for (let i = 0; i < 20; i++) await once();
const cpu0 = process.cpuUsage();
let left = n;
await Promise.all(Array.from({ length: 16 }, async () => { while (left-- > 0) await once(); }));
const cpu = process.cpuUsage(cpu0);
console.log(((cpu.user + cpu.system) / 1000 / n).toFixed(3));
