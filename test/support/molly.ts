/**
 * Runs the real Gemini server molly-brown (Debian package, Go crypto/tls) on
 * loopback, serving files from a temporary directory.
 *
 * Molly (this Debian build, git 2021-01-24) listens on all addresses (`*:PORT`,
 * IPv4 and IPv6) and answers `53` unless the request's host and port match its
 * `Hostname` and `Port`, so URLs use `gemini://localhost:PORT/`. Config keys
 * used: Port, Hostname, CertPath, KeyPath, DocBase, AccessLog, ErrorLog,
 * [TempRedirects], [PermRedirects] (regexp -> path; molly answers
 * `30 gemini://localhost:PORT<path>`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCertificate, type GeneratedCertificate } from '../../src/trust/selfsigned.js';

/** Where the Debian package installs molly-brown. */
export const MOLLY_PATH = '/usr/bin/molly-brown';

/** A running molly-brown. */
export interface Molly {
  /** Always 'localhost' (molly checks the request's host against it). */
  host: string;
  port: number;
  /** `gemini://localhost:PORT/path` (path defaults to '/'). */
  url(path?: string): string;
  /** The server certificate (ec-p256, CN/DNS localhost, IP 127.0.0.1). */
  cert: GeneratedCertificate;
  /** The temporary directory holding config, certificate, logs and `docs/`. */
  dir: string;
  /** Stops molly (SIGTERM via its watchdog shell) and removes the directory. */
  close(): Promise<void>;
}

/** Options of {@link startMolly}. */
export interface MollyOptions {
  /** Exact request path -> target path, answered with status 30. */
  redirects?: Record<string, string>;
  /** Exact request path -> target path, answered with status 31. */
  permanentRedirects?: Record<string, string>;
  /** How long to wait for molly to accept connections; default 5000 ms. */
  startTimeoutMs?: number;
}

/**
 * Starts molly-brown serving `files` (relative path -> content; directories are
 * created). Resolves `{ molly: null, reason }` when the binary is missing, so
 * tests can skip saying why. Rejects if molly exits or does not accept
 * connections in time (with its stderr in the message).
 */
export async function startMolly(
  files: Record<string, string | Buffer>,
  options: MollyOptions = {},
): Promise<{ molly: Molly } | { molly: null; reason: string }> {
  if (!fs.existsSync(MOLLY_PATH)) return { molly: null, reason: `${MOLLY_PATH} not found (apt-get install molly-brown)` };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gemfetch-molly-'));
  try {
    const docs = path.join(dir, 'docs');
    fs.mkdirSync(docs);
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(docs, name);
      if (!file.startsWith(docs + path.sep)) throw new Error(`file name escapes the document root: ${name}`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
    }
    const cert = createCertificate({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    fs.writeFileSync(path.join(dir, 'cert.pem'), cert.cert);
    fs.writeFileSync(path.join(dir, 'key.pem'), cert.key, { mode: 0o600 });

    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      fs.writeFileSync(path.join(dir, 'molly.conf'), mollyConfig(dir, port, options));
      try {
        const child = await spawnAndWait(dir, port, options.startTimeoutMs ?? 5000);
        const molly: Molly = {
          host: 'localhost',
          port,
          url: (p = '/') => `gemini://localhost:${port}${p.startsWith('/') ? p : `/${p}`}`,
          cert,
          dir,
          close: async () => {
            await stop(child);
            fs.rmSync(dir, { recursive: true, force: true });
          },
        };
        return { molly };
      } catch (error) {
        lastError = error as Error;
        if (!/address already in use/i.test(lastError.message)) break; // only a port race is worth retrying
      }
    }
    throw lastError ?? new Error('molly-brown did not start');
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A port that was free a moment ago (there is a small race before molly binds it; startMolly retries). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function mollyConfig(dir: string, port: number, options: MollyOptions): string {
  const str = (value: string): string => JSON.stringify(value); // a JSON string is a valid TOML basic string
  const table = (name: string, map: Record<string, string> | undefined): string =>
    map && Object.keys(map).length > 0
      ? `\n[${name}]\n${Object.entries(map)
          .map(([from, to]) => `${str(`^${escapeRegExp(from)}$`)} = ${str(to)}`)
          .join('\n')}\n`
      : '';
  return [
    `Port = ${port}`,
    `Hostname = "localhost"`,
    `CertPath = ${str(path.join(dir, 'cert.pem'))}`,
    `KeyPath = ${str(path.join(dir, 'key.pem'))}`,
    `DocBase = ${str(path.join(dir, 'docs'))}`,
    `AccessLog = ${str(path.join(dir, 'access.log'))}`,
    `ErrorLog = ${str(path.join(dir, 'error.log'))}`,
    table('TempRedirects', options.redirects),
    table('PermRedirects', options.permanentRedirects),
  ].join('\n');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function spawnAndWait(dir: string, port: number, timeoutMs: number): Promise<ChildProcess> {
  // A shell watchdog kills molly when our stdin pipe closes, i.e. on close() and also
  // if this process dies without calling close() (no orphaned servers).
  // (stdin is kept on fd 3: sh gives background jobs /dev/null as stdin.)
  const script = 'exec 3<&0; "$0" -c "$1" </dev/null & pid=$!; (read _ignored <&3; kill $pid 2>/dev/null) & wait $pid';
  const child = spawn('/bin/sh', ['-c', script, MOLLY_PATH, path.join(dir, 'molly.conf')], {
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited (${signal ?? code})`));
  child.once('error', (error) => (exited = `failed to spawn: ${error.message}`));

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) break;
    if (await accepts(port)) return child;
    await sleep(25);
  }
  const errorLog = readIfExists(path.join(dir, 'error.log'));
  await stop(child);
  throw new Error(
    `molly-brown ${exited ?? `did not accept connections on port ${port} within ${timeoutMs} ms`}: ${`${output}${errorLog}`.trim() || '(no output)'}`,
  );
}

function readIfExists(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end(); // the watchdog kills molly; the shell then exits
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}
