/**
 * Identities through the real CLI (dist/): `gemfetch id ...`, scoped
 * identities sent by fetch, batch and put to real servers on 127.0.0.1,
 * --id/--no-id, export/import, concurrent processes, damaged files, and the
 * 60/61/62 explanations on a terminal (pty).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificate } from '../src/trust/selfsigned.js';
import { certificatePerPath, respondWith, routes, startGeminiServer, type GeminiTestServer } from './support/gemini-server.js';
import { startTitanServer, type TitanTestServer } from './support/titan-server.js';
import { ptyAvailable, requireBuild, runCli, runInPty, scratchDirs, type CliResult } from './support/cli.js';
import { fetchArgsFast, fetchArgsWithYargs } from '../src/cli/main.js';

const scratch = scratchDirs();
let server: GeminiTestServer;
let tls12: GeminiTestServer;
let titan: TitanTestServer;

beforeAll(async () => {
  requireBuild();
  const handler = routes(
    {
      '/61': respondWith('61 not allowed in the admin area'),
      '/62': respondWith('62 certificate has expired'),
      '/seed': respondWith('20 text/gemini', '=> /app/linked\n=> /open\n'),
      '/robots.txt': respondWith('51 none'),
    },
    certificatePerPath(['/app']),
  );
  server = await startGeminiServer({ requestCert: true, handler });
  tls12 = await startGeminiServer({ requestCert: true, maxVersion: 'TLSv1.2', handler: certificatePerPath(['/app']) });
  titan = await startTitanServer({ requestCert: true });
});
afterAll(async () => {
  await Promise.all([server?.close(), tls12?.close(), titan?.close()]);
});

/** A fresh data home (known hosts and identities). */
const newHome = (): string => scratch('gemfetch-id-home-');
const gemfetch = (home: string, args: string[], options: { timeoutMs?: number } = {}): Promise<CliResult> =>
  runCli(home, args, { timeoutMs: options.timeoutMs ?? 30_000 });
/** `id list --json` parsed. */
async function listed(home: string): Promise<Array<{ name: string; fingerprint: string; scopes: string[]; notAfter: string }>> {
  const r = await gemfetch(home, ['id', 'list', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.toString().trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
}
async function create(home: string, name: string, ...extra: string[]): Promise<string> {
  const r = await gemfetch(home, ['id', 'create', name, '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.toString()).fingerprint as string;
}
const seenBy = (r: CliResult): string => /cert=(\w+)/.exec(r.stdout.toString())?.[1] ?? `(no answer: ${r.code} ${r.stderr})`;

describe('--id and --no-id on the command line', () => {
  it('--id NAME parses on the fast path exactly as yargs reads it; --no-id is left to yargs, which gives false', async () => {
    const url = 'gemini://example.org/';
    expect(await fetchArgsWithYargs(['--id', 'alice', url])).toMatchObject(fetchArgsFast(['--id', 'alice', url])!);
    expect(fetchArgsFast(['--id', 'alice', url])?.id).toBe('alice');
    expect(fetchArgsFast(['--no-id', url])).toBeUndefined();
    expect((await fetchArgsWithYargs(['--no-id', url]))?.id).toBe(false);
  });
});

describe.concurrent('gemfetch id', { timeout: 120_000 }, () => {
  it('create, list (table and --json), key file mode 0600', async () => {
    const home = newHome();
    const created = await gemfetch(home, ['id', 'create', 'alice', '--scope', 'example.org/forum', '--days', '30', '--cn', 'Alice A.']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/created identity alice: sha256 [0-9a-f]{64}, valid until \d{4}-\d\d-\d\d/);
    const [alice] = await listed(home);
    expect(alice).toMatchObject({ name: 'alice', scopes: ['gemini://example.org/forum'], commonName: 'Alice A.' });
    const days = (Date.parse(alice!.notAfter) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29);
    expect(days).toBeLessThan(31);
    expect(fs.statSync(path.join(home, 'gemfetch', 'identities', 'alice.key')).mode & 0o777).toBe(0o600);
    const table = await gemfetch(home, ['id', 'list']);
    expect(table.stdout.toString()).toBe(`NAME\tSHA256\tEXPIRES\tSCOPES\nalice\t${alice!.fingerprint}\t${alice!.notAfter.slice(0, 10)}\tgemini://example.org/forum\n`);
  });

  it('use moves a scope, unscope removes it, delete removes the files', async () => {
    const home = newHome();
    await create(home, 'a', '--scope', 'example.org/x');
    await create(home, 'b');
    const used = await gemfetch(home, ['id', 'use', 'b', '--scope', 'gemini://example.org/x', '--scope', 'example.org:1966/y']);
    expect(used.code, used.stderr).toBe(0);
    expect(used.stderr).toContain('identity b is sent under gemini://example.org/x (no longer a)');
    expect((await listed(home)).map((i) => [i.name, i.scopes])).toEqual([['a', []], ['b', ['gemini://example.org/x', 'gemini://example.org:1966/y']]]);
    expect((await gemfetch(home, ['id', 'unscope', 'b', '--scope', 'example.org/x'])).code).toBe(0);
    expect((await listed(home))[1]!.scopes).toEqual(['gemini://example.org:1966/y']);
    expect((await gemfetch(home, ['id', 'delete', 'a'])).code).toBe(0);
    expect((await listed(home)).map((i) => i.name)).toEqual(['b']);
    expect(fs.existsSync(path.join(home, 'gemfetch', 'identities', 'a.key'))).toBe(false);
  });

  it('bad input: clear usage errors (exit 2) naming what is wrong', async () => {
    const home = newHome();
    await create(home, 'me');
    const cases: Array<[string[], RegExp]> = [
      [['id'], /id needs an action: create, list/],
      [['id', 'frob'], /unknown id action "frob"/],
      [['id', 'create', 'a b'], /invalid identity name \("a b"\): use 1 to 64 letters/],
      [['id', 'create', 'me'], /an identity named me exists already/],
      [['id', 'create', 'x', '--days', '0'], /--days needs a whole number of days from 1 to 36500/],
      [['id', 'create', 'x', '--scope', 'https://example.org/'], /invalid scope \("https:\/\/example.org\/"\): expected gemini:/],
      [['id', 'use', 'me'], /id use needs --scope URL/],
      [['id', 'use', 'ghost', '--scope', 'example.org/'], /no identity named "ghost" \(identities: me\)/],
      [['id', 'list', 'extra'], /id list takes no operands/],
      [['id', 'export', 'me', '--days', '3'], /--days cannot be used with id export/],
      [['--id', 'ghost', server.url('/app')], /no such identity \(--id ghost\): the identities are me/],
    ];
    const results = await Promise.all(cases.map(([args]) => gemfetch(home, args)));
    for (const [i, r] of results.entries()) {
      expect(r.code, cases[i]![0].join(' ')).toBe(2);
      expect(r.stderr).toMatch(cases[i]![1]);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it('--help lists every action', async () => {
    const r = await gemfetch(newHome(), ['id', '--help']);
    expect(r.code).toBe(0);
    for (const action of ['create NAME', 'list', 'use NAME --scope', 'unscope NAME', 'export NAME', 'import NAME CERT', 'delete NAME']) expect(r.stdout.toString()).toContain(action);
  });

  it('export and import round trip: the imported identity is the same key on the wire', async () => {
    const home = newHome();
    const other = newHome();
    const fp = await create(home, 'me', '--scope', server.url('/app'));
    const file = path.join(scratch('gemfetch-id-export-'), 'me.pem');
    expect((await gemfetch(home, ['id', 'export', 'me', '-o', file])).code).toBe(0);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const again = await gemfetch(home, ['id', 'export', 'me', '-o', file]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('the file exists');
    const stdout = await gemfetch(home, ['id', 'export', 'me']);
    expect(stdout.stdout.toString()).toBe(fs.readFileSync(file, 'utf8'));
    const imported = await gemfetch(other, ['id', 'import', 'me2', file, '--scope', server.url('/app')]);
    expect(imported.code, imported.stderr).toBe(0);
    expect((await listed(other))[0]!.fingerprint).toBe(fp);
    expect(seenBy(await gemfetch(other, ['-k', server.url('/app/page')]))).toBe(fp);
  });

  it('import refuses a key that is not the certificate\'s (exit 2, nothing stored)', async () => {
    const home = newHome();
    const dir = scratch('gemfetch-id-files-');
    const one = createCertificate({ commonName: 'one' });
    const two = createCertificate({ commonName: 'two' });
    fs.writeFileSync(path.join(dir, 'one.crt'), one.cert);
    fs.writeFileSync(path.join(dir, 'two.key'), two.key);
    const r = await gemfetch(home, ['id', 'import', 'x', path.join(dir, 'one.crt'), path.join(dir, 'two.key')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the private key does not belong to the certificate');
    fs.writeFileSync(path.join(dir, 'huge.pem'), 'x'.repeat(70 * 1024));
    const huge = await gemfetch(home, ['id', 'import', 'x', path.join(dir, 'huge.pem'), path.join(dir, 'two.key')]);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toContain('too big for a PEM certificate or key (limit 64 KiB)');
    const noKey = await gemfetch(home, ['id', 'import', 'x', path.join(dir, 'one.crt')]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('holds no private key');
    expect(await listed(home)).toEqual([]);
  });

  it('concurrent processes creating and scoping identities lose nothing', async () => {
    const home = newHome();
    const n = 8;
    const made = await Promise.all(Array.from({ length: n }, (_, i) => gemfetch(home, ['id', 'create', `p${i}`, '--scope', `example.org/p${i}`], { timeoutMs: 60_000 })));
    for (const r of made) expect(r.code, r.stderr).toBe(0);
    const scoped = await Promise.all(Array.from({ length: n }, (_, i) => gemfetch(home, ['id', 'use', `p${i}`, '--scope', `example.net/q${i}`], { timeoutMs: 60_000 })));
    for (const r of scoped) expect(r.code, r.stderr).toBe(0);
    const all = await listed(home);
    expect(all.map((i) => i.name).sort()).toEqual(Array.from({ length: n }, (_, i) => `p${i}`).sort());
    for (const info of all) {
      const i = info.name.slice(1);
      expect(info.scopes).toEqual([`gemini://example.org/p${i}`, `gemini://example.net/q${i}`]);
    }
    expect(fs.readdirSync(path.join(home, 'gemfetch', 'identities')).filter((f) => f.endsWith('.lock') || f.startsWith('.tmp'))).toEqual([]);
  });
});

describe.concurrent('sending identities', { timeout: 120_000 }, () => {
  it('the scoped identity goes to its prefix and below, not to /appx, another port, or with --no-id', async () => {
    const home = newHome();
    const fp = await create(home, 'app', '--scope', server.url('/app'));
    expect(seenBy(await gemfetch(home, ['-k', server.url('/app')]))).toBe(fp);
    expect(seenBy(await gemfetch(home, ['-k', server.url('/app/deeper/page?x')]))).toBe(fp);
    expect(seenBy(await gemfetch(home, ['-k', server.url('/appx')]))).toBe('none');
    expect(seenBy(await gemfetch(home, ['-k', tls12.url('/open')]))).toBe('none');
    const noId = await gemfetch(home, ['-k', '--no-id', server.url('/app')]);
    expect(noId.code).toBe(6);
    expect(noId.stderr).toContain('60 client certificate required');
  });

  it('--id forces one identity for the run; --cert wins over the store; --json names the identity', async () => {
    const home = newHome();
    const scoped = await create(home, 'scoped', '--scope', server.url('/app'));
    const forced = await create(home, 'forced');
    expect(seenBy(await gemfetch(home, ['-k', '--id', 'forced', server.url('/app/x')]))).toBe(forced);
    expect(seenBy(await gemfetch(home, ['-k', '--id', 'forced', server.url('/elsewhere')]))).toBe(forced);
    const dir = scratch('gemfetch-id-files-');
    const explicit = createCertificate({ commonName: 'explicit' });
    fs.writeFileSync(path.join(dir, 'c.pem'), explicit.cert + explicit.key);
    expect(seenBy(await gemfetch(home, ['-k', '--cert', path.join(dir, 'c.pem'), server.url('/app/x')]))).toBe(explicit.fingerprint);
    const json = await gemfetch(home, ['-k', '--json', server.url('/app/x'), server.url('/open')]);
    const [first, second] = json.stdout.toString().trim().split('\n').map((l) => JSON.parse(l));
    expect(first.identity).toEqual({ name: 'scoped', fingerprint: scoped });
    expect(second.identity).toBeNull();
  });

  it('batch sends the scoped identity per URL', async () => {
    const home = newHome();
    const fp = await create(home, 'app', '--scope', server.url('/app'));
    const r = await gemfetch(home, ['batch', '-k', server.url('/app/1'), server.url('/open')]);
    expect(r.code, r.stderr).toBe(0);
    const records = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l));
    const byUrl = new Map(records.map((rec) => [rec.url, rec.identity]));
    expect(byUrl.get(server.url('/app/1'))).toEqual({ name: 'app', fingerprint: fp });
    expect(byUrl.get(server.url('/open'))).toBeNull();
  });

  it('crawl sends the scoped identity to the pages under its scope only', async () => {
    const home = newHome();
    const fp = await create(home, 'app', '--scope', server.url('/app'));
    const r = await gemfetch(home, ['crawl', '-k', '--delay', '0', '--max-pages', '5', server.url('/seed')]);
    expect(r.code, r.stderr).toBe(0);
    const records = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l));
    const byUrl = new Map(records.map((rec) => [rec.url, rec]));
    expect(byUrl.get(server.url('/app/linked'))).toMatchObject({ status: 20, identity: { name: 'app', fingerprint: fp } });
    expect(byUrl.get(server.url('/open'))).toMatchObject({ status: 20, identity: null });
    expect(byUrl.get(server.url('/seed'))).toMatchObject({ identity: null });
  });

  it('put uploads with the identity scoped to the same path', async () => {
    const home = newHome();
    const fp = await create(home, 'wiki', '--scope', titan.geminiUrl('/wiki'));
    const file = path.join(scratch('gemfetch-id-files-'), 'p.gmi');
    fs.writeFileSync(file, '# page\n');
    const r = await gemfetch(home, ['put', '-k', titan.titanUrl('/wiki/p.gmi'), file]);
    expect(r.code, r.stderr).toBe(0);
    const upload = titan.uploads.find((u) => u.path === '/wiki/p.gmi')!;
    expect(upload.clientCertificate).toBe(fp);
    expect(upload.body.toString()).toBe('# page\n');
  });

  it('warns once per run when an identity goes over TLS 1.2', async () => {
    const home = newHome();
    await create(home, 'old', '--scope', tls12.url('/'));
    const r = await gemfetch(home, ['-k', tls12.url('/app/1'), tls12.url('/app/2')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/identity old \(sha256 [0-9a-f]{16}…\) was offered to 127\.0\.0\.1:\d+ over TLS 1\.2/g)).toHaveLength(1);
    const bulk = await gemfetch(home, ['batch', '-k', '--delay', '0', tls12.url('/app/1'), tls12.url('/app/2'), tls12.url('/app/3')]);
    expect(bulk.code, bulk.stderr).toBe(0);
    expect(bulk.stderr.match(/identity old \(sha256 [0-9a-f]{16}…\) was offered to 127\.0\.0\.1:\d+ over TLS 1\.2/g)).toHaveLength(1);
    expect((await gemfetch(home, ['batch', '-k', '-q', tls12.url('/app/1')])).stderr).not.toContain('TLS 1.2');
    const modern = await gemfetch(home, ['-k', '--id', 'old', server.url('/app/1')]);
    expect(modern.stderr).not.toContain('TLS 1.2');
  });
});

describe.concurrent('damaged store: fail closed', { timeout: 120_000 }, () => {
  it('a damaged index fails every fetch naming the file (exit 1, nothing sent); --no-id still fetches', async () => {
    const home = newHome();
    await create(home, 'app', '--scope', server.url('/app'));
    const index = path.join(home, 'gemfetch', 'identities', 'index.json');
    fs.writeFileSync(index, '{"version":1,"identities":[{"name":"app","scopes":["gemini://12');
    const before = server.requests.length;
    const r = await gemfetch(home, ['-k', server.url('/open-damaged-index')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${index}: damaged identity index`);
    expect(r.stderr).toContain('--no-id');
    expect(server.requests.slice(before)).not.toContain(server.url('/open-damaged-index'));
    const noId = await gemfetch(home, ['-k', '--no-id', server.url('/open-damaged-index')]);
    expect(noId.code).toBe(0);
    const list = await gemfetch(home, ['id', 'list']);
    expect(list.code).toBe(1);
    expect(list.stderr).toContain(index);
  });

  it('a damaged key file fails the fetch under its scope naming the file', async () => {
    const home = newHome();
    await create(home, 'app', '--scope', server.url('/app'));
    const key = path.join(home, 'gemfetch', 'identities', 'app.key');
    fs.writeFileSync(key, '-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n');
    const r = await gemfetch(home, ['-k', server.url('/app/x')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${key}: the private key of identity app is damaged`);
    expect((await gemfetch(home, ['-k', server.url('/open')])).code).toBe(0); // out of its scope: unaffected
    const forced = await gemfetch(home, ['-k', '--id', 'app', server.url('/open')]);
    expect(forced.code).toBe(1);
    expect(forced.stderr).toContain(key);
  });
});

describe.skipIf(!ptyAvailable()).concurrent('6x on a terminal', { timeout: 120_000 }, () => {
  it('60 with no identity: the command that would create one for this URL', async () => {
    const { code, output } = await runInPty(newHome(), ['-k', server.url('/app/login')], { timeoutMs: 30_000 });
    expect(code).toBe(6);
    expect(output).toContain('you have no identity yet');
    expect(output).toContain(`gemfetch id create NAME --scope ${server.url('/app/login')}`);
  });

  it('60 with identities out of scope: their names and the use/create/--id commands', async () => {
    const home = newHome();
    await create(home, 'alice', '--scope', 'example.org/');
    await create(home, 'bob');
    const { code, output } = await runInPty(home, ['-k', server.url('/app/login?x=1')], { timeoutMs: 30_000 });
    expect(code).toBe(6);
    expect(output).toContain('your identities: alice, bob (none is scoped to this URL)');
    expect(output).toContain(`gemfetch id use NAME --scope ${server.url('/app/login')}`);
    expect(output).toContain(`gemfetch id create NAME --scope ${server.url('/app/login')}`);
    expect(output).toContain('gemfetch --id NAME');
  });

  it('61 and 62: the server\'s META and the identity that was sent', async () => {
    const home = newHome();
    const fp = await create(home, 'alice', '--scope', server.url('/'));
    const r61 = await runInPty(home, ['-k', server.url('/61')], { timeoutMs: 30_000 });
    expect(r61.code).toBe(6);
    expect(r61.output).toContain('the server says: not allowed in the admin area');
    expect(r61.output).toContain(`sent: identity alice (sha256 ${fp.slice(0, 16)}…), which the server says is not authorised here`);
    const r62 = await runInPty(home, ['-k', server.url('/62')], { timeoutMs: 30_000 });
    expect(r62.code).toBe(6);
    expect(r62.output).toContain('the server says: certificate has expired');
    expect(r62.output).toContain('which the server says is not valid for it');
    expect(r62.output).toContain('gemfetch id list');
  });

  it('put answered 60: the command that would create an identity for the upload\'s path', async () => {
    const gate = await startTitanServer({ requestCert: true, early: (u) => (u.clientCertificate ? undefined : { header: '60 log in to upload' }) });
    try {
      const home = newHome();
      const file = path.join(scratch('gemfetch-id-files-'), 'p.gmi');
      fs.writeFileSync(file, '# page\n');
      const { code, output } = await runInPty(home, ['put', '-k', gate.titanUrl('/wiki/p.gmi'), file], { timeoutMs: 30_000 });
      expect(code).toBe(6);
      expect(output).toContain(`gemfetch id create NAME --scope ${gate.geminiUrl('/wiki/p.gmi')}`);
      await create(home, 'writer', '--scope', gate.geminiUrl('/wiki'));
      const ok = await gemfetch(home, ['put', '-k', gate.titanUrl('/wiki/p.gmi'), file]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(gate.uploads.at(-1)!.whole).toBe(true);
    } finally {
      await gate.close();
    }
  });

  it('no hint when stderr is not a terminal', async () => {
    const r = await gemfetch(newHome(), ['-k', server.url('/app/login')]);
    expect(r.code).toBe(6);
    expect(r.stderr).not.toContain('gemfetch id create');
  });
});
