// Native Node one-shot fetch: the least a Node Gemini client can do (no close_notify detection).
// node node-oneshot.js gemini://host:port/path > body
import net from 'node:net';
import tls from 'node:tls';
const url = new URL(process.argv[2]);
const socket = tls.connect(
  { host: url.hostname, port: Number(url.port || 1965), rejectUnauthorized: false, ...(net.isIP(url.hostname) ? {} : { servername: url.hostname }) },
  () => socket.write(`${url.href}\r\n`),
);
socket.pipe(process.stdout);
