/**
 * Identities on the wire (real TLS on 127.0.0.1): the store's scoped identity
 * is what the server sees, per path, port and host; precedence of cert/key,
 * `identities: false`, resolvers; failures send nothing; records and Titan.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../src/net/client.js';
import { fetchToRecord } from '../src/net/record.js';
import { IdentityStore } from '../src/trust/identity-store.js';
import { createCertificate } from '../src/trust/selfsigned.js';
import { certificatePerPath, redirect, routes, startGeminiServer, type GeminiTestServer } from './support/gemini-server.js';
import { startTitanServer, type TitanTestServer } from './support/titan-server.js';
import { INSECURE_OPTIONS, rejection } from './support/harness.js';
import { scratchDirs } from './support/cli.js';

const scratch = scratchDirs();
let server: GeminiTestServer;
let other: GeminiTestServer;
let titan: TitanTestServer;
let store: IdentityStore;
const fp: Record<string, string> = {};

beforeAll(async () => {
  const gate = certificatePerPath(['/forum', '/site']);
  server = await startGeminiServer({ requestCert: true, handler: routes({ '/go-to-forum': redirect('/forum/after-redirect') }, gate) });
  other = await startGeminiServer({ requestCert: true, handler: gate });
  titan = await startTitanServer({ requestCert: true });
  store = new IdentityStore(path.join(scratch('gemfetch-client-ids-'), 'identities'));
  fp.site = (await store.create('site', { scopes: [server.url('/')] })).fingerprint;
  fp.forum = (await store.create('forum', { scopes: [server.url('/forum')] })).fingerprint;
  fp.local = (await store.create('local', { scopes: [`gemini://localhost:${server.port}/`] })).fingerprint;
  fp.wiki = (await store.create('wiki', { scopes: [titan.geminiUrl('/wiki')] })).fingerprint;
});
afterAll(async () => {
  await Promise.all([server?.close(), other?.close(), titan?.close()]);
});

/** The fingerprint the server saw (`none`) for `url`, from its answer body. */
async function seen(client: Client, url: string, options = {}): Promise<string> {
  const res = await client.fetch(url, options);
  expect(res.status, `${url}: ${res.meta}`).toBe(20);
  return /cert=(\w+)/.exec(res.body.toString())![1]!;
}

describe('the identity store on a client', () => {
  const client = (): Client => new Client({ ...INSECURE_OPTIONS, identities: store, sessionResumption: false });

  it('sends the identity whose scope covers the URL most specifically', async () => {
    const c = client();
    expect(await seen(c, server.url('/forum'))).toBe(fp.forum);
    expect(await seen(c, server.url('/forum/thread/7?page=2'))).toBe(fp.forum);
    expect(await seen(c, server.url('/forumx'))).toBe(fp.site); // not under /forum: the root scope's
    expect(await seen(c, server.url('/'))).toBe(fp.site);
  });

  it('another port or host gets nothing', async () => {
    const c = client();
    expect(await seen(c, other.url('/'))).toBe('none');
    const res = await c.fetch(other.url('/forum'));
    expect(res.status).toBe(60);
    expect(res.tls.identity).toBeNull();
    // The same server by name: only the identity scoped to "localhost" goes, not the 127.0.0.1 ones.
    expect(await seen(c, `gemini://localhost:${server.port}/forum`, { family: 4 })).toBe(fp.local);
  });

  it('reports the identity sent in tls.identity and in the record', async () => {
    const c = client();
    const res = await c.fetch(server.url('/forum/x'));
    expect(res.tls.identity).toEqual({ name: 'forum', fingerprint: fp.forum });
    expect(res.tls.clientCertificate).toBe(true);
    const record = await fetchToRecord(c, server.url('/site'));
    expect(record.identity).toEqual({ name: 'site', fingerprint: fp.site });
    expect((await fetchToRecord(c, other.url('/'))).identity).toBeNull();
  });

  it('each URL of a redirect chain gets its own identity', async () => {
    const only = new IdentityStore(path.join(scratch('gemfetch-client-ids-'), 'identities'));
    const forum = await only.create('forum', { scopes: [server.url('/forum')] });
    const res = await new Client({ ...INSECURE_OPTIONS, identities: only, sessionResumption: false }).fetch(server.url('/go-to-forum'));
    expect(res.body.toString()).toBe(`cert=${forum.fingerprint} path=/forum/after-redirect`);
    const at = server.requests.lastIndexOf(server.url('/go-to-forum'));
    expect(server.clientFingerprints[at]).toBeNull(); // the redirecting page was asked without it
  });

  it('cert/key options win over the store; identities: false sends none', async () => {
    const explicit = createCertificate({ commonName: 'explicit' });
    const c = client();
    expect(await seen(c, server.url('/forum'), { cert: explicit.cert, key: explicit.key })).toBe(explicit.fingerprint);
    const withCert = await c.fetch(server.url('/forum'), { cert: explicit.cert, key: explicit.key });
    expect(withCert.tls.identity).toEqual({ name: null, fingerprint: explicit.fingerprint });
    const none = await c.fetch(server.url('/forum'), { identities: false });
    expect(none.status).toBe(60);
    expect(none.tls.identity).toBeNull();
  });

  it('without an identities option nothing is sent, even with a store on disk', async () => {
    const res = await new Client(INSECURE_OPTIONS).fetch(server.url('/forum'));
    expect(res.status).toBe(60);
    expect(res.tls.clientCertificate).toBe(false);
  });

  it('a damaged store fails the request before any connection, naming the file', async () => {
    const broken = new IdentityStore(path.join(scratch('gemfetch-client-ids-'), 'identities'));
    await broken.create('x', { scopes: [server.url('/forum')] });
    fs.writeFileSync(broken.indexPath, 'not json');
    const before = server.connectionCount;
    const err = await rejection(new Client({ ...INSECURE_OPTIONS, identities: broken }).fetch(server.url('/forum')));
    expect(err.code).toBe('ERR_IDENTITY');
    expect(err.message).toContain(broken.indexPath);
    expect(server.connectionCount).toBe(before);
  });
});

describe('a resolver of the program', () => {
  const mine = createCertificate({ commonName: 'resolver' });

  it('is asked with each URL and may be async; its name is reported', async () => {
    const asked: string[] = [];
    const c = new Client({
      ...INSECURE_OPTIONS,
      identities: async (url) => {
        asked.push(url.href);
        return url.pathname.startsWith('/forum') ? { cert: mine.cert, key: mine.key, name: 'mine' } : undefined;
      },
    });
    const res = await c.fetch(server.url('/forum/a?q=1'));
    expect(res.body.toString()).toBe(`cert=${mine.fingerprint} path=/forum/a`);
    expect(res.tls.identity).toEqual({ name: 'mine', fingerprint: mine.fingerprint });
    expect(await seen(c, server.url('/open'))).toBe('none');
    expect(asked).toEqual([server.url('/forum/a?q=1'), server.url('/open')]);
  });

  it('a throwing or wrong resolver fails the request with ERR_IDENTITY and sends nothing', async () => {
    const before = server.connectionCount;
    const thrown = await rejection(new Client({ ...INSECURE_OPTIONS, identities: () => { throw new Error('vault locked'); } }).fetch(server.url('/forum')));
    expect(thrown.code).toBe('ERR_IDENTITY');
    expect(thrown.message).toContain('vault locked');
    const wrong = await rejection(new Client({ ...INSECURE_OPTIONS, identities: (() => ({ cert: 42 })) as never }).fetch(server.url('/forum')));
    expect(wrong.code).toBe('ERR_IDENTITY');
    const other = createCertificate({ commonName: 'other' });
    const mismatched = await rejection(new Client({ ...INSECURE_OPTIONS, identities: () => ({ cert: mine.cert, key: other.key, name: 'odd' }) }).fetch(server.url('/forum')));
    expect(mismatched.code).toBe('ERR_IDENTITY');
    expect(mismatched.message).toContain('the identity odd chosen for');
    expect(server.connectionCount).toBe(before);
  });

  it('an identities option that is neither is refused', () => {
    expect(() => new Client({ identities: 'store' as never })).toThrow(/option identities must be an IdentityStore/);
  });
});

describe('Titan uploads', () => {
  it('carry the identity scoped to the gemini:// page of the same path', async () => {
    const c = new Client({ ...INSECURE_OPTIONS, identities: store, maxRedirects: 0 });
    const res = await c.upload(titan.titanUrl('/wiki/page.gmi'), 'hello', { mime: 'text/gemini' });
    expect(res.status).toBe(30);
    expect(res.tls.identity).toEqual({ name: 'wiki', fingerprint: fp.wiki });
    const upload = titan.uploads.at(-1)!;
    expect(upload.body.toString()).toBe('hello');
    expect(upload.clientCertificate).toBe(fp.wiki);
    await c.upload(titan.titanUrl('/wikipedia.gmi'), 'x', { mime: 'text/gemini' });
    expect(titan.uploads.at(-1)!.clientCertificate).toBeUndefined();
  });
});
