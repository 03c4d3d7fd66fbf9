/** The identity store on a real file system: layout, modes, scopes, import/export, damaged files (fail closed), concurrent writers. */
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IdentityError, InvalidOptionError } from '../src/errors.js';
import { parseGeminiUrl } from '../src/protocol/url.js';
import { defaultIdentitiesDir, IdentityStore, MAX_DAYS, MAX_INDEX_BYTES, MAX_PEM_BYTES } from '../src/trust/identity-store.js';
import { createCertificate } from '../src/trust/selfsigned.js';
import { scratchDirs } from './support/cli.js';

const scratch = scratchDirs();
const fresh = (): IdentityStore => new IdentityStore(path.join(scratch('gemfetch-ids-'), 'gemfetch', 'identities'));
const target = (url: string) => parseGeminiUrl(url);
/** Another store instance on the same directory (nothing cached). */
const fresh2 = (store: IdentityStore): IdentityStore => new IdentityStore(store.dir);

describe('IdentityStore', () => {
  it('lives under XDG_DATA_HOME like the known-hosts file', () => {
    expect(defaultIdentitiesDir({ XDG_DATA_HOME: '/x/data' })).toBe('/x/data/gemfetch/identities');
    expect(defaultIdentitiesDir({ XDG_DATA_HOME: 'relative' })).toMatch(/\.local\/share\/gemfetch\/identities$/);
  });

  it('creates an identity: key file 0600, directory 0700, index listing it; the pair loads and matches', async () => {
    const store = fresh();
    const info = await store.create('alice', { scopes: ['example.org/forum'], days: 30, commonName: 'Alice' });
    expect(info).toMatchObject({ name: 'alice', commonName: 'Alice', scopes: ['gemini://example.org/forum'] });
    expect(info.notAfter.getTime() - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(info.notAfter.getTime() - Date.now()).toBeLessThan(31 * 86_400_000);
    expect(fs.statSync(store.keyPath('alice')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(store.dir).mode & 0o777).toBe(0o700);
    const index = JSON.parse(fs.readFileSync(store.indexPath, 'utf8'));
    expect(index.identities.map((e: { name: string }) => e.name)).toEqual(['alice']);
    const material = await store.load('alice');
    const cert = new X509Certificate(material.cert);
    expect(cert.subject).toContain('CN=Alice');
    expect(material.fingerprint).toBe(info.fingerprint);
    expect(await store.list()).toEqual([info]);
    // Nothing but the index, the pair and no leftovers (temp or lock files).
    expect(fs.readdirSync(store.dir).sort()).toEqual(['alice.crt', 'alice.key', 'index.json']);
  });

  it('refuses a second identity of the same name, bad names and bad validity', async () => {
    const store = fresh();
    await store.create('bob');
    await expect(store.create('bob')).rejects.toThrow(IdentityError);
    await expect(store.create('../etc')).rejects.toThrow(InvalidOptionError);
    await expect(store.create('a b')).rejects.toThrow(/invalid identity name "a b"/);
    await expect(store.create('x'.repeat(65))).rejects.toThrow(/invalid identity name/);
    await expect(store.create('c', { days: 0 })).rejects.toThrow(/1 to 36500/);
    await expect(store.create('c', { days: MAX_DAYS + 1 })).rejects.toThrow(/1 to 36500/);
    await expect(store.create('c', { scopes: ['https://x/'] })).rejects.toThrow(/invalid scope "https:\/\/x\/"/);
    expect((await store.list()).map((i) => i.name)).toEqual(['bob']);
  });

  it('resolves the most specific scope; use moves a scope, unscope and delete remove', async () => {
    const store = fresh();
    await store.create('site', { scopes: ['example.org/'] });
    await store.create('forum', { scopes: ['example.org/forum'] });
    expect((await store.resolve(target('gemini://example.org/forum/t/1')))?.name).toBe('forum');
    expect((await store.resolve(target('gemini://example.org/forumx')))?.name).toBe('site');
    expect(await store.resolve(target('gemini://example.org:1966/forum'))).toBeUndefined();
    expect(await store.resolve(target('gemini://other.org/'))).toBeUndefined();

    const moved = await store.use('site', 'gemini://example.org/forum');
    expect(moved.movedFrom).toEqual(['forum']);
    expect((await store.get('forum'))?.scopes).toEqual([]);
    expect((await store.resolve(target('gemini://example.org/forum/t/1')))?.name).toBe('site');

    expect(await store.unscope('site', 'example.org/forum')).toBe(true);
    expect(await store.unscope('site', 'example.org/forum')).toBe(false);
    await expect(store.use('nobody', 'example.org/')).rejects.toThrow(/no identity named "nobody"/);

    await store.delete('site');
    expect(fs.existsSync(store.certPath('site'))).toBe(false);
    expect(fs.existsSync(store.keyPath('site'))).toBe(false);
    expect(await store.resolve(target('gemini://example.org/'))).toBeUndefined();
    await expect(store.delete('site')).rejects.toThrow(IdentityError);
    // An entry whose files are already gone (a crash mid-delete) is deleted all the same.
    await store.create('half');
    fs.rmSync(store.keyPath('half'));
    await expect(store.resolve(target('gemini://example.org/'))).resolves.toBeUndefined();
    await store.delete('half');
    expect(await store.get('half')).toBeUndefined();
  });

  it('export/import round trip keeps the key; a mismatched pair is refused and nothing stored', async () => {
    const a = fresh();
    const b = fresh();
    const created = await a.create('me', { scopes: ['example.org/'] });
    const exported = await a.load('me');
    const imported = await b.import('me', exported.cert, exported.key, { scopes: ['example.org/x'] });
    expect(imported.fingerprint).toBe(created.fingerprint);
    expect((await b.load('me')).fingerprint).toBe(created.fingerprint);

    const other = createCertificate({ commonName: 'other' });
    await expect(b.import('wrong', exported.cert, other.key)).rejects.toThrow(/does not belong to the certificate/);
    await expect(b.import('junk', 'not pem', other.key)).rejects.toThrow(/not a PEM certificate/);
    await expect(b.import('junk', other.cert, 'not pem')).rejects.toThrow(/not a PEM private key/);
    expect((await b.list()).map((i) => i.name)).toEqual(['me']);
    expect(fs.existsSync(b.certPath('wrong'))).toBe(false);
  });

  it('a damaged index fails closed, naming the file: no lookup, no write', async () => {
    const store = fresh();
    await store.create('alice', { scopes: ['example.org/'] });
    fs.writeFileSync(store.indexPath, '{"version": 1, "identities": [{"name": "alice", "sco');
    const expectDamaged = async (p: Promise<unknown>): Promise<void> => {
      const err = await p.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(IdentityError);
      expect((err as IdentityError).code).toBe('ERR_IDENTITY');
      expect((err as Error).message).toContain(`${store.indexPath}: damaged identity index`);
    };
    // Even a URL no identity was scoped to: which one it would get cannot be told.
    await expectDamaged(store.resolve(target('gemini://other.org/')));
    await expectDamaged(store.list());
    await expectDamaged(store.create('bob'));
    fs.writeFileSync(store.indexPath, JSON.stringify({ version: 1, identities: [{ name: 'alice', scopes: 'all' }] }));
    await expectDamaged(store.resolve(target('gemini://example.org/')));
    expect(fs.readFileSync(store.indexPath, 'utf8')).toContain('"scopes":"all"'); // not rewritten
  });

  it('an index over the size limit is refused, naming the limit', async () => {
    const store = fresh();
    await store.create('alice');
    fs.writeFileSync(store.indexPath, ' '.repeat(MAX_INDEX_BYTES + 1));
    await expect(store.list()).rejects.toThrow(new RegExp(`over the limit of ${MAX_INDEX_BYTES}`));
  });

  it('a damaged, missing, oversized or replaced key or certificate fails the lookup naming the file', async () => {
    const store = fresh();
    await store.create('alice', { scopes: ['example.org/'] });
    await store.create('eve');
    const url = target('gemini://example.org/page');
    const key = fs.readFileSync(store.keyPath('alice'), 'utf8');
    const cert = fs.readFileSync(store.certPath('alice'), 'utf8');
    expect((await store.resolve(url))?.name).toBe('alice'); // loaded and checked once: a later change must still be seen

    fs.writeFileSync(store.keyPath('alice'), key.slice(0, 60));
    await expect(store.resolve(url)).rejects.toThrow(`${store.keyPath('alice')}: the private key of identity alice is damaged`);
    fs.writeFileSync(store.keyPath('alice'), fs.readFileSync(store.keyPath('eve')));
    await expect(store.resolve(url)).rejects.toThrow(`${store.keyPath('alice')}: this private key does not belong to the certificate`);
    fs.writeFileSync(store.keyPath('alice'), key);

    fs.rmSync(store.certPath('alice'));
    await expect(store.resolve(url)).rejects.toThrow(`${store.certPath('alice')}: cannot read the certificate of identity alice (the file is missing)`);
    fs.writeFileSync(store.certPath('alice'), 'x'.repeat(MAX_PEM_BYTES + 1));
    await expect(store.resolve(url)).rejects.toThrow(`over the limit of ${MAX_PEM_BYTES}`);
    // Both files swapped for another identity's pair: a valid pair, but not the identity in scope.
    fs.writeFileSync(store.certPath('alice'), fs.readFileSync(store.certPath('eve')));
    fs.writeFileSync(store.keyPath('alice'), fs.readFileSync(store.keyPath('eve')));
    await expect(store.resolve(url)).rejects.toThrow(`${store.certPath('alice')}: the certificate of identity alice is not the one recorded`);
    fs.writeFileSync(store.certPath('alice'), cert);
    fs.writeFileSync(store.keyPath('alice'), key);
    expect((await store.resolve(url))?.name).toBe('alice');
  });

  it('waits for the lock at most lockTimeoutMs (naming the lock file), and breaks a stale one', async () => {
    const store = fresh();
    await store.create('first');
    const lockPath = `${store.indexPath}.lock`;
    fs.writeFileSync(lockPath, '12345\n'); // held by "another process", fresh
    const waiting = new IdentityStore(store.dir, { lockTimeoutMs: 300, lockStaleMs: 60_000 });
    await expect(waiting.create('second')).rejects.toThrow(`timed out after 300 ms waiting for lock file ${lockPath}`);
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(lockPath, old, old); // its process died long ago
    await new IdentityStore(store.dir, { lockTimeoutMs: 5_000, lockStaleMs: 60_000 }).create('second');
    expect((await store.list()).map((i) => i.name)).toEqual(['first', 'second']);
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  it('several store instances writing at once lose nothing', async () => {
    const first = fresh();
    const stores = Array.from({ length: 6 }, () => new IdentityStore(first.dir));
    await Promise.all(stores.map((s, i) => s.create(`id${i}`, { scopes: [`example.org/p${i}`] })));
    await Promise.all(stores.map((s, i) => s.use(`id${i}`, `example.net/q${i}`)));
    const listed = await first.list();
    expect(listed.map((i) => i.name).sort()).toEqual(['id0', 'id1', 'id2', 'id3', 'id4', 'id5']);
    for (let i = 0; i < 6; i++) expect((await first.get(`id${i}`))?.scopes).toEqual([`gemini://example.org/p${i}`, `gemini://example.net/q${i}`]);
    expect(fs.readdirSync(first.dir).filter((f) => f.includes('tmp') || f.endsWith('.lock'))).toEqual([]);
  });
  it('a FIFO in place of the index, the key or the certificate fails at once naming the file (never waits for a writer)', async () => {
    const store = fresh();
    await store.create('alice', { scopes: ['example.org/'] });
    const url = target('gemini://example.org/page');
    const within = <T>(p: Promise<T>): Promise<T> =>
      Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('still waiting after 10 s: the open blocked on the FIFO')), 10_000))]);
    for (const file of [store.keyPath('alice'), store.certPath('alice')]) {
      const saved = fs.readFileSync(file);
      fs.rmSync(file);
      execFileSync('mkfifo', ['-m', '600', file]);
      await expect(within(fresh2(store).resolve(url))).rejects.toThrow(`${file}: cannot read the`);
      await expect(within(fresh2(store).resolve(url))).rejects.toThrow('not a regular file');
      fs.rmSync(file);
      fs.writeFileSync(file, saved, { mode: 0o600 });
    }
    fs.renameSync(store.indexPath, `${store.indexPath}.saved`);
    execFileSync('mkfifo', ['-m', '600', store.indexPath]);
    await expect(within(fresh2(store).resolve(url))).rejects.toThrow(`cannot read ${store.indexPath} (identity store): not a regular file`);
    fs.rmSync(store.indexPath);
    fs.renameSync(`${store.indexPath}.saved`, store.indexPath);
    expect((await fresh2(store).resolve(url))?.name).toBe('alice');
  });

  it('a private key readable by other users is not used: the lookup fails naming the file and the chmod that fixes it', async () => {
    const store = fresh();
    await store.create('alice', { scopes: ['example.org/'] });
    const url = target('gemini://example.org/page');
    expect((await store.resolve(url))?.name).toBe('alice'); // checked once, cached: the chmod below must still be seen
    for (const mode of [0o644, 0o640, 0o604]) {
      fs.chmodSync(store.keyPath('alice'), mode);
      await expect(store.resolve(url)).rejects.toThrow(
        `${store.keyPath('alice')}: the private key of identity alice is readable by other users (mode 0${mode.toString(8)}, must be 0600): it is not used; fix it with \`chmod 600 ${store.keyPath('alice')}\``,
      );
      await expect(store.resolve(url)).rejects.toBeInstanceOf(IdentityError);
    }
    fs.chmodSync(store.keyPath('alice'), 0o600);
    expect((await store.resolve(url))?.name).toBe('alice');
    fs.chmodSync(store.certPath('alice'), 0o644); // a certificate is public
    expect((await store.resolve(url))?.name).toBe('alice');
  });
});
