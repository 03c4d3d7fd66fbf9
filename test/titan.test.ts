/**
 * Titan uploads through the client, over real loopback sockets, against the
 * Titan test server (test/support/titan-server.ts), which records what it
 * actually received: the body bytes, the parameters as sent, the client
 * certificate.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../src/net/client.js';
import { TimeoutError, UploadError } from '../src/errors.js';
import { createCertificate } from '../src/trust/selfsigned.js';
import { startTitanServer, type TitanServerOptions, type TitanTestServer } from './support/titan-server.js';
import { bigBodyPattern } from './support/gemini-server.js';
import { INSECURE_OPTIONS, rejection, until } from './support/harness.js';
import { requireBuild, ROOT } from './support/cli.js';

const client = new Client(INSECURE_OPTIONS);
const servers: TitanTestServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function titan(options: TitanServerOptions = {}): Promise<TitanTestServer> {
  const server = await startTitanServer(options);
  servers.push(server);
  return server;
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** A lazy stream of `total` pattern bytes in 64 KiB chunks; `produced()` says how many were asked for so far. */
function patternStream(total: number): { stream: Readable; produced: () => number } {
  let offset = 0;
  const stream = new Readable({
    read() {
      if (offset >= total) {
        this.push(null);
        return;
      }
      const length = Math.min(64 * 1024, total - offset);
      this.push(bigBodyPattern(length, offset));
      offset += length;
    },
  });
  return { stream, produced: () => offset };
}

describe('uploads that succeed', () => {
  it('0 bytes: size=0 is sent, the redirect to the gemini:// page is followed, complete', async () => {
    const server = await titan();
    const res = await client.upload(server.titanUrl('/empty.gmi'), Buffer.alloc(0));
    expect(server.uploads).toHaveLength(1);
    expect(server.uploads[0]!.request).toBe(`${server.titanUrl('/empty.gmi')};mime=text/gemini;size=0`);
    expect(server.uploads[0]!.whole).toBe(true);
    expect(server.uploads[0]!.extraBytes).toBe(0);
    expect(res.upload).toEqual({ url: `${server.titanUrl('/empty.gmi')};mime=text/gemini;size=0`, mime: 'text/gemini', size: 0, bytesSent: 0, finished: true });
    expect(res.status).toBe(20);
    expect(res.url).toBe(server.geminiUrl('/empty.gmi'));
    expect(res.redirects).toEqual([res.upload.url]);
    expect(server.reads).toEqual([server.geminiUrl('/empty.gmi')]);
    expect(res.body.length).toBe(0);
    expect(res.complete).toBe(true);
    expect(res.termination).toBe('close_notify');
  });

  it('10 MB from a stream: every byte arrives, streamed as the server reads, and the page reads back identical', async () => {
    const server = await titan();
    const total = 10 * 1024 * 1024;
    const { stream } = patternStream(total);
    let lastProgress = 0;
    const res = await client.upload(server.titanUrl('/big.bin'), stream, {
      size: total,
      mime: 'application/octet-stream',
      totalTimeout: 120_000,
      onProgress: (sent) => {
        lastProgress = sent;
      },
    });
    const expected = sha256(bigBodyPattern(total));
    expect(server.uploads[0]!.body.length).toBe(total);
    expect(sha256(server.uploads[0]!.body)).toBe(expected);
    expect(server.uploads[0]!.extraBytes).toBe(0);
    expect(server.uploads[0]!.params.mime).toBe('application/octet-stream');
    expect(res.upload.bytesSent).toBe(total);
    expect(res.upload.finished).toBe(true);
    expect(lastProgress).toBe(total);
    expect(res.mimeType).toBe('application/octet-stream');
    expect(sha256(res.body)).toBe(expected);
    expect(res.complete).toBe(true);
  });

  it('a string is sent as UTF-8, its size counted in bytes', async () => {
    const server = await titan();
    const res = await client.upload(server.titanUrl('/s.gmi'), '# Café\n');
    expect(server.uploads[0]!.params.size).toBe('8');
    expect(server.uploads[0]!.body.toString('utf8')).toBe('# Café\n');
    expect(res.text()).toBe('# Café\n');
  });

  it('redirects are not followed with maxRedirects 0: the 30 is returned, complete', async () => {
    const server = await titan();
    const res = await client.upload(server.titanUrl('/p.gmi'), 'x', { maxRedirects: 0 });
    expect(res.status).toBe(30);
    expect(res.meta).toBe(server.geminiUrl('/p.gmi'));
    expect(res.redirectNotFollowed).toEqual({ target: server.geminiUrl('/p.gmi'), reason: 'disabled' });
    expect(server.reads).toEqual([]);
    expect(res.complete).toBe(true);
  });

  it('a relative redirect is read over gemini://, never uploaded to again', async () => {
    const server = await titan({ after: () => ({ header: '30 /read/here' }) });
    const res = await client.upload(server.titanUrl('/wiki/p'), 'x');
    expect(server.uploads).toHaveLength(1);
    expect(server.reads).toEqual([server.geminiUrl('/read/here')]);
    expect(res.status).toBe(51);
  });
});

describe('what the server receives', () => {
  it('the token percent-encoded on the wire, decoded to the same text, and hidden in what is reported', async () => {
    const token = 'p@ss;size=1 é%';
    const server = await titan({ token });
    const res = await client.upload(server.titanUrl('/t.gmi'), 'hello', { token });
    const received = server.uploads[0]!;
    expect(received.rawParams.token).toBe('p%40ss%3Bsize%3D1%20%C3%A9%25');
    expect(received.params.token).toBe(token);
    expect(received.params.size).toBe('5');
    expect(received.whole).toBe(true);
    expect(res.status).toBe(20);
    expect(res.upload.url).toBe(`${server.titanUrl('/t.gmi')};mime=text/gemini;size=5;token=***`);
    expect(JSON.stringify(res)).not.toContain('p%40ss');
  });

  it('the client certificate given as cert/key is presented on the Titan connection', async () => {
    const server = await titan({ requestCert: true });
    const identity = createCertificate({ commonName: 'uploader' });
    const res = await client.upload(server.titanUrl('/c.gmi'), 'signed', { cert: identity.cert, key: identity.key });
    expect(server.uploads[0]!.clientCertificate).toBe(identity.fingerprint);
    expect(res.tls.clientCertificate).toBe(true);
    const anonymous = await client.upload(server.titanUrl('/d.gmi'), 'anon');
    expect(server.uploads[1]!.clientCertificate).toBeUndefined();
    expect(anonymous.tls.clientCertificate).toBe(false);
  });
});

describe('early answers, cut responses, bad bodies', () => {
  it('a server that refuses before reading the body: sending stops, its status is returned, no hang', async () => {
    // The server answers 59 right after the request line and reads nothing more, so the unsent body backs up.
    const server = await titan({ maxSize: 1000, stopReadingAfterEarly: true });
    const total = 64 * 1024 * 1024;
    const { stream, produced } = patternStream(total);
    const res = await client.upload(server.titanUrl('/huge.bin'), stream, { size: total });
    expect(res.status).toBe(59);
    expect(res.meta).toBe('too large');
    expect(res.complete).toBe(true);
    expect(res.upload.finished).toBe(false);
    expect(res.upload.bytesSent).toBeLessThan(total);
    expect(produced()).toBeLessThan(total); // the rest of the body was never read
    expect(stream.destroyed).toBe(true);
    expect(server.uploads[0]!.answered).toBe('early');
  });

  it('a wrong token is refused early with its status', async () => {
    const server = await titan({ token: 'right' });
    const res = await client.upload(server.titanUrl('/t'), 'x', { token: 'wrong' });
    expect(res.status).toBe(59);
    expect(res.meta).toBe('bad token');
  });

  it('a response cut after the upload (no close_notify) is complete: false, its bytes kept', async () => {
    const server = await titan({ after: () => ({ header: '20 text/plain', body: 'partial answ', ending: 'fin' }) });
    const res = await client.upload(server.titanUrl('/cut'), 'body');
    expect(server.uploads[0]!.whole).toBe(true);
    expect(res.upload.finished).toBe(true);
    expect(res.status).toBe(20);
    expect(res.body.toString()).toBe('partial answ');
    expect(res.complete).toBe(false);
    expect(res.termination).toBe('tcp_fin');
  });

  it('a stream longer than size: ERR_UPLOAD_SIZE naming both numbers, and the server never has all size bytes', async () => {
    const server = await titan();
    // Exactly `size` bytes, then more once the server has the request: sending the first chunk
    // at once would hand the server a whole-looking upload, which it would store.
    const body = (async function* () {
      yield Buffer.from('0123456789');
      await until(() => server.uploads.length > 0, 'the server to read the request line');
      yield Buffer.from('abcde');
    })();
    const err = await rejection(client.upload(server.titanUrl('/long'), body, { size: 10 }));
    expect(err).toBeInstanceOf(UploadError);
    expect(err.code).toBe('ERR_UPLOAD_SIZE');
    expect(err.message).toContain('declared size of 10 bytes');
    expect(err.message).toContain('at least 15 bytes');
    expect((err as UploadError).bytesSent).toBe(0);
    await until(() => server.uploads[0]?.closed === true, 'the server to see the connection close');
    expect(server.uploads[0]!.whole).toBe(false);
    expect(server.uploads[0]!.answered).toBe('none');
    expect(server.pages.size).toBe(0);
  });

  it('a stream shorter than size: ERR_UPLOAD_SIZE naming both numbers, connection closed', async () => {
    const server = await titan();
    const body = (async function* () {
      yield Buffer.from('abc');
      await until(() => server.uploads.length > 0, 'the server to read the request line');
      yield Buffer.from('d');
    })();
    const err = await rejection(client.upload(server.titanUrl('/short'), body, { size: 10 }));
    expect(err.code).toBe('ERR_UPLOAD_SIZE');
    expect(err.message).toContain('ended after 4 bytes, but its declared size is 10 bytes');
    await until(() => server.uploads[0]?.closed === true, 'the server to see the connection close');
    expect(server.uploads[0]!.whole).toBe(false);
    expect(server.pages.size).toBe(0);
  });

  it('bytes whose length is not size are refused before connecting', async () => {
    const server = await titan();
    const err = await rejection(client.upload(server.titanUrl('/x'), Buffer.from('abc'), { size: 4 }));
    expect(err.code).toBe('ERR_INVALID_OPTION');
    expect(err.message).toBe('upload size 4 does not match the body, which holds 3 bytes');
    expect(server.uploads).toHaveLength(0);
  });

  it('a stream that fails: ERR_UPLOAD_BODY with the cause, nothing stored', async () => {
    const server = await titan();
    const body = (async function* () {
      yield Buffer.from('abc');
      throw new Error('disk on fire');
    })();
    const err = await rejection(client.upload(server.titanUrl('/fail'), body, { size: 10 }));
    expect(err.code).toBe('ERR_UPLOAD_BODY');
    expect(err.message).toContain('disk on fire');
    expect(server.pages.size).toBe(0);
  });

  it('a server that stops reading: the upload ends with ERR_TIMEOUT (phase upload) after idleTimeout, the body not read ahead without bound', async () => {
    const server = await titan({ stall: true });
    const total = 1024 * 1024 * 1024;
    const { stream, produced } = patternStream(total);
    const err = await rejection(client.upload(server.titanUrl('/stall'), stream, { size: total, idleTimeout: 300, totalTimeout: 60_000 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).phase).toBe('upload');
    expect(produced()).toBeLessThan(64 * 1024 * 1024);
  });

  it('a body stream that stops giving bytes: ERR_TIMEOUT (phase source) after idleTimeout, the connection closed, nothing stored', async () => {
    const server = await titan();
    const stream = new Readable({ read() {} }); // gives 3 bytes, then nothing, and never ends
    stream.push(Buffer.from('abc'));
    const err = await rejection(client.upload(server.titanUrl('/stalled-source'), stream, { size: 10, idleTimeout: 300, totalTimeout: 60_000 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).phase).toBe('source');
    expect(err.message).toBe(`source timeout after 300 ms fetching ${server.titanUrl('/stalled-source')};mime=text/gemini;size=10 (the upload body gave no bytes)`);
    await until(() => stream.destroyed, 'the body stream to be destroyed');
    await until(() => server.uploads[0]?.closed === true, 'the server to see the connection closed');
    expect(server.uploads[0]!.whole).toBe(false);
    expect(server.pages.size).toBe(0);
  });

  it('a body stream that yields only empty chunks after its first bytes: they are no bytes, ERR_TIMEOUT (phase source) after idleTimeout', async () => {
    const server = await titan();
    let empties = 0;
    const body = (async function* () {
      yield 'abc';
      for (;;) {
        await sleep(20);
        empties++;
        yield new Uint8Array(0);
      }
    })();
    const started = performance.now();
    const err = await rejection(client.upload(server.titanUrl('/empty-chunks'), body, { size: 10, idleTimeout: 300, totalTimeout: 10_000 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).phase).toBe('source');
    expect(performance.now() - started).toBeLessThan(5000); // the idle limit, not the total one
    expect(empties).toBeGreaterThan(3);
    expect(server.pages.size).toBe(0);
  });

  it('a body that yields empty chunks without ever waiting: the event loop is not starved, ERR_TIMEOUT (phase source)', async () => {
    const server = await titan();
    const body = (async function* () {
      yield 'abc';
      for (;;) yield '';
    })();
    const err = await rejection(client.upload(server.titanUrl('/busy-empty'), body, { size: 10, idleTimeout: 300, totalTimeout: 10_000 }));
    expect((err as TimeoutError).phase).toBe('source');
    expect(server.pages.size).toBe(0);
  }, 20_000);

  it('a body that gives a byte now and then, each within idleTimeout, is sent whole however long it takes in all', async () => {
    const server = await titan();
    const body = (async function* () {
      for (let i = 0; i < 12; i++) {
        await sleep(60);
        yield 'x';
      }
    })();
    const res = await client.upload(server.titanUrl('/slow.txt'), body, { size: 12, idleTimeout: 250, totalTimeout: 20_000 });
    expect(res.upload.finished).toBe(true);
    expect(server.uploads[0]!.whole).toBe(true);
  });

  it('an early refusal while a body (not a stream) waits for more leaves no idle timer holding the process', async () => {
    requireBuild();
    const server = await titan({ token: 'right' });
    // In a child process (the built library): once the upload is answered, nothing may keep it alive for idleTimeout.
    const script = `
      const { Client } = await import(${JSON.stringify(path.join(ROOT, 'dist/net/client.js'))});
      const body = (async function* () { yield 'abc'; await new Promise(() => {}); })();
      const res = await new Client({ trust: 'insecure' }).upload(process.argv[1], body, { token: 'wrong', size: 10, idleTimeout: 30000 });
      process.stdout.write(String(res.status));
    `;
    const started = performance.now();
    const result = await new Promise<{ stdout: string; code: number | null }>((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', script, server.titanUrl('/refused')], { timeout: 20_000 }, (err, stdout) => {
        if (err && err.killed !== true) reject(err);
        else resolve({ stdout, code: err ? null : 0 });
      });
    });
    expect(result.stdout).toBe('59');
    expect(result.code).toBe(0);
    expect(performance.now() - started).toBeLessThan(15_000);
  }, 30_000);

  it('totalTimeout and the abort signal also end an upload the server does not read', async () => {
    const server = await titan({ stall: true });
    const total = 1024 * 1024 * 1024;
    const timedOut = await rejection(client.upload(server.titanUrl('/t'), patternStream(total).stream, { size: total, idleTimeout: 0, totalTimeout: 300 }));
    expect((timedOut as TimeoutError).phase).toBe('total');
    const controller = new AbortController();
    const { stream, produced } = patternStream(total);
    const pending = client.upload(server.titanUrl('/a'), stream, { size: total, idleTimeout: 0, totalTimeout: 0, signal: controller.signal });
    await until(() => produced() > 0, 'the upload to start');
    controller.abort();
    expect((await rejection(pending)).code).toBe('ERR_ABORTED');
    await until(() => stream.destroyed, 'the body stream to be destroyed (the upload stopped reading it)');
  });

  it('headerTimeout starts once the body is sent: a server slow to read a large body is not cut off', async () => {
    // The server reads nothing for 2.5 s, longer than headerTimeout: 16 MiB cannot all wait in socket buffers,
    // so the upload is still being sent then, and the header timeout must not be running yet.
    const server = await titan({ pauseBeforeBodyMs: 2500, after: () => ({ header: '20 text/plain', body: 'stored' }) });
    const total = 16 * 1024 * 1024;
    const res = await client.upload(server.titanUrl('/slow'), patternStream(total).stream, { size: total, headerTimeout: 1500, totalTimeout: 60_000 });
    expect(res.status).toBe(20);
    expect(res.upload.finished).toBe(true);
    expect(server.uploads[0]!.body.length).toBe(total);
  });

  it('a server silent after the whole body: ERR_TIMEOUT in the header phase', async () => {
    const server = await titan({ after: () => undefined });
    const err = await rejection(client.upload(server.titanUrl('/quiet'), 'all of it', { headerTimeout: 300 }));
    expect((err as TimeoutError).phase).toBe('header');
    expect(server.uploads[0]!.whole).toBe(true);
  });

  it('bad options and bodies get clear errors', async () => {
    const server = await titan();
    const url = server.titanUrl('/x');
    expect((await rejection(client.upload(url, Readable.from(['a'])))).message).toMatch(/option size is required to upload a stream/);
    expect((await rejection(client.upload(url, 'a', { mime: 'text/plain; charset=utf-8' }))).message).toMatch(/option mime must be a MIME type/);
    expect((await rejection(client.upload(url, 'a', { token: '' }))).message).toMatch(/option token must be a non-empty string/);
    expect((await rejection(client.upload(url, 'a', { size: -1 }))).message).toMatch(/option size must be a whole number/);
    expect((await rejection(client.upload(url, 42 as unknown as string))).message).toMatch(/upload body must be/);
    expect((await rejection(client.upload(url, 'a', { input: 'x' } as never))).message).toMatch(/input cannot be used with upload/);
    expect((await rejection(client.upload(server.geminiUrl('/x'), 'a'))).code).toBe('ERR_INVALID_URL');
    expect(server.uploads).toHaveLength(0);
  });
});
