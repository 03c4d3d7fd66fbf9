/**
 * `gemfetch put`: the real CLI (dist/) against the Titan test server, which
 * records the bytes it received; files are compared with the bytes on disk.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificate } from '../src/trust/selfsigned.js';
import { BIN, childEnv, escapeSequences, ptyAvailable, requireBuild, ROOT, runCli, runInPty, scratchDirs } from './support/cli.js';
import { startTitanServer, type TitanServerOptions, type TitanTestServer } from './support/titan-server.js';
import { bigBodyPattern } from './support/gemini-server.js';

const scratch = scratchDirs();
let home: string;
let dir: string;
const servers: TitanTestServer[] = [];

beforeAll(() => {
  requireBuild();
  home = scratch('gemfetch-put-home-');
  dir = scratch('gemfetch-put-files-');
});
afterAll(async () => {
  for (const server of servers) await server.close();
});

async function titan(options: TitanServerOptions = {}): Promise<TitanTestServer> {
  const server = await startTitanServer(options);
  servers.push(server);
  return server;
}

function put(args: string[], stdin?: string) {
  return runCli(home, ['put', '-k', ...args], stdin === undefined ? {} : { stdin });
}

describe('gemfetch put', () => {
  it('uploads a .gmi file as text/gemini, follows the redirect and prints the page read back', async () => {
    const server = await titan();
    const file = path.join(dir, 'page.gmi');
    fs.writeFileSync(file, '# Hello\n=> /other link\n');
    const res = await put([server.titanUrl('/wiki/page.gmi'), file]);
    expect(res.stderr).toContain(`uploaded 23 B (text/gemini) to ${server.titanUrl('/wiki/page.gmi')};mime=text/gemini;size=23`);
    expect(res.code).toBe(0);
    const onDisk = fs.readFileSync(file);
    expect(server.uploads[0]!.params).toEqual({ mime: 'text/gemini', size: String(onDisk.length) });
    expect(server.uploads[0]!.body.equals(onDisk)).toBe(true);
    expect(res.stdout.equals(onDisk)).toBe(true); // piped: the page as read back over gemini://, raw
  });

  it('uploads 0 bytes (an empty file) and exits 0', async () => {
    const server = await titan();
    const file = path.join(dir, 'empty.txt');
    fs.writeFileSync(file, '');
    const res = await put([server.titanUrl('/empty.txt'), file]);
    expect(res.code).toBe(0);
    expect(server.uploads[0]!.request).toBe(`${server.titanUrl('/empty.txt')};mime=text/plain;size=0`);
    expect(server.uploads[0]!.whole).toBe(true);
  });

  it('uploads stdin ("-"), buffered to learn its size, as text/gemini', async () => {
    const server = await titan();
    const res = await put([server.titanUrl('/from-stdin'), '-'], 'piped in\n');
    expect(res.code).toBe(0);
    expect(server.uploads[0]!.params).toEqual({ mime: 'text/gemini', size: '9' });
    expect(server.uploads[0]!.body.toString()).toBe('piped in\n');
  });

  it('streams stdin with --size; a size stdin does not match fails, exit 1, naming both numbers, nothing stored', async () => {
    const server = await titan();
    const ok = await put(['--size', '5', '--mime', 'text/plain', server.titanUrl('/five'), '-'], 'abcde');
    expect(ok.code).toBe(0);
    expect(server.uploads[0]!.body.toString()).toBe('abcde');
    const short = await put(['--size', '10', server.titanUrl('/ten'), '-'], 'abcde');
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('ended after 5 bytes, but its declared size is 10 bytes');
    expect(server.pages.has('/ten')).toBe(false);
  });

  it('--json: one record with the bytes sent, the token hidden (sent percent-encoded)', async () => {
    const token = 'se cret;x';
    const server = await titan({ token });
    const file = path.join(dir, 'photo.png');
    fs.writeFileSync(file, bigBodyPattern(300_000));
    const res = await put(['--json', '--token', token, server.titanUrl('/img/photo.png'), file]);
    expect(res.code).toBe(0);
    const record = JSON.parse(res.stdout.toString()) as Record<string, unknown>;
    const shown = `${server.titanUrl('/img/photo.png')};mime=image/png;size=300000;token=***`;
    expect(record).toMatchObject({
      url: server.titanUrl('/img/photo.png'),
      finalUrl: server.geminiUrl('/img/photo.png'),
      status: 20,
      complete: true,
      termination: 'close_notify',
      bytes: 300_000,
      redirects: [shown],
      upload: { url: shown, mime: 'image/png', size: 300_000, bytesSent: 300_000, finished: true },
    });
    expect(server.uploads[0]!.rawParams.token).toBe('se%20cret%3Bx');
    expect(server.uploads[0]!.body.equals(fs.readFileSync(file))).toBe(true);
    expect(res.stdout.toString() + res.stderr).not.toContain('cret');
  });

  it('an early refusal is the status of a fetch: 59 exits 5', async () => {
    const server = await titan({ maxSize: 10 });
    const file = path.join(dir, 'big.bin');
    fs.writeFileSync(file, bigBodyPattern(100_000));
    const res = await put(['--json', server.titanUrl('/big.bin'), file]);
    expect(res.code).toBe(5);
    expect(JSON.parse(res.stdout.toString())).toMatchObject({ status: 59, meta: 'too large', complete: true });
    expect(server.uploads[0]!.answered).toBe('early');
  });

  it('a cut answer after the upload: warning, exit 3', async () => {
    const server = await titan({ after: () => ({ header: '20 text/plain', body: 'half an ans', ending: 'fin' }) });
    const file = path.join(dir, 'n.txt');
    fs.writeFileSync(file, 'note');
    const res = await put([server.titanUrl('/n.txt'), file]);
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('incomplete response');
    expect(res.stderr).toContain('no TLS close_notify');
    expect(res.stdout.toString()).toBe('half an ans');
  });

  it('presents the --cert/--key client certificate on the Titan connection', async () => {
    const server = await titan({ requestCert: true });
    const identity = createCertificate({ commonName: 'author' });
    const certFile = path.join(dir, 'id.crt');
    const keyFile = path.join(dir, 'id.key');
    fs.writeFileSync(certFile, identity.cert);
    fs.writeFileSync(keyFile, identity.key);
    const file = path.join(dir, 'signed.gmi');
    fs.writeFileSync(file, 'by me');
    const res = await put(['--cert', certFile, '--key', keyFile, server.titanUrl('/signed.gmi'), file]);
    expect(res.code).toBe(0);
    expect(server.uploads[0]!.clientCertificate).toBe(identity.fingerprint);
  });

  it.skipIf(!ptyAvailable())('shows a progress line on a terminal while it sends, and erases it', async () => {
    // The server reads nothing for a second: the progress line (drawn from 0.5 s on) then has bytes to show.
    const server = await titan({ pauseBeforeBodyMs: 1000, after: () => ({ header: '20 text/plain', body: 'stored' }) });
    const file = path.join(dir, 'large.bin');
    fs.writeFileSync(file, bigBodyPattern(16 * 1024 * 1024));
    const res = await runInPty(home, ['put', '-k', '--max-time', '60s', server.titanUrl('/large.bin'), file], { shellSuffix: '> /dev/null', timeoutMs: 60_000 });
    expect(res.code).toBe(0);
    expect(res.output).toMatch(new RegExp(`\\r\\x1b\\[Kuploading ${server.titanUrl('/large.bin').replace(/[.]/g, '\\.')}  [0-9.]+ (KiB|MiB)`));
    expect(escapeSequences(res.output)).toContain('\x1b[K');
    expect(res.output).toContain('uploaded 16.0 MiB (application/octet-stream)');
    expect(server.uploads[0]!.body.length).toBe(16 * 1024 * 1024);
  });

  describe('usage errors exit 2 with a clear message, nothing sent', () => {
    const cases: Array<[string, (url: string, file: string) => string[], string]> = [
      ['no FILE', (url) => [url], 'put needs a titan:// URL and a FILE'],
      ['a missing file', (url) => [url, path.join(dir, 'missing.txt')], 'missing.txt): ENOENT'],
      ['a directory', (url) => [url, dir], 'not a regular file'],
      ['--mime with parameters', (url, file) => ['--mime', 'text/plain; charset=utf-8', url, file], '--mime "text/plain; charset=utf-8" is not a MIME type'],
      ['--size against a file', (url, file) => ['--size', '4', url, file], '--size 4 does not match'],
      ['--size with a unit', (url) => ['--size', '1k', url, '-'], '--size needs a whole number of bytes'],
      ['--input', (url, file) => ['--input', 'x', url, file], '--input cannot be used with put'],
      ['a gemini:// URL', (url, file) => [url.replace(/^titan:/, 'gemini:'), file], 'not a titan URL'],
    ];
    it.each(cases)('%s', async (_name, args, message) => {
      const server = await titan();
      const file = path.join(dir, 'u.txt');
      fs.writeFileSync(file, 'abc');
      const res = await put(args(server.titanUrl('/x'), file));
      expect(res.stderr).toContain(message);
      expect(res.code).toBe(2);
      expect(server.uploads).toHaveLength(0);
    });
  });

  it('a failure reading the page back after the redirect names that gemini:// URL; only the Titan URL is left out', async () => {
    const held = new Set<net.Socket>();
    const silent = net.createServer((socket) => held.add(socket)); // accepts, never answers: the read-back times out
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    try {
      const page = `gemini://127.0.0.1:${(silent.address() as net.AddressInfo).port}/page`;
      const server = await titan({ after: () => ({ header: `30 ${page}` }) });
      const url = server.titanUrl('/x.txt');
      const res = await put(['--max-time', '1s', url, '-'], 'abc');
      expect(server.uploads[0]!.whole).toBe(true);
      expect(res.stderr.toString()).toContain(`gemfetch: timed out (${url}): total timeout after 1000 ms fetching ${page}.`);
      expect(res.stderr.toString()).not.toContain(';mime=');
      expect(res.code).toBe(1);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('--size with a stdin that stops writing: timed out after --idle-timeout, naming the stalled body, exit 1, nothing stored', async () => {
    const server = await titan();
    const url = server.titanUrl('/stalled');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'put', '-k', '--size', '10', '--idle-timeout', '500ms', url, '-'], { cwd: ROOT, env: childEnv(home), stdio: ['pipe', 'ignore', 'pipe'] });
      const err: Buffer[] = [];
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.stdin.on('error', () => {});
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr: Buffer.concat(err).toString() }));
      child.stdin.write('abc'); // and the pipe stays open, silent, until the child gives up
      setTimeout(() => child.stdin.end(), 30_000).unref();
    });
    expect(result.stderr).toContain(`gemfetch: timed out (${url}): source timeout after 500 ms (the upload body gave no bytes)`);
    expect(result.code).toBe(1);
    expect(server.uploads.every((u) => !u.whole)).toBe(true);
    expect(server.pages.size).toBe(0);
  });

  it('stdin over the 64 MiB buffer limit without --size: a clear error, exit 2, nothing sent', async () => {
    const server = await titan();
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'put', '-k', server.titanUrl('/huge'), '-'], { cwd: ROOT, env: childEnv(home), stdio: ['pipe', 'ignore', 'pipe'] });
      const err: Buffer[] = [];
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.stdin.on('error', () => {}); // the child stops reading once past the limit
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr: Buffer.concat(err).toString() }));
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      let written = 0;
      const pump = (): void => {
        while (written < 65) {
          written++;
          if (!child.stdin.write(chunk)) {
            child.stdin.once('drain', pump);
            return;
          }
        }
        child.stdin.end();
      };
      pump();
    });
    expect(result.stderr).toContain('standard input holds more than 64M: give its size with --size N to stream it');
    expect(result.code).toBe(2);
    expect(server.uploads).toHaveLength(0);
  });
});
