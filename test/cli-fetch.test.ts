/**
 * The real `gemfetch` command (bin/gemfetch.js over dist/) against the
 * scriptable test server on 127.0.0.1, with pipes: output, exit codes,
 * files, limits, trust, input, redirects.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificate } from '../src/trust/selfsigned.js';
import {
  bigBody,
  bigBodyPattern,
  dribble,
  inputPrompt,
  redirect,
  requireClientCertificate,
  respondWith,
  routes,
  sendRaw,
  stall,
  startGeminiServer,
  type GeminiTestServer,
} from './support/gemini-server.js';
import { cliFixture, runCli, scratchDirs, type CliResult } from './support/cli.js';

const PAGE = '# Hello\r\n\r\nSome text with \x1b[31mescapes\x1b[0m.\n=> /next Next\n';
const BINARY = crypto.randomBytes(3000);

const scratch = scratchDirs();
const cli = cliFixture(
  routes({
    '/': respondWith('20 text/gemini; charset=utf-8', PAGE),
    '/bin': respondWith('20 application/octet-stream', BINARY),
    '/cut': respondWith('20 text/gemini', 'cut here', 'fin'),
    '/reset': respondWith('20 text/plain', 'partial', 'reset'),
    '/big': (ctx) => bigBody(ctx, 200_000),
    '/stall-body': respondWith('20 text/plain', 'first bytes', 'none'),
    '/stall': stall(),
    '/temp': respondWith('40 Try later'),
    '/slow-down': respondWith('44 5'),
    '/missing': respondWith('51 Not found \x1b]0;pwned\x07here'),
    '/cert': respondWith('60 Certificate required'),
    '/input': inputPrompt('What is your name?'),
    '/secret': inputPrompt('Password?', { sensitive: true }),
    '/to-https': redirect('https://example.org/'),
    '/loop-a': redirect('/loop-b'),
    '/loop-b': redirect('/loop-a'),
    '/hop': redirect('/'),
    '/bad-redirect': redirect('gemini:nohost'),
    '/empty': respondWith('20 text/plain', ''),
    '/bad-header': sendRaw('2x oops\r\n'),
    '/bare-lf': sendRaw('20 text/plain\nbody\n'),
    '/dir/file.txt': respondWith('20 text/plain', 'file body'),
    '/echo-request': (ctx) => ctx.respond('20 text/plain', ctx.request),
    '/endless': async (ctx) => {
      await ctx.write('20 text/plain\r\n');
      try {
        while (!ctx.closed) await ctx.write(Buffer.alloc(16 * 1024, 0x7a));
      } catch {
        // the client went away
      }
    },
  }),
);

function gemfetch(args: string[], options: Parameters<typeof runCli>[2] = {}): Promise<CliResult> {
  return runCli(cli.home, args, options);
}

describe.concurrent('piped output', () => {
  it('writes the body byte for byte (text/gemini too) and exits 0 when complete', async () => {
    const r = await gemfetch([cli.server.url('/')]);
    expect(r.code).toBe(0);
    expect(r.stdout.equals(Buffer.from(PAGE))).toBe(true);
    expect(r.stderr).toBe('');
  });

  it('keeps binary bodies intact', async () => {
    const r = await gemfetch([cli.server.url('/bin')]);
    expect(r.code).toBe(0);
    expect(r.stdout.equals(BINARY)).toBe(true);
  });

  it('streams a large body in full', async () => {
    const r = await gemfetch([cli.server.url('/big')]);
    expect(r.code).toBe(0);
    expect(r.stdout.equals(bigBodyPattern(200_000))).toBe(true);
  });

  it('accepts schemeless URLs', async () => {
    const r = await gemfetch([`127.0.0.1:${cli.server.port}/empty`]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
  });

  it('-i prints the header line first, -I only the header', async () => {
    const i = await gemfetch(['-i', cli.server.url('/dir/file.txt')]);
    expect(i.stdout.toString()).toBe('20 text/plain\r\nfile body');
    const head = await gemfetch(['-I', cli.server.url('/big')]);
    expect(head.code).toBe(0);
    expect(head.stdout.toString()).toBe('20 application/octet-stream\r\n');
  });
});

describe.concurrent('incomplete responses', () => {
  it('warns about a missing close_notify and exits 3; --allow-incomplete exits 0', async () => {
    const r = await gemfetch([cli.server.url('/cut')]);
    expect(r.code).toBe(3);
    expect(r.stdout.toString()).toBe('cut here');
    expect(r.stderr).toContain('no TLS close_notify: the server closed TCP (possible truncation)');
    const allowed = await gemfetch(['--allow-incomplete', cli.server.url('/cut')]);
    expect(allowed.code).toBe(0);
    expect(allowed.stderr).toContain('no TLS close_notify');
  });

  it('-q silences the warning but not the exit code', async () => {
    const r = await gemfetch(['-q', cli.server.url('/cut')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('');
  });

  it('names --max-size when it cut the body', async () => {
    const r = await gemfetch(['--max-size', '10K', cli.server.url('/big')]);
    expect(r.code).toBe(3);
    expect(r.stdout.length).toBe(10 * 1024);
    expect(r.stdout.equals(bigBodyPattern(10 * 1024))).toBe(true);
    expect(r.stderr).toContain('stopped at --max-size 10K');
  });

  it('names the idle timeout and --max-time', async () => {
    // Limits long enough for a loaded machine to start Node and finish the handshake before they
    // run out: the body stalls forever after its first bytes, so only the limit can end it.
    const idle = await gemfetch(['--idle-timeout', '1s', cli.server.url('/stall-body')]);
    expect(idle.code).toBe(3);
    expect(idle.stdout.toString()).toBe('first bytes');
    expect(idle.stderr).toContain('idle timeout 1s');
    const total = await gemfetch(['--max-time', '3s', cli.server.url('/stall-body')]);
    expect(total.code).toBe(3);
    expect(total.stderr).toContain('stopped at --max-time 3s');
  });

  it('reports a reset', async () => {
    const r = await gemfetch([cli.server.url('/reset')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/connection reset|no TLS close_notify/);
  });
});

describe.concurrent('exit codes for failures', () => {
  it('1: nothing listening, header timeout, malformed header', async () => {
    const closed = await startGeminiServer({ handler: stall() });
    const port = closed.port;
    await closed.close();
    const refused = await gemfetch([`gemini://127.0.0.1:${port}/`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^gemfetch: cannot connect to 127\.0\.0\.1:\d+ \(gemini:\/\/127\.0\.0\.1:\d+\/\): .+/);
    expect(refused.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const slow = await gemfetch(['--header-timeout', '200ms', cli.server.url('/stall')]);
    expect(slow.code).toBe(1);
    expect(slow.stderr).toMatch(/timeout/);
    const bad = await gemfetch([cli.server.url('/bad-header')]);
    expect(bad.code).toBe(1);
    const bareLf = await gemfetch([cli.server.url('/bare-lf')]);
    expect(bareLf.code).toBe(1);
    expect(bareLf.stderr).toContain('bare LF; Gemini requires CRLF');
    expect(bareLf.stdout).toHaveLength(0);
  });

  it('2: invalid URLs and bad options', async () => {
    expect((await gemfetch(['https://example.org/'])).code).toBe(2);
    expect((await gemfetch(['gemini://'])).code).toBe(2);
    const bad = await gemfetch(['--max-size', 'huge', cli.server.url('/')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid size (--max-size): "huge" is not a number of bytes');
    expect(bad.stderr).toContain("Try 'gemfetch --help'");
    expect((await gemfetch(['--bogus', cli.server.url('/')])).code).toBe(2);
    expect((await gemfetch([])).code).toBe(2);
    expect((await gemfetch(['-4', '-6', cli.server.url('/')])).code).toBe(2);
    expect((await gemfetch(['-o', 'x', cli.server.url('/'), cli.server.url('/')])).code).toBe(2);
    expect((await gemfetch(['--tofu', 'maybe', cli.server.url('/')])).code).toBe(2);
  }, 90_000); // a dozen CLI processes one after another: give a loaded machine time

  it('4, 5, 6: failure statuses, shown with their name and META (control characters removed)', async () => {
    const temp = await gemfetch([cli.server.url('/temp')]);
    expect(temp.code).toBe(4);
    expect(temp.stderr).toContain(`40 temporary failure (${cli.server.url('/temp')}): Try later.`);
    expect((await gemfetch([cli.server.url('/slow-down')])).code).toBe(4);
    const missing = await gemfetch([cli.server.url('/missing')]);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain(`51 not found (${cli.server.url('/missing')}): Not found ?]0;pwned?here.`);
    expect(missing.stderr).not.toMatch(/[\x1b\x07]/);
    const cert = await gemfetch([cli.server.url('/cert')]);
    expect(cert.code).toBe(6);
    expect(cert.stderr).toContain('60 client certificate required');
  });

  it('7: input required without a terminal or --input, with the prompt on stderr', async () => {
    const r = await gemfetch([cli.server.url('/input')]);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('What is your name?');
    expect(r.stderr).toContain('--input');
  });

  it('--input answers the prompt (percent-encoded query)', async () => {
    const r = await gemfetch(['--input', '1% + #x = -1 & ?', cli.server.url('/input')]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('1% + #x = -1 & ?');
  });

  it('8: other scheme, loop, and --max-redirects 0', async () => {
    const other = await gemfetch([cli.server.url('/to-https')]);
    expect(other.code).toBe(8);
    expect(other.stderr).toContain('https://example.org/');
    expect(other.stderr).toContain('another scheme');
    const loop = await gemfetch([cli.server.url('/loop-a')]);
    expect(loop.code).toBe(8);
    expect(loop.stderr).toMatch(/loop/);
    const off = await gemfetch(['--max-redirects', '0', cli.server.url('/hop')]);
    expect(off.code).toBe(8);
    const followed = await gemfetch(['--max-redirects', '1', cli.server.url('/hop')]);
    expect(followed.code).toBe(0);
    expect(followed.stdout.toString()).toBe(PAGE);
  });

  it('8: a redirect to an invalid URL blames the server, not the URL given, and keeps the chain', async () => {
    const r = await gemfetch([cli.server.url('/bad-redirect')]);
    expect(r.code).toBe(8);
    expect(r.stderr).toContain(`bad redirect (${cli.server.url('/bad-redirect')}): it redirected (status 30) to an invalid URL "gemini:nohost"`);
    expect(r.stderr).not.toContain('a URL looks like');
    const json = await gemfetch(['--json', cli.server.url('/bad-redirect')]);
    expect(json.code).toBe(8);
    const record = JSON.parse(json.stdout.toString().trim().split('\n')[0]!) as { error: { code: string }; redirects: string[] };
    expect(record.error.code).toBe('ERR_BAD_REDIRECT');
    expect(record.redirects).toEqual([cli.server.url('/bad-redirect')]);
  });

  it('combines the exit codes of several URLs, fetching all of them in order', async () => {
    const r = await gemfetch([cli.server.url('/dir/file.txt'), cli.server.url('/cut'), cli.server.url('/missing'), cli.server.url('/empty')]);
    expect(r.stdout.toString()).toBe('file bodycut here');
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('/cut');
    expect(r.stderr).toContain('/missing');
  });
});

describe.concurrent('--json', () => {
  it('prints one record per URL with the documented fields', async () => {
    const r = await gemfetch(['--json', cli.server.url('/'), cli.server.url('/cut'), `127.0.0.1:1/x`]);
    const lines = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    const [ok, cut, failed] = lines as [Record<string, any>, Record<string, any>, Record<string, any>];
    for (const key of ['url', 'status', 'meta', 'complete', 'termination', 'bytes', 'sha256', 'redirects', 'tls', 'timings', 'error']) {
      expect(ok).toHaveProperty(key);
    }
    expect(ok).toMatchObject({ status: 20, complete: true, termination: 'close_notify', bytes: Buffer.byteLength(PAGE), error: null });
    expect(ok.sha256).toBe(crypto.createHash('sha256').update(PAGE).digest('hex'));
    expect(ok.tls.fingerprint).toBe(cli.server.cert.fingerprint);
    expect(ok.tls.trust).toMatch(/first-use|match/);
    expect(cut).toMatchObject({ status: 20, complete: false, termination: 'tcp_fin', bytes: 8 });
    expect(failed.status).toBeNull();
    expect(failed.error.code).toBe('ERR_CONNECT');
    expect(r.code).toBe(1);
  });

  it('records redirects and with -o still writes the body to the file', async () => {
    const dir = scratch();
    const file = path.join(dir, 'page.gmi');
    const r = await gemfetch(['--json', '-o', file, cli.server.url('/hop')]);
    const rec = JSON.parse(r.stdout.toString()) as { redirects: string[]; finalUrl: string };
    expect(rec.redirects).toEqual([cli.server.url('/hop')]);
    expect(rec.finalUrl).toBe(cli.server.url('/'));
    expect(fs.readFileSync(file, 'utf8')).toBe(PAGE);
  });
});

describe.concurrent('-o, -O and --output-dir', () => {
  it('-o writes the file and leaves no .partial when complete', async () => {
    const dir = scratch();
    const file = path.join(dir, 'out.bin');
    const r = await gemfetch(['-o', file, cli.server.url('/bin')]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(fs.readFileSync(file).equals(BINARY)).toBe(true);
    expect(fs.existsSync(`${file}.partial`)).toBe(false);
  });

  it('keeps an incomplete body as NAME.partial and says so', async () => {
    const dir = scratch();
    const file = path.join(dir, 'cut.gmi');
    const r = await gemfetch(['-o', file, cli.server.url('/cut')]);
    expect(r.code).toBe(3);
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readFileSync(`${file}.partial`, 'utf8')).toBe('cut here');
    expect(r.stderr).toContain(`${file}.partial`);
  });

  it('creates no file for a failure status', async () => {
    const dir = scratch();
    const r = await gemfetch(['-o', path.join(dir, 'x'), cli.server.url('/missing')]);
    expect(r.code).toBe(5);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('-o - forces the body to stdout', async () => {
    const r = await gemfetch(['-o', '-', cli.server.url('/bin')]);
    expect(r.stdout.equals(BINARY)).toBe(true);
  });

  it('-O names files after the URL (index.gmi for /) inside --output-dir', async () => {
    const dir = scratch();
    const r = await gemfetch(['-O', '--output-dir', dir, cli.server.url('/dir/file.txt'), cli.server.url('/')]);
    expect(r.code).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(['file.txt', 'index.gmi']);
    expect(fs.readFileSync(path.join(dir, 'index.gmi'), 'utf8')).toBe(PAGE);
  });

  it('-O writes to the current directory', async () => {
    const dir = scratch();
    const r = await gemfetch(['-O', cli.server.url('/dir/file.txt')], { cwd: dir });
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'file.txt'), 'utf8')).toBe('file body');
  });

  it('never writes outside the output directory, whatever the URL path', async () => {
    const parent = scratch();
    const dir = path.join(parent, 'out');
    fs.mkdirSync(dir);
    const traversal = await startGeminiServer({ handler: respondWith('20 text/plain', 'x') });
    try {
      const paths = ['/a/..%2f..%2fescaped', '/%2e%2e%2f%2e%2e%2fescaped', '/%2e%2e', '/..%5c..%5cescaped', '/%2fetc%2fescaped', '/a%00b', '/.bashrc', '/..'];
      const r = await gemfetch(['-q', '--output-dir', dir, ...paths.map((p) => traversal.url(p))]);
      expect(r.code).toBe(0);
      expect(fs.readdirSync(parent)).toEqual(['out']);
      const written = fs.readdirSync(dir);
      expect(written.length).toBeGreaterThan(0);
      for (const name of written) {
        expect(name).not.toMatch(/^\./);
        expect(fs.statSync(path.join(dir, name)).isFile()).toBe(true);
      }
      expect(written).toContain('_bashrc');
    } finally {
      await traversal.close();
    }
  });
});

describe.concurrent('trust', () => {
  it('9: refuses a changed key before sending the request; -k accepts it', async () => {
    const dir = scratch();
    const knownHosts = path.join(dir, 'known_hosts');
    const other = createCertificate({ commonName: 'someone-else' });
    fs.writeFileSync(knownHosts, `127.0.0.1:${cli.server.port} ${other.fingerprint} 2099-01-01T00:00:00.000Z 2024-01-01T00:00:00.000Z\n`);
    const probe = cli.server.url('/echo-request?tofu-probe');
    const r = await gemfetch(['--known-hosts', knownHosts, probe]);
    expect(r.code).toBe(9);
    expect(r.stderr).toContain(`gemfetch tofu trust 127.0.0.1:${cli.server.port}`);
    expect(cli.server.requests).not.toContain(probe);
    const insecure = await gemfetch(['--known-hosts', knownHosts, '-k', cli.server.url('/echo-request')]);
    expect(insecure.code).toBe(0);
  });

  it('--tofu ca refuses a self-signed certificate, --ca makes one trusted', async () => {
    const dir = scratch();
    const ca = createCertificate({ commonName: 'Test CA', isCA: true });
    const leaf = createCertificate({ commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], issuer: { cert: ca.cert, key: ca.key } });
    const caFile = path.join(dir, 'ca.pem');
    fs.writeFileSync(caFile, ca.cert);
    const signed = await startGeminiServer({ cert: leaf, handler: respondWith('20 text/plain', 'signed') });
    try {
      const untrusted = await gemfetch(['--tofu', 'ca', signed.url('/')]);
      expect(untrusted.code).toBe(1);
      expect(untrusted.stderr).toMatch(/not trusted/);
      const trusted = await gemfetch(['--tofu', 'ca', '--ca', caFile, signed.url('/')]);
      expect(trusted.stderr).toBe('');
      expect(trusted.code).toBe(0);
      expect(trusted.stdout.toString()).toBe('signed');
    } finally {
      await signed.close();
    }
  });

  it('-v shows TLS version, cipher, fingerprint, trust decision, redirects and timings', async () => {
    const dir = scratch();
    const first = await gemfetch(['-v', '--known-hosts', path.join(dir, 'kh'), cli.server.url('/')]);
    expect(first.stderr).toMatch(/trust: first visit: key pinned in .*kh/);
    const r = await gemfetch(['-v', '--known-hosts', path.join(dir, 'kh'), cli.server.url('/hop')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/trust: key matches the pin/);
    expect(r.stderr).toMatch(/\* TLS: TLSv1\.[23], \S+/);
    expect(r.stderr).toContain(cli.server.cert.fingerprint);
    expect(r.stderr).toContain(`redirects: ${cli.server.url('/hop')} -> ${cli.server.url('/')}`);
    expect(r.stderr).toMatch(/timings: connect [\d.]+ ms, TLS [\d.]+ ms, header [\d.]+ ms, total [\d.]+ ms/);
    expect(r.stderr).toMatch(/end: complete/);
  });
});

describe.concurrent('client certificates', () => {
  let certServer: GeminiTestServer;
  let tls12Server: GeminiTestServer;
  let certFile: string;
  let keyFile: string;
  let fingerprint: string;

  beforeAll(async () => {
    const dir = scratch();
    const client = createCertificate({ commonName: 'me' });
    fingerprint = client.fingerprint;
    certFile = path.join(dir, 'me.crt');
    keyFile = path.join(dir, 'me.key');
    fs.writeFileSync(certFile, client.cert);
    fs.writeFileSync(keyFile, client.key);
    certServer = await startGeminiServer({ requestCert: true, handler: requireClientCertificate() });
    tls12Server = await startGeminiServer({ requestCert: true, maxVersion: 'TLSv1.2', handler: requireClientCertificate() });
  });
  afterAll(async () => {
    await certServer?.close();
    await tls12Server?.close();
  });

  it('6 without a certificate; --cert/--key sends it', async () => {
    expect((await gemfetch([certServer.url('/')])).code).toBe(6);
    const r = await gemfetch(['--cert', certFile, '--key', keyFile, certServer.url('/')]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(fingerprint);
    expect(r.stderr).not.toContain('TLS 1.2');
  });

  it('warns when the certificate went over TLS 1.2', async () => {
    const r = await gemfetch(['--cert', certFile, '--key', keyFile, tls12Server.url('/')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('TLS 1.2');
  });
});

describe.concurrent('network options', () => {
  it('--proxy sends the request to the proxy, unchanged', async () => {
    const r = await gemfetch(['--proxy', `127.0.0.1:${cli.server.port}`, 'gemini://far-away.example/echo-request']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('gemini://far-away.example/echo-request');
  });

  it('-4 connects over IPv4', async () => {
    const r = await gemfetch(['-4', `gemini://localhost:${cli.server.port}/echo-request`]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`gemini://localhost:${cli.server.port}/echo-request`);
  });

  it('--connect-timeout accepts durations', async () => {
    const r = await gemfetch(['--connect-timeout', '2s', cli.server.url('/empty')]);
    expect(r.code).toBe(0);
  });
});

describe.concurrent('interruption', () => {
  it('Ctrl-C stops the fetch, keeps the .partial file and exits 130', async () => {
    const dir = scratch();
    const file = path.join(dir, 'slow.txt');
    const r = await gemfetch(['-o', file, cli.server.url('/stall-body')], {
      onSpawn: (child) => {
        const poll = setInterval(() => {
          if (fs.existsSync(`${file}.partial`) && fs.statSync(`${file}.partial`).size > 0) {
            clearInterval(poll);
            child.kill('SIGINT');
          }
        }, 20);
        child.on('exit', () => clearInterval(poll));
      },
    });
    expect(r.code).toBe(130);
    expect(fs.readFileSync(`${file}.partial`, 'utf8')).toBe('first bytes');
    expect(r.stderr).toContain('interrupted');
  });
});

describe.concurrent('closed stdout', () => {
  it('stops quietly when the reader goes away (gemfetch URL | head)', async () => {
    const r = await gemfetch([cli.server.url('/endless')], {
      onSpawn: (child) => child.stdout!.once('data', () => child.stdout!.destroy()),
    });
    expect(r.code).toBe(1);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
  });
});

describe.concurrent('slow bodies', () => {
  it('streams a dribbled body completely', async () => {
    const slow = await startGeminiServer({
      handler: async (ctx) => {
        await ctx.write('20 text/plain\r\n');
        await dribble(ctx, 'abcdef', 5);
      },
    });
    try {
      const r = await gemfetch([slow.url('/')]);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('abcdef');
    } finally {
      await slow.close();
    }
  });
});
