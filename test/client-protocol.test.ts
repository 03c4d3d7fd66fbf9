/**
 * The protocol, to the letter, through the client over real loopback sockets:
 * malformed headers, status categories, MIME fields, URL handling on the wire
 * (SNI included), redirects, input, client certificates and TLS versions.
 */
import dns from 'node:dns';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Client } from '../src/net/client.js';
import { RedirectError } from '../src/errors.js';
import { createCertificate } from '../src/trust/selfsigned.js';
import {
  inputPrompt,
  redirect,
  requireClientCertificate,
  respondWith,
  routes,
  sendRaw,
  type GeminiTestServer,
  type RequestContext,
} from './support/gemini-server.js';
import { connectionsClosed, INSECURE_OPTIONS, perTestCleanup, rejection } from './support/harness.js';

const { serve } = perTestCleanup();
const client = new Client(INSECURE_OPTIONS);

describe('malformed headers', () => {
  const errors: Array<[string, string | Buffer, string]> = [
    ['non-numeric status', 'ab text/plain\r\n', 'ERR_BAD_HEADER'],
    ['one-digit status', '2 text/plain\r\n', 'ERR_BAD_HEADER'],
    ['three-digit status', '200 text/plain\r\n', 'ERR_BAD_HEADER'],
    ['status 99', '99 what\r\n', 'ERR_BAD_HEADER'],
    ['status 09', '09 what\r\n', 'ERR_BAD_HEADER'],
    ['status 70', '70 what\r\n', 'ERR_BAD_HEADER'],
    ['blank header line', '\r\n', 'ERR_BAD_HEADER'],
    ['no space after the status', '20text/plain\r\n', 'ERR_BAD_HEADER'],
    ['META of 2000 spaces', `20 ${' '.repeat(2000)}\r\n`, 'ERR_HEADER_TOO_LONG'],
    ['META that is not UTF-8', Buffer.concat([Buffer.from('20 text/plain; x='), Buffer.from([0xff, 0xfe]), Buffer.from('\r\n')]), 'ERR_BAD_HEADER'],
    ['META starting with a BOM', '20 \uFEFFtext/plain\r\n', 'ERR_BAD_HEADER'],
    ['header cut before its line ending', '20 text/pl', 'ERR_BAD_HEADER'],
  ];
  for (const [name, bytes, code] of errors) {
    it(`${name} -> ${code}`, async () => {
      const server = await serve(sendRaw(bytes));
      const err = await rejection(client.fetch(server.url()));
      expect(err.code).toBe(code);
      expect(err.url).toBe(server.url());
      expect(err.message).toContain(server.url()); // the CLI prints the message after the URL *requested*, which may differ
    });
  }

  it('a bad header after a redirect names the URL that sent it', async () => {
    const server = await serve(routes({ '/a': redirect('/b'), '/b': sendRaw('2x oops\r\n') }));
    const err = await rejection(client.fetch(server.url('/a')));
    expect(err.code).toBe('ERR_BAD_HEADER');
    expect(err.url).toBe(server.url('/b'));
    expect(err.message).toContain(server.url('/b'));
    expect(err.message).toContain('2x oops');
  });

  it('a bare LF line ending is rejected with ERR_BAD_HEADER naming the URL (the spec requires CRLF)', async () => {
    const server = await serve(sendRaw('20 text/plain\nbody'));
    const err = await rejection(client.fetch(server.url('/lf')));
    expect(err.code).toBe('ERR_BAD_HEADER');
    expect(err.url).toBe(server.url('/lf'));
    expect(err.message).toContain('bare LF; Gemini requires CRLF');
    expect(err.message).toContain(server.url('/lf'));
  });

  it('`20\\r\\n` (no space, no META) means text/gemini; charset=utf-8', async () => {
    const server = await serve(sendRaw('20\r\n# hi\n'));
    const res = await client.fetch(server.url());
    expect(res).toMatchObject({ status: 20, meta: '', mimeType: 'text/gemini', charset: 'utf-8', complete: true });
    expect(res.text()).toBe('# hi\n');
  });

  it('`20 \\r\\n` (empty META) means text/gemini', async () => {
    const server = await serve(sendRaw('20 \r\nx'));
    const res = await client.fetch(server.url());
    expect(res).toMatchObject({ status: 20, meta: '', mimeType: 'text/gemini', charset: 'utf-8' });
  });

  it('a TAB separator is tolerated (`51\\tnot found`)', async () => {
    const server = await serve(sendRaw('51\tnot found\r\n'));
    const res = await client.fetch(server.url());
    expect(res).toMatchObject({ status: 51, category: 5, meta: 'not found', complete: true });
  });

  it('a META of exactly 1024 bytes is accepted', async () => {
    const meta = `x${' '.repeat(1022)}y`;
    const server = await serve(sendRaw(`40 ${meta}\r\n`));
    const res = await client.fetch(server.url());
    expect(res.meta).toBe(meta);
  });
});

describe('status codes', () => {
  it('unknown codes act by their first digit: 29 success, 49 and 58 failures, 19 input, 69 certificate', async () => {
    const server = await serve(
      routes({
        '/29': respondWith('29 text/plain', 'body of 29'),
        '/49': respondWith('49 slow down, sort of'),
        '/58': respondWith('58 odd failure', 'ignored body'),
        '/19': respondWith('19 say something'),
        '/69': respondWith('69 certificate thing'),
      }),
    );
    const r29 = await client.fetch(server.url('/29'));
    expect(r29).toMatchObject({ status: 29, category: 2, ok: true, mimeType: 'text/plain', complete: true });
    expect(r29.text()).toBe('body of 29');
    const r49 = await client.fetch(server.url('/49'));
    expect(r49).toMatchObject({ status: 49, category: 4, ok: false, mimeType: undefined, meta: 'slow down, sort of' });
    const r58 = await client.fetch(server.url('/58'));
    expect(r58).toMatchObject({ status: 58, category: 5, complete: true });
    expect(r58.body.length).toBe(0); // only 2x responses have a body
    expect((await client.fetch(server.url('/19'))).category).toBe(1);
    expect((await client.fetch(server.url('/69'))).category).toBe(6);
  });

  it('39 is a redirect and is followed', async () => {
    const server = await serve(routes({ '/39': respondWith('39 /target'), '/target': respondWith('20 text/plain', 'landed') }));
    const res = await client.fetch(server.url('/39'));
    expect(res.url).toBe(server.url('/target'));
    expect(res.redirects).toEqual([server.url('/39')]);
    expect(res.text()).toBe('landed');
  });
});

describe('MIME type, charset and lang', () => {
  it('parses parameters case-insensitively, with a quoted lang, ignoring others', async () => {
    const server = await serve(respondWith('20 Text/Gemini; CHARSET=UTF-8; format=flowed; lang="en,fr"', 'hi'));
    const res = await client.fetch(server.url());
    expect(res).toMatchObject({ mimeType: 'text/gemini', charset: 'utf-8', lang: 'en,fr' });
    expect(res.meta).toBe('Text/Gemini; CHARSET=UTF-8; format=flowed; lang="en,fr"');
  });

  it('text() decodes ISO-8859-1', async () => {
    const server = await serve(respondWith('20 text/plain; charset=iso-8859-1', Buffer.from([0x63, 0x61, 0x66, 0xe9])));
    const res = await client.fetch(server.url());
    expect(res.charset).toBe('iso-8859-1');
    expect(res.text()).toBe('café');
  });

  it('text() decodes windows-1252', async () => {
    const server = await serve(respondWith('20 text/plain; charset=windows-1252', Buffer.from([0x80, 0x20, 0x93, 0x71, 0x94])));
    const res = await client.fetch(server.url());
    expect(res.text()).toBe('€ “q”');
  });

  it('text() defaults to UTF-8', async () => {
    const server = await serve(respondWith('20 text/gemini', 'héllo ☃'));
    expect((await client.fetch(server.url())).text()).toBe('héllo ☃');
  });
});

describe('URLs', () => {
  it('rejects bad URLs before any connection is made', async () => {
    const server = await serve(respondWith('20 text/plain', 'x'));
    const hostPort = `127.0.0.1:${server.port}`;
    const cases: Array<[string, string]> = [
      [`gemini://user@${hostPort}/`, 'ERR_INVALID_URL'],
      [`gemini://user:pass@${hostPort}/`, 'ERR_INVALID_URL'],
      [`https://${hostPort}/`, 'ERR_INVALID_URL'],
      [`gopher://${hostPort}/`, 'ERR_INVALID_URL'],
      ['/relative/path', 'ERR_INVALID_URL'],
      ['relative', 'ERR_INVALID_URL'],
      [`gemini://${hostPort}/a\r\nb`, 'ERR_INVALID_URL'],
    ];
    for (const [url, code] of cases) {
      const err = await rejection(client.fetch(url));
      expect(err.code, url).toBe(code);
    }
    await sleep(20);
    expect(server.connectionCount).toBe(0);
  });

  it('rejects a 1025-byte request URL (saying how long it was) and sends a 1024-byte one', async () => {
    const server = await serve(respondWith('20 text/plain', 'ok'));
    const prefix = server.url('/');
    const url1024 = prefix + 'a'.repeat(1024 - prefix.length);
    const err = await rejection(client.fetch(`${url1024}b`));
    expect(err.code).toBe('ERR_URL_TOO_LONG');
    expect(err.message).toContain('1025');
    expect(server.connectionCount).toBe(0);
    const res = await client.fetch(url1024);
    expect(res.complete).toBe(true);
    expect(server.requests).toEqual([url1024]);
    expect(Buffer.byteLength(server.requests[0]!)).toBe(1024);
  });

  it('normalises on the wire: fragment stripped, dot segments removed, empty path sent as /', async () => {
    const server = await serve(respondWith('20 text/plain', 'ok'));
    await client.fetch(`${server.url('/a/./b/../c')}?q=1#fragment`);
    await client.fetch(`gemini://127.0.0.1:${server.port}`);
    await client.fetch(`GEMINI://127.0.0.1:${server.port}/sp ace/é`);
    expect(server.requests).toEqual([
      server.url('/a/c?q=1'),
      server.url('/'),
      server.url('/sp%20ace/%C3%A9'),
    ]);
  });

  it('drops the default port from the request line', async () => {
    const server = await serve(respondWith('20 text/plain', 'ok'));
    // The proxy option sends the request to our server while the URL keeps port 1965.
    const res = await client.fetch('gemini://localhost:1965/x', { proxy: { host: '127.0.0.1', port: server.port } });
    expect(res.url).toBe('gemini://localhost/x');
    expect(server.requests).toEqual(['gemini://localhost/x']);
  });

  it('sends SNI for host names and none for IPv4 literals', async () => {
    const seen: Array<string | false | undefined> = [];
    const server = await serve((ctx: RequestContext) => {
      seen.push((ctx.tls as unknown as { servername?: string | false }).servername);
      return ctx.respond('20 text/plain', 'ok');
    });
    await client.fetch(`gemini://localhost:${server.port}/`);
    await client.fetch(server.url());
    expect(seen[0]).toBe('localhost');
    expect(seen[1] || undefined).toBeUndefined();
    expect(server.requests).toEqual([`gemini://localhost:${server.port}/`, server.url()]);
  });

  it('IDN host: punycode in the request line and in SNI', async () => {
    const seen: Array<string | false | undefined> = [];
    const server = await serve((ctx: RequestContext) => {
      seen.push((ctx.tls as unknown as { servername?: string | false }).servername);
      return ctx.respond('20 text/plain', 'ok');
    });
    // No DNS for this name here: answer the lookup for it (only) with loopback. The sockets stay real.
    const ascii = 'xn--bcher-kva.localhost';
    const original = dns.lookup;
    const lookups: string[] = [];
    const patched = (host: string, options: unknown, callback?: unknown): void => {
      const cb = (typeof options === 'function' ? options : callback) as (...args: unknown[]) => void;
      const opts = (typeof options === 'object' && options !== null ? options : {}) as { all?: boolean };
      lookups.push(host);
      if (host !== ascii) return void (original as (...args: unknown[]) => void)(host, options, callback);
      if (opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
      else cb(null, '127.0.0.1', 4);
    };
    (dns as { lookup: unknown }).lookup = patched;
    try {
      const res = await client.fetch(`gemini://bücher.localhost:${server.port}/é`);
      expect(res.complete).toBe(true);
    } finally {
      (dns as { lookup: unknown }).lookup = original;
    }
    expect(lookups).toContain(ascii);
    expect(server.requests).toEqual([`gemini://${ascii}:${server.port}/%C3%A9`]);
    expect(seen).toEqual([ascii]);
  });

  it('IPv6 literal [::1] works, without SNI', async (testContext) => {
    let server: GeminiTestServer;
    try {
      server = await serve(
        (ctx: RequestContext) => ctx.respond('20 text/plain', String((ctx.tls as unknown as { servername?: string | false }).servername || '')),
        { host: '::1' },
      );
    } catch (error) {
      testContext.skip(`::1 is not available here: ${(error as Error).message}`);
      return;
    }
    const res = await client.fetch(`gemini://[::1]:${server.port}/v6`);
    expect(res.complete).toBe(true);
    expect(res.text()).toBe(''); // no SNI
    expect(server.requests).toEqual([`gemini://[::1]:${server.port}/v6`]);
  });
});

describe('redirects', () => {
  /** /r/N/END redirects to /r/N+1/END until N = END, which answers 20. */
  function chainHandler(ctx: RequestContext): Promise<void> {
    const m = /^\/r\/(\d+)\/(\d+)$/.exec(ctx.url?.pathname ?? '');
    if (!m) return ctx.respond('51 Not found');
    const [n, end] = [Number(m[1]), Number(m[2])];
    return n < end ? ctx.respond(`30 /r/${n + 1}/${end}`) : ctx.respond('20 text/plain', `end ${n}`);
  }

  it('follows a chain of 3 and records it', async () => {
    const server = await serve(chainHandler);
    const res = await client.fetch(server.url('/r/0/3'));
    expect(res.url).toBe(server.url('/r/3/3'));
    expect(res.redirects).toEqual([server.url('/r/0/3'), server.url('/r/1/3'), server.url('/r/2/3')]);
    expect(res.text()).toBe('end 3');
    expect(res.complete).toBe(true);
    expect(res.redirectNotFollowed).toBeUndefined();
  });

  it('resolves relative targets and does not carry the old query', async () => {
    const server = await serve(
      routes({
        '/dir/start': respondWith('30 ../other/./next'),
        '/other/next': respondWith('31 last'),
        '/other/last': (ctx) => ctx.respond(`30 //localhost:${server.port}/final`),
        '/final': respondWith('20 text/plain', 'final'),
      }),
    );
    const res = await client.fetch(`${server.url('/dir/start')}?old=query`);
    expect(server.requests).toEqual([
      `${server.url('/dir/start')}?old=query`,
      server.url('/other/next'),
      server.url('/other/last'),
      `gemini://localhost:${server.port}/final`,
    ]);
    expect(res.text()).toBe('final');
    expect(res.url).toBe(`gemini://localhost:${server.port}/final`);
  });

  it('detects a loop (ERR_REDIRECT_LOOP), also a redirect to itself', async () => {
    const server = await serve(routes({ '/a': redirect('/b'), '/b': redirect('/a'), '/self': redirect('/self') }));
    const err = await rejection(client.fetch(server.url('/a')));
    expect(err.code).toBe('ERR_REDIRECT_LOOP');
    expect((err as RedirectError).chain).toEqual([server.url('/a'), server.url('/b')]);
    expect((err as RedirectError).target).toBe(server.url('/a'));
    expect((await rejection(client.fetch(server.url('/self')))).code).toBe('ERR_REDIRECT_LOOP');
    expect(server.requests).toEqual([server.url('/a'), server.url('/b'), server.url('/self')]);
  });

  it('follows 5 redirects by default and refuses a 6th (ERR_TOO_MANY_REDIRECTS)', async () => {
    const server = await serve(chainHandler);
    const five = await client.fetch(server.url('/r/0/5'));
    expect(five.text()).toBe('end 5');
    expect(five.redirects).toHaveLength(5);
    const before = server.requests.length;
    const err = await rejection(client.fetch(server.url('/r/0/6')));
    expect(err.code).toBe('ERR_TOO_MANY_REDIRECTS');
    expect((err as RedirectError).chain).toHaveLength(6);
    expect(server.requests.length - before).toBe(6); // the 7th URL was never requested
    expect((await rejection(client.fetch(server.url('/r/0/3'), { maxRedirects: 2 }))).code).toBe('ERR_TOO_MANY_REDIRECTS');
  });

  it('maxRedirects 0 returns the redirect unfollowed (disabled)', async () => {
    const server = await serve(chainHandler);
    const res = await client.fetch(server.url('/r/0/1'), { maxRedirects: 0 });
    expect(res).toMatchObject({ status: 30, meta: '/r/1/1', complete: true });
    expect(res.redirectNotFollowed).toEqual({ target: server.url('/r/1/1'), reason: 'disabled' });
    expect(server.requests).toHaveLength(1);
  });

  it('never follows a redirect to another scheme', async () => {
    const server = await serve(routes({ '/https': redirect('https://example.org/x'), '/gopher': redirect('gopher://example.org/1/') }));
    const res = await client.fetch(server.url('/https'));
    expect(res.status).toBe(30);
    expect(res.redirectNotFollowed).toEqual({ target: 'https://example.org/x', reason: 'other-scheme' });
    const gopher = await client.fetch(server.url('/gopher'));
    expect(gopher.redirectNotFollowed?.reason).toBe('other-scheme');
    expect(server.requests).toEqual([server.url('/https'), server.url('/gopher')]);
  });

  it('cross-host policy: false or a function returning false stops, true follows', async () => {
    const server = await serve(routes({ '/go': (ctx) => ctx.respond(`30 gemini://localhost:${server.port}/there`), '/there': respondWith('20 text/plain', 'there') }));
    const stopped = await client.fetch(server.url('/go'), { crossHostRedirects: false });
    expect(stopped.redirectNotFollowed).toEqual({ target: `gemini://localhost:${server.port}/there`, reason: 'cross-host' });
    const asked: Array<[string, string]> = [];
    const refused = await client.fetch(server.url('/go'), {
      crossHostRedirects: (from, to) => {
        asked.push([from, to]);
        return false;
      },
    });
    expect(refused.redirectNotFollowed?.reason).toBe('cross-host');
    expect(asked).toEqual([[server.url('/go'), `gemini://localhost:${server.port}/there`]]);
    const followed = await client.fetch(server.url('/go'), { crossHostRedirects: () => true });
    expect(followed.text()).toBe('there');
    expect(followed.url).toBe(`gemini://localhost:${server.port}/there`);
  });

  it('an unusable redirect target rejects with ERR_BAD_REDIRECT (the server is at fault) and closes the connection', async () => {
    const targets: Array<[string, RegExp]> = [
      ['gemini://bad host/', /host contains whitespace/],
      ['gemini://', /empty host/],
      ['gemini:nohost', /no host/],
      ['gemini://example.org:99999/', /port 99999 is out of range/],
    ];
    for (const [target, reason] of targets) {
      const server = await serve(redirect(target));
      const err = await rejection(client.fetch(server.url()));
      expect(err).toBeInstanceOf(RedirectError);
      expect(err.code).toBe('ERR_BAD_REDIRECT');
      expect(err.url).toBe(server.url());
      expect((err as RedirectError).chain).toEqual([server.url()]);
      expect((err as RedirectError).target).toBe(target);
      expect(err.message).toContain(`${server.url()} redirected (status 30) to an invalid URL ${JSON.stringify(target)}`);
      expect(err.message).toMatch(reason);
      expect(err.message).not.toMatch(/invalid gemini URL/); // the reason only, not the URL twice
      await connectionsClosed(server);
    }
  });

  it('a redirect target over 1024 bytes is a bad redirect, with the chain so far', async () => {
    const long = `/${'x'.repeat(1010)}`; // fits in META, but not in a request once resolved
    const server = await serve(routes({ '/a': redirect('/b', 31), '/b': redirect(long) }));
    const err = await rejection(client.fetch(server.url('/a')));
    expect(err.code).toBe('ERR_BAD_REDIRECT');
    expect((err as RedirectError).chain).toEqual([server.url('/a'), server.url('/b')]);
    expect((err as RedirectError).target).toBe(server.url(long));
    expect(err.message).toContain(`${server.url('/b')} redirected (status 30)`);
    expect(err.message).toContain('1024 bytes');
    expect(server.requests).toEqual([server.url('/a'), server.url('/b')]);
  });

  it('an invalid gemini target with redirects off is returned, not an error', async () => {
    const server = await serve(redirect('gemini://'));
    const res = await client.fetch(server.url(), { maxRedirects: 0 });
    expect(res.redirectNotFollowed).toEqual({ target: 'gemini://', reason: 'disabled' });
  });

  it('follows a 30 -> 31 -> 20 chain', async () => {
    const server = await serve(routes({ '/30': redirect('/31', 30), '/31': redirect('/20', 31), '/20': respondWith('20 text/plain', 'ok') }));
    const res = await client.fetch(server.url('/30'));
    expect(res.redirects).toEqual([server.url('/30'), server.url('/31')]);
    expect(res.status).toBe(20);
  });
});

describe('input', () => {
  const answer = '1% + #x = -1 & ?';

  it('returns 10 and 11 as they are without the input option', async () => {
    const server = await serve(routes({ '/q': inputPrompt('Your name?'), '/s': inputPrompt('Password?', { sensitive: true }) }));
    const res = await client.fetch(server.url('/q'));
    expect(res).toMatchObject({ status: 10, category: 1, meta: 'Your name?', complete: true });
    expect((await client.fetch(server.url('/s'))).status).toBe(11);
    expect(server.requests).toHaveLength(2);
  });

  for (const [status, sensitive] of [
    [10, false],
    [11, true],
  ] as const) {
    it(`answers a ${status} prompt once with the percent-encoded input, replacing the query`, async () => {
      const server = await serve(inputPrompt('Say?', { sensitive }));
      const res = await client.fetch(`${server.url('/q')}?`, { input: answer });
      expect(res.status).toBe(20);
      expect(res.text()).toBe(answer);
      expect(server.requests).toEqual([`${server.url('/q')}?`, `${server.url('/q')}?1%25%20%2B%20%23x%20%3D%20-1%20%26%20%3F`]);
    });
  }

  it('answers only once: a second prompt is returned', async () => {
    const server = await serve(respondWith('10 again?'));
    const res = await client.fetch(server.url('/q?old'), { input: 'x' });
    expect(res.status).toBe(10);
    expect(server.requests).toEqual([server.url('/q?old'), server.url('/q?x')]);
  });
});

describe('client certificates', () => {
  it('60 without a certificate, 20 with cert + key (the server sees it)', async () => {
    const server = await serve(requireClientCertificate('need one'), { requestCert: true });
    const none = await client.fetch(server.url());
    expect(none).toMatchObject({ status: 60, meta: 'need one' });
    expect(none.tls.clientCertificate).toBe(false);
    const identity = createCertificate({ commonName: 'me' });
    const res = await client.fetch(server.url(), { cert: identity.cert, key: identity.key });
    expect(res.status).toBe(20);
    expect(res.text()).toBe(identity.fingerprint);
    expect(res.tls.clientCertificate).toBe(true);
  });

  it('cert without key is ERR_INVALID_OPTION', async () => {
    const identity = createCertificate({ commonName: 'me' });
    expect((await rejection(client.fetch('gemini://127.0.0.1:1/', { cert: identity.cert }))).code).toBe('ERR_INVALID_OPTION');
  });
});

describe('TLS versions and sessions', () => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`works with a ${version}-only server and reports the protocol`, async () => {
      const server = await serve(respondWith('20 text/plain', 'v'), { minVersion: version, maxVersion: version });
      const res = await client.fetch(server.url());
      expect(res.complete).toBe(true);
      expect(res.tls.protocol).toBe(version);
      expect(res.tls.cipher).toMatch(/^TLS_/);
      expect(res.tls.fingerprint).toBe(server.cert.fingerprint);
    });

    it(`${version}: a resumed session keeps the certificate, the trust check and the verdict`, async () => {
      const server = await serve(
        routes({ '/ok': respondWith('20 text/plain', 'ok'), '/fin': respondWith('20 text/plain', 'cut', 'fin') }),
        { minVersion: version, maxVersion: version },
      );
      const own = new Client(INSECURE_OPTIONS);
      const first = await own.fetch(server.url('/ok'));
      expect(first.tls.resumed).toBe(false);
      await sleep(20); // TLS 1.3 tickets arrive after the handshake
      const second = await own.fetch(server.url('/ok'));
      expect(second.tls.resumed).toBe(true);
      expect(second.tls.fingerprint).toBe(server.cert.fingerprint);
      expect(second.complete).toBe(true);
      const cut = await own.fetch(server.url('/fin'));
      expect(cut.tls.resumed).toBe(true);
      expect(cut).toMatchObject({ complete: false, termination: 'tcp_fin' });
      const fresh = await own.fetch(server.url('/ok'), { sessionResumption: false });
      expect(fresh.tls.resumed).toBe(false);
    });
  }

  it('refuses to negotiate below TLS 1.2', async () => {
    const server = await serve(respondWith('20 text/plain', 'old'), { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' });
    expect((await rejection(client.fetch(server.url()))).code).toBe('ERR_TLS');
  });
});
