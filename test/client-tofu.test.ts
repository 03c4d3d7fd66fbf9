/**
 * Trust through the client over real loopback sockets: TOFU pinning per
 * host:port (first use, match, mismatch refused before any request byte,
 * expiry, CA-validated re-pin), a damaged known-hosts file refused, no pin
 * left by a request that gave up, CA mode and insecure mode.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { Client } from '../src/net/client.js';
import { CertificateError, TimeoutError } from '../src/errors.js';
import { createCertificate, type GeneratedCertificate } from '../src/trust/selfsigned.js';
import { KnownHostsStore } from '../src/trust/tofu.js';
import { defaultServerCertificate, respondWith, type GeminiHandler, type GeminiTestServer, type GeminiTestServerOptions } from './support/gemini-server.js';
import { runCli, requireBuild } from './support/cli.js';
import { connectionsClosed, perTestCleanup, rejection, TEST_LIMITS } from './support/harness.js';

const perTest = perTestCleanup();
let knownHosts: string;
beforeEach(async () => {
  knownHosts = await perTest.tempKnownHosts('gemfetch-client-tofu-');
});

/** A server answering `run N` on its Nth request; closed after the test. */
function serve(options: Omit<GeminiTestServerOptions, 'handler'> = {}): Promise<GeminiTestServer> {
  let handlerRuns = 0;
  const countRuns: GeminiHandler = (ctx) => {
    handlerRuns++;
    return respondWith('20 text/plain', `run ${handlerRuns}`)(ctx);
  };
  return perTest.serve(countRuns, options);
}

const tofuClient = (): Client => new Client({ ...TEST_LIMITS, knownHosts });

const hostPort = (server: GeminiTestServer): string => `127.0.0.1:${server.port}`;
const inOneYear = (): Date => new Date(Date.now() + 365 * 86400_000);
const OTHER_FP = 'ab'.repeat(32);

/** A test CA and a leaf it signed for 127.0.0.1 and localhost. */
function caAndLeaf(names: { dnsNames?: string[]; ipAddresses?: string[] } = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }): {
  ca: GeneratedCertificate;
  leaf: GeneratedCertificate;
} {
  const ca = createCertificate({ commonName: 'gemfetch test CA', isCA: true });
  const leaf = createCertificate({ commonName: 'localhost', ...names, issuer: { cert: ca.cert, key: ca.key } });
  return { ca, leaf };
}

describe('TOFU', () => {
  it('pins on first use (file written) and passes the same key (match)', async () => {
    const server = await serve();
    const client = tofuClient();
    expect(existsSync(knownHosts)).toBe(false);
    const first = await client.fetch(server.url());
    expect(first.tls.trust).toBe('first-use');
    expect(first.tls.fingerprint).toBe(server.cert.fingerprint);
    const file = await readFile(knownHosts, 'utf8');
    expect(file).toMatch(new RegExp(`^${hostPort(server).replace(/\./g, '\\.')} ${server.cert.fingerprint} `, 'm'));
    const second = await client.fetch(server.url(), { sessionResumption: false });
    expect(second.tls.trust).toBe('match');
    const other = await new Client({ ...TEST_LIMITS, knownHosts }).fetch(server.url()); // a fresh client reads the file
    expect(other.tls.trust).toBe('match');
    expect(other.text()).toBe('run 3');
  });

  it('refuses a changed key before expiry, before any request byte is sent, naming both fingerprints', async () => {
    const server = await serve();
    const pinnedExpiry = inOneYear();
    await new KnownHostsStore(knownHosts).pin({ hostPort: hostPort(server), fingerprint: OTHER_FP, expires: pinnedExpiry, added: new Date() });
    const err = await rejection(tofuClient().fetch(server.url()));
    expect(err.code).toBe('ERR_CERT_MISMATCH');
    expect(err).toBeInstanceOf(CertificateError);
    const mismatch = err as CertificateError;
    expect(mismatch.hostPort).toBe(hostPort(server));
    expect(mismatch.expectedFingerprint).toBe(OTHER_FP);
    expect(mismatch.actualFingerprint).toBe(server.cert.fingerprint);
    expect(err.message).toContain(OTHER_FP);
    expect(err.message).toContain(server.cert.fingerprint);
    await connectionsClosed(server);
    expect(server.connectionCount).toBe(1);
    expect(server.requests).toEqual([]); // not one byte of the request reached the server
    expect((await new KnownHostsStore(knownHosts).get(hostPort(server)))?.fingerprint).toBe(OTHER_FP); // pin untouched
  });

  it('replaces an expired pin (repinned-expired)', async () => {
    const server = await serve();
    await new KnownHostsStore(knownHosts).pin({
      hostPort: hostPort(server),
      fingerprint: OTHER_FP,
      expires: new Date(Date.now() - 86400_000),
      added: new Date(Date.now() - 400 * 86400_000),
    });
    const res = await tofuClient().fetch(server.url());
    expect(res.tls.trust).toBe('repinned-expired');
    expect(res.complete).toBe(true);
    expect((await new KnownHostsStore(knownHosts).get(hostPort(server)))?.fingerprint).toBe(server.cert.fingerprint);
  });

  it('re-pins a new key that validates against a CA given with `ca` (repinned-ca)', async () => {
    const { ca, leaf } = caAndLeaf();
    const server = await serve({ cert: leaf });
    await new KnownHostsStore(knownHosts).pin({ hostPort: hostPort(server), fingerprint: OTHER_FP, expires: inOneYear(), added: new Date() });
    const withoutCa = await rejection(tofuClient().fetch(server.url()));
    expect(withoutCa.code).toBe('ERR_CERT_MISMATCH');
    const res = await tofuClient().fetch(server.url(), { ca: ca.cert });
    expect(res.tls.trust).toBe('repinned-ca');
    expect((await new KnownHostsStore(knownHosts).get(hostPort(server)))?.fingerprint).toBe(leaf.fingerprint);
    expect(server.requests).toEqual([server.url()]);
  });

  it('keys pins by host and port: two ports, two pins', async () => {
    const a = await serve();
    const b = await serve({ cert: createCertificate({ commonName: 'localhost', ipAddresses: ['127.0.0.1'] }) });
    const client = tofuClient();
    expect((await client.fetch(a.url())).tls.trust).toBe('first-use');
    expect((await client.fetch(b.url())).tls.trust).toBe('first-use');
    expect((await client.fetch(`gemini://localhost:${a.port}/`)).tls.trust).toBe('first-use'); // another host name
    const pins = await new KnownHostsStore(knownHosts).list();
    expect(pins.map((p) => [p.hostPort, p.fingerprint]).sort()).toEqual(
      [
        [hostPort(a), a.cert.fingerprint],
        [hostPort(b), b.cert.fingerprint],
        [`localhost:${a.port}`, a.cert.fingerprint],
      ].sort(),
    );
  });

  it('records the pinned certificate expiry', async () => {
    const server = await serve();
    await tofuClient().fetch(server.url());
    const pin = await new KnownHostsStore(knownHosts).get(hostPort(server));
    expect(pin?.expires.getTime()).toBe(server.cert.notAfter.getTime());
  });
});

describe('TOFU with a damaged known-hosts file (the server presents key B, the file pinned key A)', () => {
  const pinA = (server: GeminiTestServer): string => `${hostPort(server)} ${OTHER_FP} ${inOneYear().toISOString()} ${new Date().toISOString()}\n`;
  const HEADER = '# gemfetch known hosts\n';

  it.each([
    ['the last 10 bytes cut', (pin: string) => HEADER + pin.slice(0, -10), 'ERR_KNOWN_HOSTS', 2],
    ['cut inside the fingerprint', (pin: string) => HEADER + pin.slice(0, pin.indexOf(OTHER_FP) + 30), 'ERR_KNOWN_HOSTS', 2],
    ['its pin line turned to garbage', (pin: string) => `${HEADER}${pin.replace(/^[^ ]+/, '\u0000\u0000garbage')}`, 'ERR_KNOWN_HOSTS', 2],
    ['the pin line missing its trailing newline', (pin: string) => HEADER + pin.slice(0, -1), 'ERR_CERT_MISMATCH', undefined],
  ] as const)('%s: refused before any request byte, the file unchanged', async (_, damage, code, line) => {
    const server = await serve();
    await writeFile(knownHosts, damage(pinA(server)));
    const before = await readFile(knownHosts);
    const err = await rejection(tofuClient().fetch(server.url()));
    expect(err.code).toBe(code);
    if (line !== undefined) expect(err.message).toContain(`${knownHosts}:${line}:`);
    await connectionsClosed(server);
    expect(server.requests).toEqual([]);
    expect(await readFile(knownHosts)).toEqual(before);
  });

  it('CLI: exit 1 with the error naming file:line, nothing on stdout, the file unchanged', async () => {
    requireBuild();
    const server = await serve();
    const home = await perTest.tempDir('gemfetch-client-tofu-home-');
    const file = `${home}/gemfetch/known_hosts`;
    await rm(knownHosts, { force: true });
    await new KnownHostsStore(file).pin({ hostPort: hostPort(server), fingerprint: OTHER_FP, expires: inOneYear(), added: new Date() });
    const full = await readFile(file);
    await writeFile(file, full.subarray(0, full.length - 10));
    const before = await readFile(file);
    const result = await runCli(home, [server.url()]);
    expect(result.code).toBe(1);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toContain(`${file}:2:`);
    expect(result.stderr).toContain(`gemfetch tofu forget ${hostPort(server)}`);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await readFile(file)).toEqual(before);
    expect(server.requests).toEqual([]);
  });

  it('CLI: `tofu check` lists the damaged lines (exit 1), `tofu list` warns, `tofu forget` removes a damaged pin line', async () => {
    requireBuild();
    const good = `good.example:1965 ${OTHER_FP} ${inOneYear().toISOString()} ${new Date().toISOString()}\n`;
    const cut = `cut.example:1965 ${OTHER_FP.slice(0, 20)}\n`;
    await writeFile(knownHosts, `${HEADER}${good}garbage\n${cut}`);
    const kh = ['--known-hosts', knownHosts];
    const home = await perTest.tempDir('gemfetch-client-tofu-home-');

    const checked = await runCli(home, ['tofu', 'check', ...kh]);
    expect(checked.code).toBe(1);
    expect(checked.stdout.toString().split('\n')).toEqual([
      `${knownHosts}:3: line naming no host: no host is trusted on first use until it is repaired or deleted`,
      `${knownHosts}:4: pin of cut.example:1965 that cannot be read: its certificates are refused until the line is repaired or removed (gemfetch tofu forget cut.example:1965)`,
      '',
    ]);
    expect(checked.stderr).toContain('1 pin in 4 lines, 2 damaged');

    const listed = await runCli(home, ['tofu', 'list', ...kh]);
    expect(listed.code).toBe(0);
    expect(listed.stdout.toString()).toMatch(/^good\.example:1965 /);
    expect(listed.stderr).toContain('2 damaged lines');

    expect((await runCli(home, ['tofu', 'forget', 'cut.example', ...kh])).code).toBe(0);
    expect(await readFile(knownHosts, 'utf8')).toBe(`${HEADER}${good}garbage\n`);
    const after = await runCli(home, ['tofu', 'check', ...kh]);
    expect(after.code).toBe(1);
    expect(after.stdout.toString()).toBe(`${knownHosts}:3: line naming no host: no host is trusted on first use until it is repaired or deleted\n`);
    await writeFile(knownHosts, `${HEADER}${good}`);
    expect((await runCli(home, ['tofu', 'check', ...kh])).code).toBe(0);
  });

  it('CLI: a data home where no directory can be created (/proc/1) is a clear ERR_KNOWN_HOSTS, exit 1, not a spin', async () => {
    requireBuild();
    const server = await serve();
    // The kill timeout is a hang guard only (before the fix the process spun at 100% CPU forever);
    // it is shorter than the test's own timeout so a spinning child is always killed.
    const result = await runCli('/proc/1', [server.url()], { timeoutMs: 20_000 });
    expect(result.signal).toBeNull();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot create directory /proc/1/gemfetch for known-hosts file /proc/1/gemfetch/known_hosts');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(server.requests).toEqual([]);
  }, 40_000);
});

describe('CA mode', () => {
  it('refuses an untrusted self-signed certificate with ERR_CERT_UNTRUSTED before sending the request', async () => {
    const server = await serve();
    const err = await rejection(new Client({ ...TEST_LIMITS, trust: 'ca' }).fetch(server.url()));
    expect(err.code).toBe('ERR_CERT_UNTRUSTED');
    expect((err as CertificateError).actualFingerprint).toBe(server.cert.fingerprint);
    await connectionsClosed(server);
    expect(server.requests).toEqual([]);
  });

  it('accepts a leaf signed by a CA given with `ca`, for 127.0.0.1 and for localhost', async () => {
    const { ca, leaf } = caAndLeaf();
    const server = await serve({ cert: leaf });
    const client = new Client({ ...TEST_LIMITS, trust: 'ca', ca: ca.cert });
    const byIp = await client.fetch(server.url());
    expect(byIp.tls.trust).toBe('ca');
    expect(byIp.complete).toBe(true);
    const byName = await client.fetch(`gemini://localhost:${server.port}/`);
    expect(byName.tls.trust).toBe('ca');
    expect(byName.tls.certificate.issuer).toBe('gemfetch test CA');
    expect(existsSync(knownHosts)).toBe(false);
  });

  it('refuses a CA-signed leaf issued for another name', async () => {
    const { ca, leaf } = caAndLeaf({ dnsNames: ['other.example'] });
    const server = await serve({ cert: leaf });
    const err = await rejection(new Client({ ...TEST_LIMITS, trust: 'ca', ca: ca.cert }).fetch(`gemini://localhost:${server.port}/`));
    expect(err.code).toBe('ERR_CERT_UNTRUSTED');
    expect(server.requests).toEqual([]);
  });
});

describe('session resumption and trust', () => {
  it('a resumed session does not turn a failed CA check into a pass', async () => {
    const { ca, leaf } = caAndLeaf({ dnsNames: ['other.example'] });
    const server = await serve({ cert: leaf });
    const client = new Client({ ...TEST_LIMITS, knownHosts, ca: ca.cert });
    const url = `gemini://localhost:${server.port}/`;
    const first = await client.fetch(url); // TOFU accepts it; the chain is valid but the name is not
    expect(first.tls.trust).toBe('first-use');
    await sleep(20); // let the TLS 1.3 ticket arrive
    const err = await rejection(client.fetch(url, { trust: 'ca' }));
    expect(err.code).toBe('ERR_CERT_UNTRUSTED');
    const again = await client.fetch(url);
    expect(again.tls.resumed).toBe(true); // resumption was possible all along
    expect(again.tls.trust).toBe('match');
  });

  it('a resumed session is checked against the current pin', async () => {
    const server = await serve();
    const client = tofuClient();
    expect((await client.fetch(server.url())).tls.trust).toBe('first-use');
    await sleep(20);
    await new KnownHostsStore(knownHosts).pin({ hostPort: hostPort(server), fingerprint: OTHER_FP, expires: inOneYear(), added: new Date() });
    const err = await rejection(client.fetch(server.url()));
    expect(err.code).toBe('ERR_CERT_MISMATCH');
    expect((err as CertificateError).actualFingerprint).toBe(server.cert.fingerprint);
  });
});

describe('insecure mode', () => {
  it('accepts anything, reports the fingerprint, and writes no pin', async () => {
    const server = await serve({ cert: createCertificate({ commonName: 'expired', notBefore: new Date(Date.now() - 3 * 86400_000), notAfter: new Date(Date.now() - 86400_000) }) });
    await new KnownHostsStore(knownHosts).pin({ hostPort: hostPort(server), fingerprint: OTHER_FP, expires: inOneYear(), added: new Date() });
    const before = await readFile(knownHosts, 'utf8');
    const res = await new Client({ ...TEST_LIMITS, knownHosts, trust: 'insecure' }).fetch(server.url());
    expect(res.tls.trust).toBe('insecure');
    expect(res.tls.fingerprint).toBe(server.cert.fingerprint);
    expect(res.complete).toBe(true);
    expect(await readFile(knownHosts, 'utf8')).toBe(before);
  });
});

describe('trust check under the request limits', () => {
  it('a trust check stuck on the known-hosts lock is bounded by totalTimeout and by the signal, sending nothing', async () => {
    const server = await serve();
    // Someone else holds the lock (fresh, so not stale): a first-use pin must wait for it.
    await writeFile(`${knownHosts}.lock`, '');
    const store = new KnownHostsStore(knownHosts, { lockTimeoutMs: 1000, lockStaleMs: 60_000 });
    const client = new Client({ ...TEST_LIMITS, knownHosts: store });

    const timedOut = await rejection(client.fetch(server.url(), { totalTimeout: 150 }));
    expect(timedOut.code).toBe('ERR_TIMEOUT');
    expect((timedOut as TimeoutError).phase).toBe('total');

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const aborted = await rejection(client.fetch(server.url(), { signal: controller.signal }));
    expect(aborted.code).toBe('ERR_ABORTED');

    expect(server.requests).toEqual([]); // refused before any request byte
    await connectionsClosed(server);
  });
});

describe('a request that gave up on its trust check leaves no pin', () => {
  it.each(['totalTimeout', 'signal'] as const)('given up by %s while the lock was held: once the lock is free, no pin is written', async (how) => {
    const server = await serve();
    await writeFile(`${knownHosts}.lock`, ''); // held by someone else (fresh, so not stale)
    const store = new KnownHostsStore(knownHosts, { lockTimeoutMs: 30_000, lockStaleMs: 60_000 });
    const client = new Client({ ...TEST_LIMITS, knownHosts: store });
    const controller = new AbortController();
    const fetching = client.fetch(server.url(), how === 'signal' ? { signal: controller.signal } : { totalTimeout: 150 });
    if (how === 'signal') setTimeout(() => controller.abort(), 50);
    const err = await rejection(fetching);
    expect(err.code).toBe(how === 'signal' ? 'ERR_ABORTED' : 'ERR_TIMEOUT');
    await rm(`${knownHosts}.lock`);
    // The store runs its writes in order: once this later pin is written, the abandoned check has ended.
    await store.pin({ hostPort: 'other.example:1965', fingerprint: OTHER_FP, expires: inOneYear(), added: new Date() });
    const text = await readFile(knownHosts, 'utf8');
    expect(text).toContain('other.example:1965 ');
    expect(text).not.toContain(hostPort(server));
    expect(server.requests).toEqual([]);
  });
});

describe('a server that closes the connection while the trust check runs', () => {
  it.each([
    ['TLSv1.2', 'end'],
    ['TLSv1.3', 'end'],
    ['TLSv1.3', 'destroy'],
  ] as const)('%s, %s() right after the handshake: ERR_CONNECTION_CLOSED at once, never a TypeError or a wait', async (version, how) => {
    const { cert, key } = defaultServerCertificate();
    const server = tls.createServer({ cert, key, minVersion: version, maxVersion: version }, (socket) => {
      socket.on('error', () => {});
      if (how === 'end') socket.end();
      else socket.destroy();
    });
    // Node's TLS server sometimes keeps a socket after the client has closed it: close it ourselves.
    const sockets = new Set<Socket>();
    server.on('connection', (raw) => sockets.add(raw));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    perTest.defer(() => {
      for (const raw of sockets) raw.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const url = `gemini://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    // No header timeout: a request that missed the close would wait until the test times out.
    const client = new Client({ ...TEST_LIMITS, knownHosts, minVersion: version, maxVersion: version, headerTimeout: Infinity, totalTimeout: Infinity });
    for (let i = 0; i < 5; i++) {
      const err = await rejection(client.request(url));
      expect(['ERR_CONNECTION_CLOSED', 'ERR_TLS']).toContain(err.code);
    }
  });
});
