/**
 * The real `gemfetch tofu` commands against a real server on 127.0.0.1: a
 * changed key names the one-step fix (`tofu trust`), `tofu pin` pins a
 * fingerprint given by hand (validated), `tofu forget HOST` names the other
 * pinned ports, `tofu` alone is a proper usage error, and a first pin is told
 * on a terminal only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCertificate } from '../src/trust/selfsigned.js';
import { respondWith, routes } from './support/gemini-server.js';
import { cliFixture, ptyAvailable, runCli, runInPty, scratchDirs } from './support/cli.js';

const cli = cliFixture(routes({ '/': respondWith('20 text/plain', 'hello') }));
const scratch = scratchDirs();
const LIMITS = { timeoutMs: 30_000 };

function knownHostsIn(dir: string): string[] {
  return ['--known-hosts', path.join(dir, 'known_hosts')];
}

describe.concurrent('changed key: the suggested command is the one step that fixes it', () => {
  it('exit 9 names `gemfetch tofu trust HOST:PORT`; running it makes the next fetch succeed', async () => {
    const dir = scratch();
    const kh = knownHostsIn(dir);
    const hostPort = `127.0.0.1:${cli.server.port}`;
    const other = createCertificate({ commonName: 'someone-else' });
    fs.writeFileSync(kh[1]!, `${hostPort} ${other.fingerprint} 2099-01-01T00:00:00.000Z 2024-01-01T00:00:00.000Z\n`);
    const refused = await runCli(cli.home, [...kh, cli.server.url('/')], LIMITS);
    expect(refused.code).toBe(9);
    const suggested = /`(gemfetch tofu trust [^`]+)`/.exec(refused.stderr)?.[1];
    expect(suggested).toBe(`gemfetch tofu trust ${hostPort}`);
    expect(refused.stderr).not.toContain('tofu forget');

    const trusted = await runCli(cli.home, [...suggested!.split(' ').slice(1), ...kh], LIMITS);
    expect(trusted.code).toBe(0);
    expect(trusted.stdout.toString()).toContain(`replaced the previous pin ${other.fingerprint}`);
    const after = await runCli(cli.home, [...kh, cli.server.url('/')], LIMITS);
    expect(after.code).toBe(0);
    expect(after.stdout.toString()).toBe('hello');
  });
});

describe.concurrent('tofu pin HOST[:PORT] SHA256', () => {
  it('pins the fingerprint given (any case, colons, sha256: prefix); the fetch then matches it; the pin does not expire', async () => {
    const dir = scratch();
    const kh = knownHostsIn(dir);
    const hostPort = `127.0.0.1:${cli.server.port}`;
    const typed = `SHA256:${cli.server.cert.fingerprint.toUpperCase().match(/../g)!.join(':')}`;
    const pinned = await runCli(cli.home, ['tofu', 'pin', hostPort, typed, ...kh], LIMITS);
    expect(pinned.code).toBe(0);
    expect(pinned.stdout.toString()).toContain(`pinned ${hostPort}: public key sha256 ${cli.server.cert.fingerprint}`);
    const line = fs.readFileSync(kh[1]!, 'utf8').split('\n').find((l) => l.startsWith(`${hostPort} `));
    expect(line).toMatch(new RegExp(`^${hostPort.replace(/\./g, '\\.')} ${cli.server.cert.fingerprint} 9999-12-31T23:59:59\\.999Z `));
    const fetched = await runCli(cli.home, [...kh, '-v', cli.server.url('/')], LIMITS);
    expect(fetched.code).toBe(0);
    expect(fetched.stderr).toContain('key matches the pin');
  });

  it('a pinned fingerprint that is not the server key refuses the server (exit 9) before the request', async () => {
    const dir = scratch();
    const kh = knownHostsIn(dir);
    const other = createCertificate({ commonName: 'out-of-band' }).fingerprint;
    expect((await runCli(cli.home, ['tofu', 'pin', `127.0.0.1:${cli.server.port}`, other, ...kh], LIMITS)).code).toBe(0);
    const probe = cli.server.url('/?pinned-elsewhere');
    const r = await runCli(cli.home, [...kh, probe], LIMITS);
    expect(r.code).toBe(9);
    expect(cli.server.requests).not.toContain(probe);
  });

  it.each([
    ['xyz', 'invalid fingerprint (tofu pin): "xyz" is not the SHA-256'],
    ['a'.repeat(63), `invalid fingerprint (tofu pin): "${'a'.repeat(63)}"`],
    ['g'.repeat(64), `invalid fingerprint (tofu pin): "${'g'.repeat(64)}"`],
  ])('refuses a malformed fingerprint %s (exit 2, naming it), writing nothing', async (fingerprint, message) => {
    const dir = scratch();
    const kh = knownHostsIn(dir);
    const r = await runCli(cli.home, ['tofu', 'pin', 'example.org', fingerprint, ...kh], LIMITS);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('64 hex digits');
    expect(fs.existsSync(kh[1]!)).toBe(false);
  });

  it('needs both HOST and the fingerprint', async () => {
    for (const args of [['tofu', 'pin'], ['tofu', 'pin', 'example.org']]) {
      const r = await runCli(cli.home, [...args, ...knownHostsIn(scratch())], LIMITS);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('tofu pin needs HOST[:PORT] and the SHA-256 fingerprint');
    }
  });
});

describe.concurrent('tofu forget HOST without a port', () => {
  it('forgets HOST:1965 and names the other pinned ports of HOST', async () => {
    const dir = scratch();
    const kh = knownHostsIn(dir);
    const fp = 'ab'.repeat(32);
    for (const hostPort of ['a.example:1965', 'a.example:7000', 'aa.example:7001', 'a.example:7002']) {
      expect((await runCli(cli.home, ['tofu', 'pin', hostPort, fp, ...kh], LIMITS)).code).toBe(0);
    }
    const forgot = await runCli(cli.home, ['tofu', 'forget', 'a.example', ...kh], LIMITS);
    expect(forgot.code).toBe(0);
    expect(forgot.stderr).toContain('forgot the pinned key of a.example:1965');
    expect(forgot.stderr).toContain('a.example is also pinned on ports 7000, 7002');
    const again = await runCli(cli.home, ['tofu', 'forget', 'a.example', ...kh], LIMITS);
    expect(again.stderr).toContain('no pinned key for a.example:1965');
    expect(again.stderr).toContain('a.example is pinned on ports 7000, 7002: forget each with `gemfetch tofu forget a.example:7000`');
    // With a port, only that pin is concerned: nothing about the others.
    const withPort = await runCli(cli.home, ['tofu', 'forget', 'a.example:7000', ...kh], LIMITS);
    expect(withPort.stderr).toBe('gemfetch: forgot the pinned key of a.example:7000\n');
  });
});

describe.concurrent('tofu trust failures', () => {
  it('a host that does not speak TLS: one line in the message format, nothing pinned', async () => {
    const net = await import('node:net');
    const plainServer = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    });
    await new Promise<void>((resolve) => plainServer.listen(0, '127.0.0.1', resolve));
    try {
      const port = (plainServer.address() as import('node:net').AddressInfo).port;
      const kh = knownHostsIn(scratch());
      const r = await runCli(cli.home, ['tofu', 'trust', `127.0.0.1:${port}`, ...kh], LIMITS);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`gemfetch: cannot get the certificate (127.0.0.1:${port}): 127.0.0.1:${port} did not answer with TLS (wrong version number).\n`);
      expect(fs.existsSync(kh[1]!)).toBe(false);
    } finally {
      await new Promise<void>((resolve) => plainServer.close(() => resolve()));
    }
  });
});

describe.concurrent('tofu usage errors', () => {
  it('`gemfetch tofu` alone lists the actions, not yargs wording', async () => {
    const r = await runCli(cli.home, ['tofu'], LIMITS);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('tofu needs an action: list, check, forget HOST[:PORT], trust HOST[:PORT] or pin HOST[:PORT] SHA256');
    expect(r.stderr).not.toContain('non-option arguments');
    expect(r.stderr).toContain("Try 'gemfetch tofu --help'.");
  });
});

describe.skipIf(!ptyAvailable())('first pin told on a terminal (as ssh does)', () => {
  it('says so on stderr when stderr is a terminal, once; not when stderr is a pipe', async () => {
    const home = scratch();
    const hostPort = `127.0.0.1:${cli.server.port}`;
    const first = await runInPty(home, [cli.server.url('/')], { timeoutMs: 30_000 });
    expect(first.code).toBe(0);
    expect(first.output).toContain(`note: first visit to ${hostPort}: its key (sha256 ${cli.server.cert.fingerprint}) is now pinned in ${path.join(home, 'gemfetch', 'known_hosts')}`);
    const second = await runInPty(home, [cli.server.url('/')], { timeoutMs: 30_000 });
    expect(second.code).toBe(0);
    expect(second.output).not.toContain('first visit');

    const piped = await runCli(scratch(), [cli.server.url('/')], LIMITS);
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
    const quiet = await runInPty(scratch(), ['-q', cli.server.url('/')], { timeoutMs: 30_000 });
    expect(quiet.output).not.toContain('first visit');
  });
});
