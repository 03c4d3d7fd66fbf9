/**
 * Hostile input to identities through the real CLI (dist/), found by the
 * review of issue 13: files of the store or given on the command line that
 * are FIFOs (must fail at once, never wait for a writer), a private key
 * readable by others (fails closed naming the file), `id export -o` to a
 * place it cannot write (one line, exit 2, never "internal error"), and a
 * redirect carrying an identity to another host. Servers on 127.0.0.1 only.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificatePerPath, redirect, routes, startGeminiServer, type GeminiTestServer } from './support/gemini-server.js';
import { startTitanServer } from './support/titan-server.js';
import { requireBuild, runCli, scratchDirs, type CliResult } from './support/cli.js';

const scratch = scratchDirs();
let server: GeminiTestServer;
let other: GeminiTestServer;

beforeAll(async () => {
  requireBuild();
  other = await startGeminiServer({ requestCert: true, handler: certificatePerPath([]) });
  server = await startGeminiServer({
    requestCert: true,
    handler: routes({ '/app/away': redirect(other.url('/landing')) }, certificatePerPath(['/app'])),
  });
});
afterAll(async () => {
  await Promise.all([server?.close(), other?.close()]);
});

const newHome = (): string => scratch('gemfetch-idh-home-');
const gemfetch = (home: string, args: string[]): Promise<CliResult> => runCli(home, args, { timeoutMs: 30_000 });
async function create(home: string, name: string, ...extra: string[]): Promise<string> {
  const r = await gemfetch(home, ['id', 'create', name, '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.toString()).fingerprint as string;
}
const seenBy = (r: CliResult): string => /cert=(\w+)/.exec(r.stdout.toString())?.[1] ?? `(no answer: ${r.code} ${r.stderr})`;
/** One line in the message format, no stack trace, no "internal error". */
function oneCleanLine(r: CliResult): void {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^gemfetch: [^(]+ \([^)]+\): /);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
}

describe.concurrent('hostile identity files', { timeout: 120_000 }, () => {
  it('id import of a FIFO or a directory: exit 2 at once, naming the file', async () => {
    const home = newHome();
    const dir = scratch('gemfetch-idh-files-');
    const fifo = path.join(dir, 'cert.pem');
    execFileSync('mkfifo', [fifo]);
    const r = await gemfetch(home, ['id', 'import', 'x', fifo]); // runCli's timeout kills a waiting process: code null
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`cannot read CERT (${fifo}): not a regular file (a FIFO)`);
    oneCleanLine(r);
    const d = await gemfetch(home, ['id', 'import', 'x', dir]);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain(`cannot read CERT (${dir}): not a regular file (a directory)`);
    oneCleanLine(d);
  });

  it('a FIFO in place of the key file fails the fetch under its scope at once, naming the file (exit 1, nothing sent)', async () => {
    const home = newHome();
    await create(home, 'app', '--scope', server.url('/app'));
    const key = path.join(home, 'gemfetch', 'identities', 'app.key');
    fs.rmSync(key);
    execFileSync('mkfifo', ['-m', '600', key]);
    const before = server.requests.length;
    const r = await gemfetch(home, ['-k', server.url('/app/fifo-key')]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`${key}: cannot read the private key of identity app (not a regular file)`);
    expect(server.requests.slice(before)).not.toContain(server.url('/app/fifo-key'));
  });

  it('a private key readable by others is not sent: the fetch fails naming the file and the chmod (exit 1); 0600 again works', async () => {
    const home = newHome();
    const fp = await create(home, 'app', '--scope', server.url('/app'));
    const key = path.join(home, 'gemfetch', 'identities', 'app.key');
    fs.chmodSync(key, 0o644);
    const before = server.requests.length;
    const r = await gemfetch(home, ['-k', server.url('/app/open-key')]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`${key}: the private key of identity app is readable by other users (mode 0644, must be 0600)`);
    expect(r.stderr).toContain(`chmod 600 ${key}`);
    expect(server.requests.slice(before)).not.toContain(server.url('/app/open-key'));
    fs.chmodSync(key, 0o600);
    expect(seenBy(await gemfetch(home, ['-k', server.url('/app/open-key')]))).toBe(fp);
  });

  it('id export -o to a missing directory, a directory or an existing file: exit 2, one line; the existing file is untouched', async () => {
    const home = newHome();
    await create(home, 'me');
    const dir = scratch('gemfetch-idh-out-');
    const existing = path.join(dir, 'keep.pem');
    fs.writeFileSync(existing, 'precious\n');
    const cases: Array<[string, string]> = [
      [path.join(dir, 'missing', 'me.pem'), 'cannot write the file (no such directory)'],
      [dir, 'it is a directory'],
      [existing, 'the file exists (an exported key is never written over a file)'],
    ];
    for (const [file, why] of cases) {
      const r = await gemfetch(home, ['id', 'export', 'me', '-o', file]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`gemfetch: cannot export (-o ${file}): ${why}`);
      oneCleanLine(r);
    }
    expect(fs.readFileSync(existing, 'utf8')).toBe('precious\n');
  });
  it('scopes match equivalent spellings: /%7Ealice gets the identity of /~alice/; /~alice/%2e%2e/open does not', async () => {
    const home = newHome();
    const fp = await create(home, 'alice', '--scope', server.url('/~alice/'));
    expect(seenBy(await gemfetch(home, ['-k', server.url('/%7Ealice/notes')]))).toBe(fp);
    expect(seenBy(await gemfetch(home, ['-k', server.url('/~alice/notes')]))).toBe(fp);
    expect(seenBy(await gemfetch(home, ['-k', server.url('/~alice/%2e%2e/open')]))).toBe('none');
  });
  it('a redirect from a scoped path to another host (another port of 127.0.0.1) does not carry the scoped identity', async () => {
    const home = newHome();
    await create(home, 'app', '--scope', server.url('/app'));
    const r = await gemfetch(home, ['-k', server.url('/app/away')]);
    expect(r.code, r.stderr).toBe(0);
    expect(seenBy(r)).toBe('none');
    const json = await gemfetch(home, ['-k', '--json', server.url('/app/away')]);
    expect(JSON.parse(json.stdout.toString().trim().split('\n')[0]!)).toMatchObject({ identity: null });
  });

  it('--id NAME is not carried by a redirect to another host:port than the URLs given', async () => {
    const home = newHome();
    const fp = await create(home, 'forced');
    expect(seenBy(await gemfetch(home, ['-k', '--id', 'forced', server.url('/app/x')]))).toBe(fp);
    const r = await gemfetch(home, ['-k', '--id', 'forced', server.url('/app/away')]);
    expect(r.code, r.stderr).toBe(0);
    expect(seenBy(r)).toBe('none');
    // Given on the command line, the other host gets it too.
    expect(seenBy(await gemfetch(home, ['-k', '--id', 'forced', other.url('/landing')]))).toBe(fp);
  });
  it('put answered by a redirect to another host (early or after the body): neither --id nor a scoped identity goes there', async () => {
    const titan = await startTitanServer({ requestCert: true, after: () => ({ header: `30 ${other.url('/after')}` }) });
    const early = await startTitanServer({ requestCert: true, early: () => ({ header: `30 ${other.url('/early')}` }) });
    try {
      const home = newHome();
      const forced = await create(home, 'forced');
      const scoped = await create(home, 'wiki', '--scope', titan.geminiUrl('/'), '--scope', early.geminiUrl('/'));
      const file = path.join(scratch('gemfetch-idh-put-'), 'p.gmi');
      fs.writeFileSync(file, '# page\n');
      const viaId = await gemfetch(home, ['put', '-k', '--id', 'forced', titan.titanUrl('/p.gmi'), file]);
      expect(viaId.code, viaId.stderr).toBe(0);
      expect(titan.uploads.at(-1)?.clientCertificate).toBe(forced);
      expect(seenBy(viaId)).toBe('none');
      const viaScope = await gemfetch(home, ['put', '-k', titan.titanUrl('/q.gmi'), file]);
      expect(titan.uploads.at(-1)?.clientCertificate).toBe(scoped);
      expect(seenBy(viaScope)).toBe('none');
      const refused = await gemfetch(home, ['put', '-k', '--id', 'forced', early.titanUrl('/r.gmi'), file]);
      expect(refused.code, refused.stderr).toBe(0);
      expect(seenBy(refused)).toBe('none');
    } finally {
      await Promise.all([titan.close(), early.close()]);
    }
  });
});
