/**
 * Starts molly-brown (Go crypto/tls; Debian package) on loopback with a
 * temporary config, like test/support/molly.ts does for the tests.
 * Molly answers 53 unless the request's host:port matches its Hostname and
 * Port, so URLs are gemini://localhost:PORT/...
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCertificate } from '../../../dist/trust/selfsigned.js';

export const MOLLY_PATH = '/usr/bin/molly-brown';

/**
 * Starts molly serving `files` (name -> content). Resolves `{ url(path), port, pid, close() }`,
 * or null when the binary is missing.
 */
export async function startMolly(files) {
  if (!fs.existsSync(MOLLY_PATH)) return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gemfetch-bench-molly-'));
  const docs = path.join(dir, 'docs');
  fs.mkdirSync(docs);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(docs, name), content);
  const cert = createCertificate({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  fs.writeFileSync(path.join(dir, 'cert.pem'), cert.cert);
  fs.writeFileSync(path.join(dir, 'key.pem'), cert.key, { mode: 0o600 });
  const port = await freePort();
  const str = JSON.stringify;
  fs.writeFileSync(
    path.join(dir, 'molly.conf'),
    [
      `Port = ${port}`,
      `Hostname = "localhost"`,
      `CertPath = ${str(path.join(dir, 'cert.pem'))}`,
      `KeyPath = ${str(path.join(dir, 'key.pem'))}`,
      `DocBase = ${str(docs)}`,
      `AccessLog = "/dev/null"`,
      `ErrorLog = ${str(path.join(dir, 'error.log'))}`,
    ].join('\n'),
  );
  const child = spawn(MOLLY_PATH, ['-c', path.join(dir, 'molly.conf')], { cwd: dir, stdio: 'ignore' });
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await accepts(port)) return { port, pid: child.pid, url: (p = '/') => `gemini://localhost:${port}${p}`, close };
    await sleep(25);
  }
  await close();
  throw new Error('molly-brown did not start');
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
