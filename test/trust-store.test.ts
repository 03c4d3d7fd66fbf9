/**
 * The library's trust stores: the TrustStore interface a Client accepts, the
 * in-memory store (same TOFU policy as the known-hosts file, nothing written
 * to disk, bounded), and a custom store, against real servers on 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Client } from '../src/net/client.js';
import { CertificateError, InvalidOptionError, KnownHostsError } from '../src/errors.js';
import * as pkg from '../src/index.js';
import { MemoryTrustStore } from '../src/trust/memory-store.js';
import { KnownHostsStore } from '../src/trust/tofu.js';
import { decideTrust, type PresentedCertificate, type TrustDecision, type TrustStore } from '../src/trust/trust-store.js';
import { createCertificate } from '../src/trust/selfsigned.js';
import { respondWith, type GeminiHandler } from './support/gemini-server.js';
import { perTestCleanup, rejection, TEST_LIMITS } from './support/harness.js';

const perTest = perTestCleanup();
const FP_A = 'a'.repeat(64);
const FP_B = 'b'.repeat(64);
const NOW = new Date('2030-06-01T00:00:00.000Z');
const LATER = new Date('2031-01-01T00:00:00.000Z');
const cert = (fingerprint: string, expires = LATER, caVerified = false): PresentedCertificate => ({ fingerprint, expires, caVerified });

/** A server that records the requests it receives. */
async function recordingServer(requests: string[]) {
  const handler: GeminiHandler = (ctx) => {
    requests.push(ctx.request);
    return respondWith('20 text/plain', 'hello')(ctx);
  };
  return perTest.serve(handler);
}

describe('decideTrust (the shared TOFU policy, pure)', () => {
  it('first use, match, renewed expiry, expired re-pin, CA re-pin, mismatch', () => {
    const pin = { hostPort: 'h:1965', fingerprint: FP_A, expires: LATER, added: NOW };
    expect(decideTrust('h:1965', undefined, cert(FP_A), NOW)).toEqual({ decision: 'first-use', write: { ...pin } });
    expect(decideTrust('h:1965', pin, cert(FP_A), NOW)).toEqual({ decision: 'match' });
    const renewed = new Date('2032-01-01T00:00:00.000Z');
    expect(decideTrust('h:1965', pin, cert(FP_A, renewed), NOW).write?.expires).toEqual(renewed);
    expect(decideTrust('h:1965', pin, cert(FP_B), new Date('2031-02-01T00:00:00.000Z')).decision).toBe('repinned-expired');
    expect(decideTrust('h:1965', pin, cert(FP_B, LATER, true), NOW).decision).toBe('repinned-ca');
    expect(() => decideTrust('h:1965', pin, cert(FP_B), NOW)).toThrow(CertificateError);
    expect(() => decideTrust('h:1965', pin, cert(FP_B), NOW)).toThrow(/gemfetch tofu trust h:1965/);
  });
});

describe('MemoryTrustStore', () => {
  it('applies the TOFU policy and manages its pins', async () => {
    const store = new MemoryTrustStore();
    expect(store.path).toBeUndefined();
    expect(await store.verify('h:1965', cert(FP_A), NOW)).toBe('first-use');
    expect(await store.verify('h:1965', cert(FP_A.toUpperCase()), NOW)).toBe('match');
    const err = await store.verify('h:1965', cert(FP_B), NOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertificateError);
    expect((err as CertificateError).code).toBe('ERR_CERT_MISMATCH');
    expect((await store.get('h:1965'))?.fingerprint).toBe(FP_A);
    await store.pin({ hostPort: 'h:1965', fingerprint: FP_B, expires: LATER, added: NOW });
    expect(await store.verify('h:1965', cert(FP_B), NOW)).toBe('match');
    expect((await store.list()).map((p) => p.hostPort)).toEqual(['h:1965']);
    expect(await store.forget('h:1965')).toBe(true);
    expect(await store.forget('h:1965')).toBe(false);
    expect(await store.verify('h:1965', cert(FP_B), NOW)).toBe('first-use');
  });

  it('starts from given pins; refuses malformed pins and options', async () => {
    const store = new MemoryTrustStore({ pins: [{ hostPort: 'h:1965', fingerprint: FP_A.toUpperCase(), expires: LATER, added: NOW }] });
    expect(await store.verify('h:1965', cert(FP_A), NOW)).toBe('match');
    expect(() => new MemoryTrustStore({ pins: [{ hostPort: 'h:1965', fingerprint: 'xyz', expires: LATER, added: NOW }] })).toThrow(InvalidOptionError);
    expect(() => new MemoryTrustStore({ maxPins: 0 })).toThrow(InvalidOptionError);
    await expect(store.pin({ hostPort: 'has space', fingerprint: FP_A, expires: LATER, added: NOW })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(store.verify('h:1965', cert('zz'), NOW)).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('is bounded: when full, a new host is refused (ERR_KNOWN_HOSTS) and no pin is dropped', async () => {
    const store = new MemoryTrustStore({ maxPins: 2 });
    expect(await store.verify('a:1965', cert(FP_A), NOW)).toBe('first-use');
    expect(await store.verify('b:1965', cert(FP_A), NOW)).toBe('first-use');
    const err = await store.verify('c:1965', cert(FP_A), NOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KnownHostsError);
    expect((err as KnownHostsError).code).toBe('ERR_KNOWN_HOSTS');
    expect((err as Error).message).toContain('full (2 pins)');
    expect((await store.list()).map((p) => p.hostPort)).toEqual(['a:1965', 'b:1965']);
    // Known hosts still pass, and a replaced pin does not need room.
    expect(await store.verify('a:1965', cert(FP_A), NOW)).toBe('match');
    await store.pin({ hostPort: 'b:1965', fingerprint: FP_B, expires: LATER, added: NOW });
  });

  it('records nothing for a request that gave up (aborted signal)', async () => {
    const store = new MemoryTrustStore();
    const controller = new AbortController();
    controller.abort();
    await expect(store.verify('h:1965', cert(FP_A), NOW, { signal: controller.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(await store.list()).toEqual([]);
  });

  it('with a Client and a real server: pins in memory, refuses a changed key before the request, writes no file', async () => {
    const home = await mkdtemp(join(tmpdir(), 'gemfetch-memory-store-'));
    const savedXdg = process.env.XDG_DATA_HOME;
    process.env.XDG_DATA_HOME = home; // where the default store would write
    try {
      const requests: string[] = [];
      const server = await recordingServer(requests);
      const store = new MemoryTrustStore();
      const client = new Client({ ...TEST_LIMITS, knownHosts: store });
      const first = await client.fetch(server.url('/one'));
      expect(first.tls.trust).toBe('first-use');
      expect((await store.get(`127.0.0.1:${server.port}`))?.fingerprint).toBe(server.cert.fingerprint);
      expect((await client.fetch(server.url('/two'))).tls.trust).toBe('match');

      const other = new MemoryTrustStore({ pins: [{ hostPort: `127.0.0.1:${server.port}`, fingerprint: createCertificate({ commonName: 'x' }).fingerprint, expires: LATER, added: NOW }] });
      const err = await rejection(new Client({ ...TEST_LIMITS, knownHosts: other }).fetch(server.url('/refused')));
      expect(err.code).toBe('ERR_CERT_MISMATCH');
      expect(requests.some((r) => r.includes('/refused'))).toBe(false);
      expect(await readdir(home)).toEqual([]);
      expect(existsSync(join(home, 'gemfetch'))).toBe(false);
    } finally {
      if (savedXdg === undefined) delete process.env.XDG_DATA_HOME;
      else process.env.XDG_DATA_HOME = savedXdg;
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('a custom TrustStore', () => {
  /** An allow-list: only the fingerprints given pass, nothing is recorded. */
  class AllowList implements TrustStore {
    readonly calls: Array<{ hostPort: string; fingerprint: string }> = [];
    constructor(private readonly allowed: Set<string>) {}
    async verify(hostPort: string, presented: PresentedCertificate): Promise<TrustDecision> {
      this.calls.push({ hostPort, fingerprint: presented.fingerprint });
      if (this.allowed.has(presented.fingerprint)) return 'match';
      throw new CertificateError('ERR_CERT_MISMATCH', `${hostPort} is not on the allow-list`, { hostPort, actualFingerprint: presented.fingerprint });
    }
  }

  it('is consulted with host:port and the SPKI fingerprint; its refusal stops the request before it is sent', async () => {
    const requests: string[] = [];
    const server = await recordingServer(requests);
    const allowed = new AllowList(new Set([server.cert.fingerprint]));
    const ok = await new Client({ ...TEST_LIMITS, knownHosts: allowed }).fetch(server.url('/allowed'));
    expect(ok.tls.trust).toBe('match');
    expect(allowed.calls).toEqual([{ hostPort: `127.0.0.1:${server.port}`, fingerprint: server.cert.fingerprint }]);

    const denied = new AllowList(new Set());
    const err = await rejection(new Client({ ...TEST_LIMITS }).fetch(server.url('/denied'), { knownHosts: denied }));
    expect(err.code).toBe('ERR_CERT_MISMATCH');
    expect(err.message).toContain('not on the allow-list');
    expect(requests.some((r) => r.includes('/denied'))).toBe(false);
  });

  it('an answer that is not a trust decision refuses the certificate (fail closed)', async () => {
    const requests: string[] = [];
    const server = await recordingServer(requests);
    const sloppy = { verify: async () => 'yes' as unknown as TrustDecision };
    const err = await rejection(new Client({ ...TEST_LIMITS, knownHosts: sloppy }).fetch(server.url('/sloppy')));
    expect(err.code).toBe('ERR_CERT_UNTRUSTED');
    expect(err.message).toContain('the trust store answered "yes"');
    expect(requests.some((r) => r.includes('/sloppy'))).toBe(false);
  });

  it('an object without verify() is refused as an option, naming it', () => {
    expect(() => new Client({ knownHosts: {} as unknown as TrustStore })).toThrow(InvalidOptionError);
    expect(() => new Client({ knownHosts: {} as unknown as TrustStore })).toThrow(/knownHosts/);
  });

  it('the package exports MemoryTrustStore and decideTrust', () => {
    expect(pkg.MemoryTrustStore).toBe(MemoryTrustStore);
    expect(pkg.decideTrust).toBe(decideTrust);
  });
});

describe('pins are keyed as the client looks them up (found by review)', () => {
  it('a FIFO in place of the known-hosts file is refused at once naming it (the open blocked forever)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gemfetch-kh-fifo-'));
    try {
      const path = join(dir, 'known_hosts');
      execFileSync('mkfifo', [path]);
      const within = <T>(p: Promise<T>): Promise<T> =>
        Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('still waiting after 10 s: the open blocked on the FIFO')), 10_000))]);
      await expect(within(new KnownHostsStore(path).list())).rejects.toThrow(path);
      await expect(within(new KnownHostsStore(path).get('example.org:1965'))).rejects.toThrow('not a regular file');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a pin written Example.ORG:1965, example.org or with a Unicode host is stored under the client key; a non-host:port is refused', async () => {
    const store = new MemoryTrustStore({ pins: [{ hostPort: 'Example.ORG', fingerprint: FP_A, expires: LATER, added: NOW }] });
    await store.pin({ hostPort: 'bücher.de:1965', fingerprint: FP_A, expires: LATER, added: NOW });
    expect((await store.list()).map((p) => p.hostPort)).toEqual(['example.org:1965', 'xn--bcher-kva.de:1965']);
    // The key the client verifies with: the pin given out of band holds, a changed key is refused.
    await expect(store.verify('example.org:1965', cert(FP_B), NOW)).rejects.toMatchObject({ code: 'ERR_CERT_MISMATCH' });
    expect(await store.verify('xn--bcher-kva.de:1965', cert(FP_A), NOW)).toBe('match');
    expect((await store.get('EXAMPLE.org:1965'))?.fingerprint).toBe(FP_A);
    for (const bad of ['::1:1965', 'a:b:c', 'example.org:99999', 'example.org/path', '']) {
      await expect(store.pin({ hostPort: bad, fingerprint: FP_A, expires: LATER, added: NOW }), bad).rejects.toBeInstanceOf(InvalidOptionError);
    }
    expect(await store.forget('Example.org')).toBe(true);
  });

  it('the known-hosts file store too: a pin under another spelling of the host protects it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gemfetch-kh-spelling-'));
    try {
      const file = new KnownHostsStore(join(dir, 'known_hosts'));
      await file.pin({ hostPort: 'Example.ORG', fingerprint: FP_A, expires: LATER, added: NOW });
      expect((await file.get('example.org:1965'))?.fingerprint).toBe(FP_A);
      await expect(file.verify('example.org:1965', cert(FP_B), NOW)).rejects.toMatchObject({ code: 'ERR_CERT_MISMATCH' });
      await expect(file.pin({ hostPort: 'a:b:c', fingerprint: FP_A, expires: LATER, added: NOW })).rejects.toBeInstanceOf(InvalidOptionError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('with a Client and a real server: a pin written 127.0.0.1:0PORT refuses a changed key before the request', async () => {
    const requests: string[] = [];
    const server = await recordingServer(requests);
    const other = createCertificate({ commonName: 'x' }).fingerprint;
    const store = new MemoryTrustStore({ pins: [{ hostPort: `127.0.0.1:0${server.port}`, fingerprint: other, expires: LATER, added: NOW }] });
    const err = await rejection(new Client({ ...TEST_LIMITS, knownHosts: store }).fetch(server.url('/spelled')));
    expect(err.code).toBe('ERR_CERT_MISMATCH');
    expect(requests.some((r) => r.includes('/spelled'))).toBe(false);
  });
});
