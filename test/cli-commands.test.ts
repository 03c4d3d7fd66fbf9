/**
 * The real `gemfetch` command: help, version, completion, the `fetch` alias,
 * `tofu`, `demo`, and the dispatch to the other commands.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCertificate } from '../src/trust/selfsigned.js';
import { respondWith, startGeminiServer } from './support/gemini-server.js';
import { spawn } from 'node:child_process';
import { BIN, childEnv, cliFixture, ROOT, runCli, scratchDirs, tempDir } from './support/cli.js';

const cli = cliFixture(respondWith('20 text/plain', 'hello'));

describe.concurrent('help, version, completion', () => {
  it('--help lists commands, options, examples and the exit-code table', async () => {
    const r = await runCli(cli.home, ['--help']);
    expect(r.code).toBe(0);
    const help = r.stdout.toString();
    for (const word of ['tofu', 'demo', 'batch', 'crawl', 'survey', 'completion', '--max-size', '--output-dir', '--json', 'Examples:', 'Exit codes:']) {
      expect(help).toContain(word);
    }
    expect(help).toMatch(/^ +9 +certificate changed/m);
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runCli(cli.home, ['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString().trim()).toBe(pkg.version);
  });

  it('completion prints a shell completion script', async () => {
    const r = await runCli(cli.home, ['completion']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toContain('complete -o default -F _gemfetch gemfetch');
  });

  it('`fetch` is the explicit name of the default command', async () => {
    const r = await runCli(cli.home, ['fetch', cli.server.url('/')]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hello');
  });

  it('dispatches batch, crawl and survey to their own modules', async () => {
    for (const name of ['batch', 'crawl', 'survey']) {
      const r = await runCli(cli.home, [name, '--help']);
      if (fs.existsSync(path.join(ROOT, 'dist', 'cli', 'commands', `${name}.js`))) {
        expect(r.code, name).toBe(0);
        expect(r.stdout.toString() + r.stderr, name).toContain(name);
      } else {
        expect(r.code, name).toBe(2);
        expect(r.stderr, name).toContain(`the ${name} command is not available`);
      }
    }
  });
});

describe.concurrent('tofu', () => {
  it('list, trust and forget manage the pins', async () => {
    const dir = tempDir();
    try {
      const knownHosts = path.join(dir, 'known_hosts');
      const kh = ['--known-hosts', knownHosts];
      const empty = await runCli(cli.home, ['tofu', 'list', ...kh]);
      expect(empty.code).toBe(0);
      expect(empty.stderr).toContain('no pinned keys');

      const old = createCertificate({ commonName: 'old' });
      fs.writeFileSync(knownHosts, `127.0.0.1:${cli.server.port} ${old.fingerprint} 2099-01-01T00:00:00.000Z 2024-01-01T00:00:00.000Z\n`);
      expect((await runCli(cli.home, [...kh, cli.server.url('/')])).code).toBe(9);

      const trusted = await runCli(cli.home, ['tofu', 'trust', `127.0.0.1:${cli.server.port}`, ...kh]);
      expect(trusted.code).toBe(0);
      expect(trusted.stdout.toString()).toContain(cli.server.cert.fingerprint);
      expect(trusted.stdout.toString()).toContain(`replaced the previous pin ${old.fingerprint}`);
      expect((await runCli(cli.home, [...kh, cli.server.url('/')])).code).toBe(0);

      const listed = await runCli(cli.home, ['tofu', 'list', ...kh]);
      expect(listed.stdout.toString()).toMatch(new RegExp(`^127\\.0\\.0\\.1:${cli.server.port} +${cli.server.cert.fingerprint} +expires \\d{4}-\\d\\d-\\d\\d +added \\d{4}-\\d\\d-\\d\\d\\n$`));

      const forgot = await runCli(cli.home, ['tofu', 'forget', `127.0.0.1:${cli.server.port}`, ...kh]);
      expect(forgot.code).toBe(0);
      expect(forgot.stderr).toContain('forgot');
      expect((await runCli(cli.home, ['tofu', 'list', ...kh])).stdout.toString()).toBe('');
      const again = await runCli(cli.home, ['tofu', 'forget', `127.0.0.1:${cli.server.port}`, ...kh]);
      expect(again.stderr).toContain('no pinned key');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses XDG_DATA_HOME by default and defaults the port to 1965', async () => {
    const dataHome = tempDir();
    try {
      fs.mkdirSync(path.join(dataHome, 'gemfetch'));
      const fp = createCertificate({ commonName: 'x' }).fingerprint;
      fs.writeFileSync(path.join(dataHome, 'gemfetch', 'known_hosts'), `example.org:1965 ${fp} 2099-01-01T00:00:00.000Z 2024-01-01T00:00:00.000Z\n`);
      const listed = await runCli(dataHome, ['tofu', 'list']);
      expect(listed.stdout.toString()).toContain(`example.org:1965  ${fp}`);
      const forgot = await runCli(dataHome, ['tofu', 'forget', 'EXAMPLE.org']);
      expect(forgot.stderr).toContain('forgot the pinned key of example.org:1965');
    } finally {
      fs.rmSync(dataHome, { recursive: true, force: true });
    }
  });

  it('rejects bad actions and hosts, and reports unreachable hosts', async () => {
    expect((await runCli(cli.home, ['tofu', 'bogus'])).code).toBe(2);
    expect((await runCli(cli.home, ['tofu', 'forget'])).code).toBe(2);
    expect((await runCli(cli.home, ['tofu', 'trust', 'bad host'])).code).toBe(2);
    const closed = await startGeminiServer({ handler: respondWith('20 text/plain', '') });
    const port = closed.port;
    await closed.close();
    const unreachable = await runCli(cli.home, ['tofu', 'trust', `127.0.0.1:${port}`, '--known-hosts', path.join(cli.home, 'kh-unreachable')]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('cannot get the certificate');
  });
});

describe.concurrent('demo', () => {
  it('runs offline, shows a complete and a cut page, and exits 0', async () => {
    const dataHome = tempDir();
    const r = await runCli(dataHome, ['demo']);
    const pinned = fs.existsSync(path.join(dataHome, 'gemfetch', 'known_hosts'));
    fs.rmSync(dataHome, { recursive: true, force: true });
    expect(r.code).toBe(0);
    const out = r.stdout.toString();
    expect(out).toContain('COMPLETE (TLS close_notify received)');
    expect(out).toContain('INCOMPLETE: no TLS close_notify: the server closed TCP (possible truncation)');
    expect(out).toContain('INCOMPLETE: stopped at --max-size 4K');
    expect(out).toContain('51 not found');
    expect(out).toContain('What this shows');
    expect(out).not.toContain('\x1b'); // not a terminal: no colours
    expect(pinned).toBe(false); // throwaway pins only
  });
});

// Without the check, batch read its own records back as URLs: with a long -f file, without end (66 MB in 20 s).
describe.concurrent('batch and survey: the output file is not also the input', () => {
  const scratch = scratchDirs();
  const inputFile = (): { file: string; text: string } => {
    const file = path.join(scratch('gemfetch-same-'), 'urls.txt');
    // The query names the file, so that no request for it (among those of concurrent tests) can go unseen.
    const text = `${cli.server.url(`/a?${encodeURIComponent(file)}`)}\n${cli.server.url(`/b?${encodeURIComponent(file)}`)}\n`;
    fs.writeFileSync(file, text);
    return { file, text };
  };

  it.each(['batch', 'survey'])('%s -f FILE -o FILE is refused before any request: exit 2, FILE unchanged', async (command) => {
    const { file, text } = inputFile();
    const r = await runCli(cli.home, [command, '-q', '-k', '-f', file, '-o', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--output ${file} is also the input (-f ${file})`);
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
    expect(cli.server.requests.filter((line) => line.includes(encodeURIComponent(file)))).toEqual([]);
  });

  it('batch -o FILE < FILE (stdin redirected from the output) is refused too', async () => {
    const { file, text } = inputFile();
    const child = spawn(process.execPath, [BIN, 'batch', '-q', '-k', '-o', file], { env: childEnv(cli.home), stdio: [fs.openSync(file, 'r'), 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain(`--output ${file} is also the input (standard input)`);
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
  });
});

// Without the bound, readline held the whole line: a 300 MB one took 2.7 GB and ended in "internal error: RangeError: Invalid string length".
describe('batch: an input line longer than 64 KiB', () => {
  const scratch = scratchDirs();

  it('ends the input with a usage error naming the file and line (exit 2); the URLs read before it get their records', async () => {
    const file = path.join(scratch('gemfetch-long-'), 'urls.txt');
    const urls = [cli.server.url('/first'), cli.server.url('/second')];
    fs.writeFileSync(file, `${urls.join('\n')}\n${'a'.repeat(1024 * 1024)}\n${cli.server.url('/after')}\n`);
    const r = await runCli(cli.home, ['batch', '-q', '-k', '-f', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`line 3 is longer than 64 KiB (-f ${file}): this is not a list of URLs`);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    const records = r.stdout.toString().trim().split('\n').map((line) => JSON.parse(line) as { url: string; status: number });
    expect(records.map((record) => record.url).sort()).toEqual([...urls].sort());
    expect(records.every((record) => record.status === 20)).toBe(true);
  });
});

// Without the distinction, a full disk was reported as "its reader went away".
describe.skipIf(!fs.existsSync('/dev/full'))('batch: standard output that fails (not EPIPE)', () => {
  it('says the output failed, naming the error, and exits 1', async () => {
    const full = fs.openSync('/dev/full', 'w');
    const child = spawn(process.execPath, [BIN, 'batch', '-q', 'gemini://[::1'], { env: childEnv(cli.home), stdio: ['ignore', full, 'pipe'] });
    fs.closeSync(full);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('cannot write to standard output (ENOSPC): the output failed, so the run was stopped');
    expect(stderr).not.toContain('reader went away');
  });
});
