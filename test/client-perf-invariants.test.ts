/**
 * What the client's caches and the transport's reused read buffer must never
 * change: certificate facts follow the certificate actually presented, trust
 * is decided on every connection, TLS option sets never share a context, a
 * shared context never resumes a session we did not offer, and bulk bodies
 * arrive byte-exact however the consumer pauses.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Client } from '../src/net/client.js';
import { createCertificate } from '../src/trust/selfsigned.js';
import { KnownHostsStore } from '../src/trust/tofu.js';
import { connectTls } from '../src/net/transport.js';
import {
  bigBody,
  bigBodyPattern,
  dribble,
  requireClientCertificate,
  respondWith,
  type GeminiTestServer,
  type GeminiTestServerOptions,
} from './support/gemini-server.js';
import { INSECURE_OPTIONS, perTestCleanup, rejection } from './support/harness.js';

const perTest = perTestCleanup();

/** A server answering `hello` unless `options.handler` says otherwise; closed after the test. */
function serve(options: Partial<GeminiTestServerOptions> = {}): Promise<GeminiTestServer> {
  const { handler = respondWith('20 text/plain', 'hello'), ...rest } = options;
  return perTest.serve(handler, rest);
}


describe('certificate facts cache', () => {
  it('reports the facts of the certificate presented, also for a renewal that keeps the key', async () => {
    const first = createCertificate({ commonName: 'one', ipAddresses: ['127.0.0.1'] });
    const renewed = createCertificate({ commonName: 'two', ipAddresses: ['127.0.0.1'], keyPem: first.key });
    const other = createCertificate({ commonName: 'three', ipAddresses: ['127.0.0.1'] });
    const servers = [await serve({ cert: first }), await serve({ cert: renewed }), await serve({ cert: other })];
    const client = new Client(INSECURE_OPTIONS);
    for (let round = 0; round < 2; round++) {
      const [a, b, c] = [await client.fetch(servers[0]!.url()), await client.fetch(servers[1]!.url()), await client.fetch(servers[2]!.url())];
      expect(a.tls.certificate.subject).toBe('one');
      expect(b.tls.certificate.subject).toBe('two');
      expect(c.tls.certificate.subject).toBe('three');
      expect(a.tls.fingerprint).toBe(first.fingerprint);
      expect(b.tls.fingerprint).toBe(first.fingerprint); // same key: same SPKI fingerprint
      expect(c.tls.fingerprint).toBe(other.fingerprint);
      expect(a.tls.certificate.selfSigned).toBe(true);
    }
  });

  it('hands every response its own Date objects', async () => {
    const server = await serve();
    const client = new Client(INSECURE_OPTIONS);
    const a = await client.fetch(server.url());
    a.tls.certificate.validTo.setTime(0);
    const b = await client.fetch(server.url());
    expect(b.tls.certificate.validTo.getTime()).toBeGreaterThan(Date.now());
    expect(b.tls.certificate.validTo).not.toBe(a.tls.certificate.validTo);
  });

  it('still runs the TOFU check on every connection', async () => {
    const store = new KnownHostsStore(await perTest.tempKnownHosts('gemfetch-perf-invariants-'));
    const server = await serve();
    const client = new Client({ ...INSECURE_OPTIONS, trust: 'tofu', knownHosts: store });
    expect((await client.fetch(server.url())).tls.trust).toBe('first-use');
    expect((await client.fetch(server.url())).tls.trust).toBe('match');
    // Another key pinned for the host meanwhile (not expired): the same certificate must now be refused.
    await store.pin({ hostPort: `127.0.0.1:${server.port}`, fingerprint: 'ab'.repeat(32), expires: new Date(Date.now() + 86_400_000), added: new Date() });
    const err = await rejection(client.fetch(server.url()));
    expect(err.code).toBe('ERR_CERT_MISMATCH');
    expect(server.requests.length).toBe(2); // refused before any request byte
  });
});

describe('SecureContext cache', () => {
  it('keeps TLS versions apart within one client', async () => {
    const server = await serve();
    const client = new Client(INSECURE_OPTIONS);
    expect((await client.fetch(server.url(), { maxVersion: 'TLSv1.2' })).tls.protocol).toBe('TLSv1.2');
    expect((await client.fetch(server.url())).tls.protocol).toBe('TLSv1.3');
    expect((await client.fetch(server.url(), { maxVersion: 'TLSv1.2' })).tls.protocol).toBe('TLSv1.2');
  });

  it('keeps client certificates apart within one client', async () => {
    const server = await serve({ requestCert: true, handler: requireClientCertificate() });
    const me = createCertificate({ commonName: 'me' });
    const you = createCertificate({ commonName: 'you' });
    const client = new Client({ ...INSECURE_OPTIONS, sessionResumption: false });
    expect((await client.fetch(server.url(), { cert: me.cert, key: me.key })).text()).toBe(me.fingerprint);
    expect((await client.fetch(server.url(), { cert: you.cert, key: you.key })).text()).toBe(you.fingerprint);
    expect((await client.fetch(server.url())).status).toBe(60);
    expect((await client.fetch(server.url(), { cert: me.cert, key: me.key })).text()).toBe(me.fingerprint);
  });

  it('never resumes a session when resumption is off, though the context is shared', async () => {
    const server = await serve();
    const client = new Client({ ...INSECURE_OPTIONS, sessionResumption: false });
    for (let i = 0; i < 3; i++) {
      expect((await client.fetch(server.url())).tls.resumed).toBe(false);
      await sleep(10); // TLS 1.3 tickets arrive after the handshake
    }
  });

  it('rejects unusable TLS options with ERR_INVALID_OPTION, before connecting', async () => {
    const server = await serve();
    const client = new Client(INSECURE_OPTIONS);
    const err = await rejection(client.fetch(server.url(), { cert: 'not a PEM', key: 'not a PEM' }));
    expect(err.code).toBe('ERR_INVALID_OPTION');
    expect(server.connectionCount).toBe(0);
    expect((await client.fetch(server.url())).complete).toBe(true); // the client still works
  });
});

describe('bulk reads through the reused read buffer', () => {
  it('small reads queued while TLS is paused are not overwritten by the next read', async () => {
    // TLS stops reading once its buffer is full; the small records read until then were copied out of
    // the shared read buffer by TLS: each must keep its bytes although later reads reuse the buffer.
    const data = bigBodyPattern(64 * 1000);
    const server = await serve({ handler: (ctx) => dribble(ctx, data, 1, { chunkSize: 1000 }) });
    const connection = await connectTls({ host: '127.0.0.1', port: server.port, connectTimeout: 2000, handshakeTimeout: 2000 });
    perTest.defer(() => connection.destroy());
    const socket = connection.socket;
    socket.pause();
    socket.write(`${server.url()}\r\n`);
    const chunks: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      socket.on('end', resolve);
      socket.on('error', reject);
    });
    await sleep(250);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.resume();
    await ended;
    expect(connection.end).toBe('close_notify');
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('delivers a multi-megabyte body byte-exact to a consumer that keeps pausing', async () => {
    const size = 3 * 1024 * 1024 + 123;
    const server = await serve({ handler: (ctx) => bigBody(ctx, size) });
    const client = new Client(INSECURE_OPTIONS);
    const response = await client.request(server.url());
    const chunks: Buffer[] = [];
    let received = 0;
    let nextPause = 200 * 1024;
    for await (const chunk of response.body) {
      chunks.push(chunk as Buffer);
      received += (chunk as Buffer).length;
      if (received >= nextPause) {
        nextPause += 300 * 1024;
        await sleep(3); // the relay queues what TLS cannot take meanwhile
      }
    }
    const done = await response.done;
    expect(done).toMatchObject({ complete: true, termination: 'close_notify', bytes: size });
    const body = Buffer.concat(chunks);
    expect(body.length).toBe(size);
    expect(body.equals(bigBodyPattern(size))).toBe(true);
  });

  it('a paused consumer stops the TCP reads: what the process has read and holds stays bounded', async () => {
    const size = 32 * 1024 * 1024;
    const server = await serve({ handler: (ctx) => bigBody(ctx, size) });
    const connection = await connectTls({ host: '127.0.0.1', port: server.port, connectTimeout: 2000, handshakeTimeout: 2000 });
    perTest.defer(() => connection.destroy());
    const socket = connection.socket;
    socket.pause();
    socket.write(`${server.url()}\r\n`);
    await sleep(400);
    const readWhilePaused = connection.bytesReceived;
    await sleep(200);
    // Bounded (TLS's buffer plus one relay read), and it no longer grows: the rest waits in the kernel and the server.
    expect(readWhilePaused).toBeLessThan(4 * 1024 * 1024);
    expect(connection.bytesReceived).toBe(readWhilePaused);
    let received = 0;
    const ended = new Promise<void>((resolve, reject) => {
      socket.on('end', resolve);
      socket.on('error', reject);
    });
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.resume();
    await ended;
    expect(connection.end).toBe('close_notify');
    expect(received).toBe(Buffer.byteLength('20 application/octet-stream\r\n') + size);
  });

  it('delivers concurrent bulk bodies byte-exact (all connections read into one shared buffer)', async () => {
    const size = 1024 * 1024 + 7;
    const server = await serve({ handler: (ctx) => bigBody(ctx, size) });
    const client = new Client(INSECURE_OPTIONS);
    const results = await Promise.all(Array.from({ length: 4 }, () => client.fetch(server.url())));
    for (const result of results) {
      expect(result.complete).toBe(true);
      expect(result.body.equals(bigBodyPattern(size))).toBe(true);
    }
  });
});
