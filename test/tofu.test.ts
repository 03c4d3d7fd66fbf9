import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateError, InvalidOptionError, KnownHostsError } from '../src/errors.js';
import {
  KnownHostsStore,
  defaultKnownHostsPath,
  publicKeyFingerprint,
  type KnownHost,
  type PresentedCertificate,
} from '../src/trust/tofu.js';

const execFileP = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const FP_A = 'a'.repeat(64);
const FP_B = 'b'.repeat(64);
const NOW = new Date('2030-06-01T00:00:00.000Z');
const LATER = new Date('2031-01-01T00:00:00.000Z');
const EARLIER = new Date('2030-01-01T00:00:00.000Z');

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gemfetch-tofu-'));
  file = join(dir, 'data', 'gemfetch', 'known_hosts');
});
afterEach(async () => {
  await chmod(dir, 0o700).catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

function cert(fingerprint: string, expires: Date, caVerified = false): PresentedCertificate {
  return { fingerprint, expires, caVerified };
}

/** Parses the raw file the way a reader would, failing on any malformed entry line. */
function parseRaw(text: string): KnownHost[] {
  expect(text.endsWith('\n')).toBe(true);
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [hostPort, fingerprint, expires, added, extra] = l.split(' ');
      expect(extra).toBeUndefined();
      expect(fingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(Number.isFinite(Date.parse(expires!))).toBe(true);
      expect(Number.isFinite(Date.parse(added!))).toBe(true);
      return { hostPort: hostPort!, fingerprint: fingerprint!, expires: new Date(expires!), added: new Date(added!) };
    });
}

async function leftovers(): Promise<string[]> {
  return (await readdir(dirname(file))).filter((n) => n !== 'known_hosts');
}

describe('verify (TOFU decisions)', () => {
  it('pins on first use and writes the entry with mode 0600 in a 0700 directory', async () => {
    const store = new KnownHostsStore(file);
    expect(await store.get('example.org:1965')).toBeUndefined();
    expect(await store.verify('example.org:1965', cert(FP_A, LATER), NOW)).toBe('first-use');
    expect(await store.get('example.org:1965')).toEqual({
      hostPort: 'example.org:1965',
      fingerprint: FP_A,
      expires: LATER,
      added: NOW,
    });
    const text = await readFile(file, 'utf8');
    expect(text).toContain(`example.org:1965 ${FP_A} ${LATER.toISOString()} ${NOW.toISOString()}\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(file))).mode & 0o777).toBe(0o700);
    expect(await leftovers()).toEqual([]);
    // A second instance (another process) sees the pin.
    expect((await new KnownHostsStore(file).get('example.org:1965'))?.fingerprint).toBe(FP_A);
  });

  it('returns match for the same key, without writing when the expiry is not later', async () => {
    const store = new KnownHostsStore(file);
    await store.verify('example.org:1965', cert(FP_A, LATER), NOW);
    const before = await stat(file, { bigint: true });
    expect(await store.verify('example.org:1965', cert(FP_A, LATER), NOW)).toBe('match');
    expect(await store.verify('example.org:1965', cert(FP_A.toUpperCase(), EARLIER), NOW)).toBe('match');
    const after = await stat(file, { bigint: true });
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeNs).toBe(before.mtimeNs);
    expect((await store.get('example.org:1965'))?.expires).toEqual(LATER);
  });

  it('extends the pinned expiry when the same key comes with a later certificate', async () => {
    const store = new KnownHostsStore(file);
    await store.verify('example.org:1965', cert(FP_A, LATER), NOW);
    const renewed = new Date('2032-01-01T00:00:00.000Z');
    expect(await store.verify('example.org:1965', cert(FP_A, renewed), NOW)).toBe('match');
    const entry = await new KnownHostsStore(file).get('example.org:1965');
    expect(entry?.expires).toEqual(renewed);
    expect(entry?.added).toEqual(NOW);
  });

  it('refuses a different key before the pin expires, leaving the file unchanged', async () => {
    const store = new KnownHostsStore(file);
    await store.verify('example.org:1965', cert(FP_A, LATER), NOW);
    const before = await readFile(file);
    const beforeStat = await stat(file, { bigint: true });
    const err = await store.verify('example.org:1965', cert(FP_B, LATER), NOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertificateError);
    const certErr = err as CertificateError;
    expect(certErr.code).toBe('ERR_CERT_MISMATCH');
    expect(certErr.hostPort).toBe('example.org:1965');
    expect(certErr.expectedFingerprint).toBe(FP_A);
    expect(certErr.actualFingerprint).toBe(FP_B);
    expect(certErr.pinnedExpiry).toEqual(LATER);
    expect(certErr.message).toContain(FP_A);
    expect(certErr.message).toContain(FP_B);
    expect(certErr.message).toContain('example.org:1965');
    expect(certErr.message).toContain(LATER.toISOString());
    expect(certErr.message).toContain('gemfetch tofu trust example.org:1965');
    expect(certErr.message).toContain('gemfetch tofu pin example.org:1965 SHA256');
    expect(await readFile(file)).toEqual(before);
    expect((await stat(file, { bigint: true })).mtimeNs).toBe(beforeStat.mtimeNs);
    expect((await store.get('example.org:1965'))?.fingerprint).toBe(FP_A);
    expect(await leftovers()).toEqual([]);
  });

  it('re-pins a different key once the pinned certificate has expired', async () => {
    const store = new KnownHostsStore(file);
    await store.verify('example.org:1965', cert(FP_A, EARLIER), new Date('2029-01-01T00:00:00.000Z'));
    expect(await store.verify('example.org:1965', cert(FP_B, LATER), NOW)).toBe('repinned-expired');
    expect(await new KnownHostsStore(file).get('example.org:1965')).toEqual({
      hostPort: 'example.org:1965',
      fingerprint: FP_B,
      expires: LATER,
      added: NOW,
    });
    expect(parseRaw(await readFile(file, 'utf8'))).toHaveLength(1);
  });

  it('re-pins a different key that validates against a CA', async () => {
    const store = new KnownHostsStore(file);
    await store.verify('example.org:1965', cert(FP_A, LATER), NOW);
    expect(await store.verify('example.org:1965', cert(FP_B, LATER, true), NOW)).toBe('repinned-ca');
    expect((await new KnownHostsStore(file).get('example.org:1965'))?.fingerprint).toBe(FP_B);
  });

  it('pins per host and port', async () => {
    const store = new KnownHostsStore(file);
    expect(await store.verify('example.org:1965', cert(FP_A, LATER), NOW)).toBe('first-use');
    expect(await store.verify('example.org:1966', cert(FP_B, LATER), NOW)).toBe('first-use');
    expect(await store.verify('[::1]:1965', cert(FP_B, LATER), NOW)).toBe('first-use');
    expect((await store.list()).map((e) => e.hostPort)).toEqual(['example.org:1965', 'example.org:1966', '[::1]:1965']);
  });
});

describe('pin, forget, list', () => {
  it('inserts, replaces and lists entries in file order', async () => {
    const store = new KnownHostsStore(file);
    expect(await store.list()).toEqual([]);
    await store.pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW });
    await store.pin({ hostPort: 'b.example:1965', fingerprint: FP_B, expires: LATER, added: NOW });
    await store.pin({ hostPort: 'a.example:1965', fingerprint: FP_B, expires: EARLIER, added: NOW });
    const list = await store.list();
    expect(list.map((e) => [e.hostPort, e.fingerprint])).toEqual([
      ['a.example:1965', FP_B],
      ['b.example:1965', FP_B],
    ]);
    // Returned objects are copies: mutating them does not change the store.
    list[0]!.expires.setTime(0);
    expect((await store.get('a.example:1965'))?.expires).toEqual(EARLIER);
  });

  it('forgets a pin and reports whether there was one', async () => {
    const store = new KnownHostsStore(file);
    await store.pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW });
    await store.pin({ hostPort: 'b.example:1965', fingerprint: FP_B, expires: LATER, added: NOW });
    expect(await store.forget('a.example:1965')).toBe(true);
    expect(await store.forget('a.example:1965')).toBe(false);
    expect(await store.forget('never.example:1965')).toBe(false);
    expect(await new KnownHostsStore(file).get('a.example:1965')).toBeUndefined();
    expect((await store.list()).map((e) => e.hostPort)).toEqual(['b.example:1965']);
    // After forgetting, the next key is a first use again.
    expect(await store.verify('a.example:1965', cert(FP_B, LATER), NOW)).toBe('first-use');
  });

  it('hostPortsOf lists the pinned ports of one host, exactly that host, each once', async () => {
    const store = new KnownHostsStore(file);
    expect(await store.hostPortsOf('a.example')).toEqual([]);
    for (const hostPort of ['a.example:7000', 'aa.example:1965', 'a.example.org:1965', 'a.example:1965', '[::1]:1965', 'a.example:7000', '[::1]:7000']) {
      await store.pin({ hostPort, fingerprint: FP_A, expires: LATER, added: NOW });
    }
    expect(await store.hostPortsOf('a.example')).toEqual(['a.example:7000', 'a.example:1965']);
    expect(await store.hostPortsOf('[::1]')).toEqual(['[::1]:1965', '[::1]:7000']);
    expect(await store.hostPortsOf('example')).toEqual([]);
    await store.forget('a.example:7000');
    expect(await store.hostPortsOf('a.example')).toEqual(['a.example:1965']);
  });

  it('does not create the file when forgetting on an empty store', async () => {
    expect(await new KnownHostsStore(file).forget('a.example:1965')).toBe(false);
    expect(existsSync(file)).toBe(false);
  });

  it('rejects malformed entries with InvalidOptionError', async () => {
    const store = new KnownHostsStore(file);
    const bad: KnownHost[] = [
      { hostPort: 'a.example:1965', fingerprint: 'abc', expires: LATER, added: NOW },
      { hostPort: 'has space:1965', fingerprint: FP_A, expires: LATER, added: NOW },
      { hostPort: '', fingerprint: FP_A, expires: LATER, added: NOW },
      { hostPort: 'a.example:1965', fingerprint: FP_A, expires: new Date(Number.NaN), added: NOW },
    ];
    for (const entry of bad) await expect(store.pin(entry)).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(store.verify('a.example:1965', cert('zz', LATER), NOW)).rejects.toBeInstanceOf(InvalidOptionError);
    expect(existsSync(file)).toBe(false);
  });

  it('stores uppercase fingerprints in lowercase', async () => {
    const store = new KnownHostsStore(file);
    await store.pin({ hostPort: 'a.example:1965', fingerprint: 'AB'.repeat(32), expires: LATER, added: NOW });
    expect((await store.get('a.example:1965'))?.fingerprint).toBe('ab'.repeat(32));
  });
});

describe('file format', () => {
  it('reads comments, blank lines and CRLF; a rewrite copies every other line byte for byte', async () => {
    await mkdir(dirname(file), { recursive: true });
    const original =
      '# my pins\n' +
      '\n' +
      `a.example:1965 ${FP_A} ${LATER.toISOString()} ${NOW.toISOString()}\n` +
      `  # indented comment\n` +
      `d.example:1965 ${FP_B} ${LATER.toISOString()} ${NOW.toISOString()}\r\n` +
      '   \n';
    await writeFile(file, original);
    const store = new KnownHostsStore(file);
    expect((await store.list()).map((e) => e.hostPort)).toEqual(['a.example:1965', 'd.example:1965']);
    expect(await store.verify('d.example:1965', cert(FP_B, LATER), NOW)).toBe('match');
    expect(await store.verify('c.example:1965', cert(FP_A, LATER), NOW)).toBe('first-use');
    const pinC = `c.example:1965 ${FP_A} ${LATER.toISOString()} ${NOW.toISOString()}\n`;
    expect(await readFile(file, 'utf8')).toBe(original + pinC); // appended
    expect(await store.forget('a.example:1965')).toBe(true);
    const lines = original.split('\n');
    lines.splice(2, 1);
    expect(await readFile(file, 'utf8')).toBe(lines.join('\n') + pinC);
  });

  it('uses the last of duplicate entries and collapses them on rewrite', async () => {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(
      file,
      `a.example:1965 ${FP_A} ${LATER.toISOString()} ${NOW.toISOString()}\n` +
        `a.example:1965 ${FP_B} ${LATER.toISOString()} ${NOW.toISOString()}\n`,
    );
    const store = new KnownHostsStore(file);
    expect((await store.get('a.example:1965'))?.fingerprint).toBe(FP_B);
    await store.pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW });
    expect(parseRaw(await readFile(file, 'utf8'))).toEqual([
      { hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW },
    ]);
  });

  it('sees changes made by other writers and by hand (cache refreshed on change)', async () => {
    const reader = new KnownHostsStore(file);
    const writer = new KnownHostsStore(file);
    expect(await reader.get('a.example:1965')).toBeUndefined();
    await writer.pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW });
    expect((await reader.get('a.example:1965'))?.fingerprint).toBe(FP_A);
    await writeFile(file, `a.example:1965 ${FP_B} ${LATER.toISOString()} ${NOW.toISOString()}\n`);
    expect((await reader.get('a.example:1965'))?.fingerprint).toBe(FP_B);
    await rm(file);
    expect(await reader.get('a.example:1965')).toBeUndefined();
  });

  it('serves repeated reads from memory while the file is unchanged', async () => {
    const store = new KnownHostsStore(file);
    await store.pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW });
    const fixed = new Date('2020-01-01T00:00:00.000Z');
    await utimes(file, fixed, fixed);
    expect((await store.get('a.example:1965'))?.fingerprint).toBe(FP_A); // caches this version
    // Same inode, same size, same mtime: the store cannot tell, proving it did not re-read.
    await writeFile(file, (await readFile(file, 'utf8')).replace(FP_A, FP_B));
    await utimes(file, fixed, fixed);
    expect((await store.get('a.example:1965'))?.fingerprint).toBe(FP_A);
    // A fresh instance reads the file and sees the edit.
    expect((await new KnownHostsStore(file).get('a.example:1965'))?.fingerprint).toBe(FP_B);
  });
});

describe('damaged file (fails closed)', () => {
  const line = (host: string, fp = FP_A): string => `${host} ${fp} ${LATER.toISOString()} ${NOW.toISOString()}\n`;
  const HEADER = '# gemfetch known hosts\n';

  async function damagedFile(text: string): Promise<{ store: KnownHostsStore; before: Buffer }> {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
    return { store: new KnownHostsStore(file), before: await readFile(file) };
  }

  async function knownHostsError(promise: Promise<unknown>): Promise<KnownHostsError> {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KnownHostsError);
    expect((err as KnownHostsError).code).toBe('ERR_KNOWN_HOSTS');
    return err as KnownHostsError;
  }

  it.each([
    ['cut in its last 10 bytes (no newline)', (l: string) => l.slice(0, -11)],
    ['cut inside the fingerprint', (l: string) => `${l.slice(0, 40)}\n`],
    ['cut right after the host', (l: string) => 'a.example:1965 \n'],
    ['a date that is not a date', (l: string) => l.replace(LATER.toISOString(), 'not-a-date')],
    ['a date cut short (still a JavaScript date)', (l: string) => l.replace(NOW.toISOString(), '2030-06-01')],
    ['a fifth field', (l: string) => l.replace('\n', ' extra\n')],
  ])('a line of the host %s pins it to an unreadable key: every key refused, naming file:line, file unchanged', async (_, damage) => {
    const { store, before } = await damagedFile(HEADER + line('b.example:1965', FP_B) + damage(line('a.example:1965')));
    for (const attempt of [
      () => store.verify('a.example:1965', cert(FP_B, LATER), NOW), // another key
      () => store.verify('a.example:1965', cert(FP_A, LATER), NOW), // even the key it may have been
      () => store.verify('a.example:1965', cert(FP_B, LATER, true), NOW), // even CA-valid
      () => store.get('a.example:1965'),
    ]) {
      const err = await knownHostsError(attempt());
      expect(err.message).toContain(`${file}:3:`);
      expect(err.message).toContain('gemfetch tofu forget a.example:1965');
    }
    expect(await readFile(file)).toEqual(before);
    // Other hosts are unaffected, and a later valid line of the host wins (last entry wins).
    expect(await store.verify('b.example:1965', cert(FP_B, LATER), NOW)).toBe('match');
  });

  it.each([
    ['garbage', 'this line is garbage\n'],
    ['cut inside the host name', 'a.exam'],
    ['cut inside the port', `a.example:19`],
    ['a host without a port', `a.example ${FP_A} ${LATER.toISOString()} ${NOW.toISOString()}\n`],
  ])('a line naming no host (%s) refuses every unpinned host, naming file:line; pinned hosts still match', async (_, bad) => {
    const { store, before } = await damagedFile(HEADER + line('b.example:1965', FP_B) + bad);
    for (const attempt of [() => store.verify('new.example:1965', cert(FP_A, LATER), NOW), () => store.get('new.example:1965')]) {
      const err = await knownHostsError(attempt());
      expect(err.message).toContain(`${file}:3:`);
      expect(err.message).toContain('gemfetch tofu check');
    }
    expect(await store.verify('b.example:1965', cert(FP_B, LATER), NOW)).toBe('match');
    const mismatch = await store.verify('b.example:1965', cert(FP_A, LATER), NOW).catch((e: unknown) => e);
    expect((mismatch as CertificateError).code).toBe('ERR_CERT_MISMATCH');
    // Not even a later expiry of a matching key is written into such a file.
    expect(await store.verify('b.example:1965', cert(FP_B, new Date('2040-01-01T00:00:00Z')), NOW)).toBe('match');
    expect(await readFile(file)).toEqual(before);
  });

  it('never writes a new pin on the same line as a last line left without its newline', async () => {
    const last = line('b.example:1965', FP_B).slice(0, -1);
    const { store } = await damagedFile(HEADER + last);
    expect(await store.verify('a.example:1965', cert(FP_A, LATER), NOW)).toBe('first-use');
    expect(await readFile(file, 'utf8')).toBe(`${HEADER + last}\n${line('a.example:1965')}`);
    expect((await store.list()).map((e) => e.hostPort)).toEqual(['b.example:1965', 'a.example:1965']);
  });

  it('an unterminated damaged last line is judged under the lock: an append in progress is not taken for damage', async () => {
    const appended = line('h1.example:1965', FP_B);
    for (const torn of [appended.slice(0, 5), appended.slice(0, 30)]) { // cut in the host name, then in the key
      const { store } = await damagedFile(HEADER + torn);
      await writeFile(`${file}.lock`, 'another writer\n'); // the appending process holds the lock
      const verifying = store.verify('new.example:1965', cert(FP_A, LATER), NOW);
      const getting = store.get('h1.example:1965');
      const checking = store.check();
      await new Promise((r) => setTimeout(r, 50)); // they wait for the lock (a refusal would come at once)
      await writeFile(file, HEADER + appended); // the append completes...
      await rm(`${file}.lock`); // ...and its writer releases the lock
      expect(await verifying).toBe('first-use');
      expect((await getting)?.fingerprint).toBe(FP_B);
      expect((await checking).damagedCount).toBe(0);
    }
    // A last line still cut once the lock is free is damage.
    const { store } = await damagedFile(HEADER + appended.slice(0, 5));
    expect((await knownHostsError(store.verify('new.example:1965', cert(FP_A, LATER), NOW))).message).toContain(`${file}:2:`);
    expect((await store.check()).damaged).toEqual([{ line: 2 }]);
  });

  it('a damaged line of a host is repaired by forget (then first use again) or by pin', async () => {
    const cut = line('a.example:1965').slice(0, 50);
    const { store } = await damagedFile(HEADER + line('b.example:1965', FP_B) + `${cut}\n` + line('c.example:1965'));
    expect(await store.forget('a.example:1965')).toBe(true);
    expect(await readFile(file, 'utf8')).toBe(HEADER + line('b.example:1965', FP_B) + line('c.example:1965'));
    expect(await store.verify('a.example:1965', cert(FP_B, LATER), NOW)).toBe('first-use');

    await writeFile(file, HEADER + `${cut}\n` + line('c.example:1965'));
    await store.pin({ hostPort: 'a.example:1965', fingerprint: FP_B, expires: LATER, added: NOW });
    expect(await readFile(file, 'utf8')).toBe(HEADER + line('a.example:1965', FP_B) + line('c.example:1965'));
  });

  it('check() lists the damaged lines, with their host when it can be told', async () => {
    const { store } = await damagedFile(HEADER + line('b.example:1965', FP_B) + 'garbage\n' + line('a.example:1965').slice(0, 40));
    expect(await store.check()).toEqual({ lines: 4, entries: 1, damaged: [{ line: 3 }, { line: 4, hostPort: 'a.example:1965' }], damagedCount: 2 });
    expect(await new KnownHostsStore(join(dir, 'none')).check()).toEqual({ lines: 0, entries: 0, damaged: [], damagedCount: 0 });
  });

  it('bounds memory by line: a line over 8 KiB is ERR_KNOWN_HOSTS naming file:line, for reads and writes', async () => {
    const { store, before } = await damagedFile(HEADER + line('b.example:1965', FP_B) + `#${'x'.repeat(1024 * 1024)}\n` + line('a.example:1965'));
    for (const attempt of [
      () => store.get('a.example:1965'),
      () => store.verify('new.example:1965', cert(FP_A, LATER), NOW),
      () => store.pin({ hostPort: 'b.example:1965', fingerprint: FP_A, expires: LATER, added: NOW }),
      () => store.list(),
      () => store.check(),
    ]) {
      const err = await knownHostsError(attempt());
      expect(err.message).toContain(`${file}:3: line 3 is longer than 8192 bytes`);
    }
    expect((await readFile(file)).equals(before)).toBe(true); // not toEqual: a 1 MB deep comparison takes seconds
    expect(await leftovers()).toEqual([]);
  });

  it('reads a file far larger than its chunk, lines split across chunk boundaries included', async () => {
    // 3000 pins of ~150 bytes: ~450 KB, several 64 KiB chunks, lines cut by chunk ends.
    const hosts = Array.from({ length: 3000 }, (_, i) => `h${i}.example:1965`);
    const fp = (i: number): string => i.toString(16).padStart(64, '0');
    const { store } = await damagedFile(hosts.map((h, i) => line(h, fp(i))).join(''));
    for (const i of [0, 437, 1999, 2999]) expect((await store.get(hosts[i]!))?.fingerprint).toBe(fp(i));
    expect(await store.list()).toHaveLength(3000);
    await store.pin({ hostPort: hosts[1500]!, fingerprint: FP_B, expires: LATER, added: NOW });
    const entries = parseRaw(await readFile(file, 'utf8'));
    expect(entries).toHaveLength(3000);
    expect(entries[1500]).toEqual({ hostPort: hosts[1500], fingerprint: FP_B, expires: LATER, added: NOW });
    expect(entries[1499]!.fingerprint).toBe(fp(1499));
  });
});

describe('known-hosts directory', () => {
  it('fails with KnownHostsError, not a loop, where the directory cannot be created (/proc)', async () => {
    const store = new KnownHostsStore('/proc/1/gemfetch/known_hosts');
    const err = await store.verify('a.example:1965', cert(FP_A, LATER), NOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KnownHostsError);
    expect((err as Error).message).toContain('cannot create directory /proc/1/gemfetch for known-hosts file /proc/1/gemfetch/known_hosts');
  });

  it('creates at most 64 missing directory levels, then fails with KnownHostsError', async () => {
    const tooDeep = join(dir, ...Array.from({ length: 70 }, () => 'd'), 'known_hosts');
    const err = await new KnownHostsStore(tooDeep).pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KnownHostsError);
    expect((err as Error).message).toContain(`cannot create directory ${dirname(tooDeep)}`);
    expect(existsSync(join(dir, 'd'))).toBe(false); // nothing half-made
  });

  it('creates missing parent directories, each mode 0700', async () => {
    const deep = join(dir, 'x', 'y', 'z', 'known_hosts');
    await new KnownHostsStore(deep).pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW });
    for (const d of ['x', 'x/y', 'x/y/z']) expect((await stat(join(dir, d))).mode & 0o777).toBe(0o700);
  });
});

describe('errors', () => {
  it('raises KnownHostsError naming the path when a directory is where the file should be', async () => {
    await mkdir(file, { recursive: true });
    const store = new KnownHostsStore(file);
    for (const attempt of [
      () => store.get('a.example:1965'),
      () => store.list(),
      () => store.pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW }),
      () => store.verify('a.example:1965', cert(FP_A, LATER), NOW),
    ]) {
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KnownHostsError);
      expect((err as KnownHostsError).code).toBe('ERR_KNOWN_HOSTS');
      expect((err as KnownHostsError).path).toBe(file);
      expect((err as KnownHostsError).message).toContain(file);
    }
  });

  it('raises KnownHostsError when the parent directory cannot be created', async () => {
    await mkdir(join(dir, 'data'));
    await writeFile(join(dir, 'data', 'gemfetch'), 'a file, not a directory');
    const store = new KnownHostsStore(file);
    expect(await store.get('a.example:1965').catch((e: unknown) => e)).toBeInstanceOf(KnownHostsError);
    const err = await store
      .pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KnownHostsError);
    expect((err as Error).message).toContain(file);
  });

  it.skipIf(process.getuid?.() === 0)('raises KnownHostsError on permission errors (skipped as root)', async () => {
    const store = new KnownHostsStore(file);
    await store.pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW });
    await chmod(file, 0o000);
    const reader = new KnownHostsStore(file);
    const readErr = await reader.get('a.example:1965').catch((e: unknown) => e);
    expect(readErr).toBeInstanceOf(KnownHostsError);
    expect((readErr as Error).message).toContain(file);
    await chmod(file, 0o600);
    await chmod(dirname(file), 0o500);
    const writeErr = await store
      .pin({ hostPort: 'b.example:1965', fingerprint: FP_B, expires: LATER, added: NOW })
      .catch((e: unknown) => e);
    expect(writeErr).toBeInstanceOf(KnownHostsError);
    expect((writeErr as Error).message).toContain(file);
    await chmod(dirname(file), 0o700);
  });
});

describe('locking', () => {
  it('waits for a held lock, then writes once it is released', async () => {
    const store = new KnownHostsStore(file, { lockTimeoutMs: 5_000 });
    await mkdir(dirname(file), { recursive: true });
    await writeFile(`${file}.lock`, 'held by someone else\n');
    let done = false;
    const pinning = store
      .pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW })
      .then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    expect(existsSync(file)).toBe(false);
    await rm(`${file}.lock`);
    await pinning;
    expect((await store.get('a.example:1965'))?.fingerprint).toBe(FP_A);
    expect(await leftovers()).toEqual([]);
  });

  it('gives up with KnownHostsError when a live lock is never released', async () => {
    const store = new KnownHostsStore(file, { lockTimeoutMs: 150 });
    await mkdir(dirname(file), { recursive: true });
    await writeFile(`${file}.lock`, 'held\n');
    const err = await store
      .pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KnownHostsError);
    expect((err as Error).message).toContain(`${file}.lock`);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.lock`)).toBe(true); // a live lock is not ours to remove
  });

  it('breaks a stale lock left by a crashed process', async () => {
    const store = new KnownHostsStore(file); // default staleness: 10 s
    await mkdir(dirname(file), { recursive: true });
    await writeFile(`${file}.lock`, '99999\n');
    const old = new Date(Date.now() - 60_000);
    await utimes(`${file}.lock`, old, old);
    await store.pin({ hostPort: 'a.example:1965', fingerprint: FP_A, expires: LATER, added: NOW });
    expect((await store.get('a.example:1965'))?.fingerprint).toBe(FP_A);
    expect(await leftovers()).toEqual([]);
  });
});

describe('concurrency', () => {
  it('keeps every pin when several store instances write at once', async () => {
    const stores = Array.from({ length: 4 }, () => new KnownHostsStore(file));
    const hosts = Array.from({ length: 48 }, (_, i) => `h${i}.example:1965`);
    let reads = 0;
    let writing = true;
    const watcher = (async () => {
      // A reader may see the last line while it is being appended, nothing else partial: every complete line parses.
      while (writing) {
        const text = await readFile(file, 'utf8').catch(() => undefined);
        // An empty file (created, its first line not yet appended) has no complete line to check.
        const complete = text?.slice(0, text.lastIndexOf('\n') + 1);
        if (complete) {
          parseRaw(complete);
          reads++;
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    await Promise.all(
      hosts.map((hostPort, i) =>
        i % 2 === 0
          ? stores[i % 4]!.pin({ hostPort, fingerprint: FP_A, expires: LATER, added: NOW })
          : stores[i % 4]!.verify(hostPort, cert(FP_B, LATER), NOW),
      ),
    );
    writing = false;
    await watcher;
    const entries = parseRaw(await readFile(file, 'utf8'));
    expect(entries.map((e) => e.hostPort).sort()).toEqual([...hosts].sort());
    for (const store of stores) expect(await store.list()).toHaveLength(48);
    expect(await leftovers()).toEqual([]);
    expect(reads).toBeGreaterThan(0);
  });

  it('agrees on one pin when two instances see a host first with different keys', async () => {
    const [one, two] = [new KnownHostsStore(file), new KnownHostsStore(file)];
    const results = await Promise.allSettled([
      one.verify('a.example:1965', cert(FP_A, LATER), NOW),
      two.verify('a.example:1965', cert(FP_B, LATER), NOW),
    ]);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(fulfilled.map((r) => r.value)).toEqual(['first-use']);
    expect((rejected[0]!.reason as CertificateError).code).toBe('ERR_CERT_MISMATCH');
    expect(parseRaw(await readFile(file, 'utf8'))).toHaveLength(1);
  });

  // Node 20 cannot run .ts in a child process, so the children import the compiled
  // store from dist/ (`npm test` builds it first). GEMFETCH_TOFU_MODULE overrides the path.
  const compiled = process.env.GEMFETCH_TOFU_MODULE ?? join(root, 'dist', 'trust', 'tofu.js');
  it.skipIf(!existsSync(compiled))(
    'keeps every pin when several processes write at once (needs dist/trust/tofu.js: run `npm run build`)',
    async () => {
      const writer = join(root, 'test', 'support', 'tofu-writer.mjs');
      const prefixes = ['w0', 'w1', 'w2'];
      const perProcess = 12;
      await Promise.all(
        prefixes.map(async (prefix) => {
          const { stdout } = await execFileP(process.execPath, [writer, compiled, file, prefix, String(perProcess)], {
            timeout: 15_000,
          });
          expect(stdout.trim()).toBe(String(perProcess));
        }),
      );
      const entries = parseRaw(await readFile(file, 'utf8'));
      const expected = prefixes.flatMap((p) => Array.from({ length: perProcess }, (_, i) => `${p}-${i}.example:1965`));
      expect(entries.map((e) => e.hostPort).sort()).toEqual(expected.sort());
      expect(await leftovers()).toEqual([]);
    },
  );
});

describe('defaultKnownHostsPath', () => {
  it('uses $XDG_DATA_HOME when it is an absolute path', () => {
    expect(defaultKnownHostsPath({ XDG_DATA_HOME: '/srv/data' })).toBe('/srv/data/gemfetch/known_hosts');
  });

  it('falls back to ~/.local/share without XDG_DATA_HOME, or with a relative one', () => {
    const fallback = join(homedir(), '.local', 'share', 'gemfetch', 'known_hosts');
    expect(defaultKnownHostsPath({})).toBe(fallback);
    expect(defaultKnownHostsPath({ XDG_DATA_HOME: '' })).toBe(fallback);
    expect(defaultKnownHostsPath({ XDG_DATA_HOME: 'relative/dir' })).toBe(fallback);
  });

  it('is the store default and reads process.env by default', () => {
    expect(new KnownHostsStore().path).toBe(defaultKnownHostsPath());
    expect(defaultKnownHostsPath()).toBe(defaultKnownHostsPath(process.env));
  });
});

describe('publicKeyFingerprint', () => {
  it('matches openssl: sha256 of the DER SubjectPublicKeyInfo', async () => {
    const run = (args: string[], input?: Buffer | string) =>
      execFileSync('openssl', args, { cwd: dir, input, stdio: ['pipe', 'pipe', 'ignore'] });
    run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-keyout', 'k.pem', '-out', 'c.pem']);
    const pem = await readFile(join(dir, 'c.pem'));
    const pubkey = run(['x509', '-pubkey', '-noout', '-in', 'c.pem']);
    const der = run(['pkey', '-pubin', '-outform', 'der'], pubkey);
    const expected = createHash('sha256').update(der).digest('hex');
    const fingerprint = publicKeyFingerprint(new X509Certificate(pem));
    expect(fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprint).toBe(expected);
    // A certificate re-issued for the same key keeps the fingerprint.
    run(['req', '-x509', '-new', '-key', 'k.pem', '-days', '2', '-subj', '/CN=renewed', '-out', 'c2.pem']);
    const renewed = new X509Certificate(await readFile(join(dir, 'c2.pem')));
    expect(renewed.fingerprint256).not.toBe(new X509Certificate(pem).fingerprint256);
    expect(publicKeyFingerprint(renewed)).toBe(expected);
  });
});
