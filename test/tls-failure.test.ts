/**
 * TLS failures in words (src/net/tls-failure.ts): the pure translation of
 * OpenSSL reasons, then the library's ERR_TLS and the CLI's message against
 * real plain-TCP servers on 127.0.0.1 (an HTTP-like server, one that resets).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../src/net/client.js';
import { describeTlsFailure, openSslReason, tlsFailureReason } from '../src/net/tls-failure.js';
import { INSECURE_OPTIONS, rejection } from './support/harness.js';
import { requireBuild, runCli, scratchDirs } from './support/cli.js';

const DUMP =
  '80DC1E2A4B7F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n';

describe('tlsFailureReason (pure)', () => {
  it("reads Node's reason field, else the reason inside an OpenSSL dump", () => {
    expect(openSslReason(Object.assign(new Error(DUMP), { reason: 'wrong version number' }))).toBe('wrong version number');
    expect(openSslReason(new Error(DUMP))).toBe('wrong version number');
    expect(openSslReason(new Error('read ECONNRESET'))).toBeUndefined();
    expect(openSslReason(undefined)).toBeUndefined();
  });

  it.each([
    ['wrong version number', 'did not answer with TLS (wrong version number)'],
    ['packet length too long', 'did not answer with TLS (packet length too long)'],
    ['unsupported protocol', 'offers no TLS version gemfetch accepts (unsupported protocol)'],
    ['sslv3 alert handshake failure', 'refused the TLS handshake: no cipher or key type in common (sslv3 alert handshake failure)'],
    ['tlsv13 alert certificate required', 'refused the TLS handshake over the client certificate (tlsv13 alert certificate required)'],
    ['tlsv1 unrecognized name', 'does not serve this host name (tlsv1 unrecognized name)'],
    ['decryption failed or bad record mac', 'sent a corrupted TLS record (decryption failed or bad record mac)'],
    ['some new reason', 'failed the TLS handshake (some new reason)'],
  ])('%s', (reason, words) => {
    expect(tlsFailureReason(Object.assign(new Error('x'), { reason }))).toBe(words);
  });

  it('never returns an OpenSSL dump or more than one line', () => {
    for (const err of [new Error(DUMP), new Error(`${DUMP}${DUMP}`), new Error('line one\nline two')]) {
      const words = tlsFailureReason(err);
      expect(words).not.toMatch(/[0-9A-F]{8,}:error:|deps\/openssl|\n/);
    }
    expect(tlsFailureReason(new Error('line one\nline two'))).toBe('failed the TLS handshake (line one)');
  });

  it('a reset, and a failure after the handshake, in words', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(tlsFailureReason(reset)).toBe('reset the connection during the TLS handshake');
    expect(tlsFailureReason(reset, 'stream')).toBe('reset the connection');
    expect(tlsFailureReason(Object.assign(new Error('x'), { reason: 'odd thing' }), 'stream')).toBe('broke off TLS (odd thing)');
    expect(describeTlsFailure('127.0.0.1:7080', new Error(DUMP))).toBe('127.0.0.1:7080 did not answer with TLS (wrong version number)');
  });
});

/** A plain-TCP server: answers anything with an HTTP error (as a web server on the wrong port would), or resets. */
async function plainServer(mode: 'http' | 'reset'): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', () => {
      if (mode === 'reset') socket.resetAndDestroy();
      else socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('against a real server that does not speak TLS', () => {
  const scratch = scratchDirs();
  let http: Awaited<ReturnType<typeof plainServer>>;
  let reset: Awaited<ReturnType<typeof plainServer>>;
  beforeAll(async () => {
    http = await plainServer('http');
    reset = await plainServer('reset');
  });
  afterAll(async () => {
    await http?.close();
    await reset?.close();
  });

  it('the library rejects with ERR_TLS saying so in words, the OpenSSL error kept as cause', async () => {
    const err = await rejection(new Client().fetch(`gemini://127.0.0.1:${http.port}/`, INSECURE_OPTIONS));
    expect(err.code).toBe('ERR_TLS');
    expect(err.message).toBe(`127.0.0.1:${http.port} did not answer with TLS (wrong version number)`);
    expect((err.cause as { reason?: string }).reason).toBe('wrong version number');
  });

  it('a reset during the handshake is ERR_TLS in words too', async () => {
    const err = await rejection(new Client().fetch(`gemini://127.0.0.1:${reset.port}/`, INSECURE_OPTIONS));
    expect(err.code).toBe('ERR_TLS');
    expect(err.message).toBe(`127.0.0.1:${reset.port} reset the connection during the TLS handshake`);
  });

  it('the CLI says it in one line, exit 1, without an OpenSSL dump', async () => {
    requireBuild();
    const r = await runCli(scratch(), [`gemini://127.0.0.1:${http.port}/`], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`127.0.0.1:${http.port} did not answer with TLS (wrong version number)`);
    expect(r.stderr).not.toMatch(/SSL routines|deps\/openssl|:error:/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
