/**
 * The options of issue 11, through the real CLI (dist/) against real servers
 * on 127.0.0.1: every default shown in every command's --help, crawl's and
 * survey's own exit codes, -L as a flag, --no-cross-host, --input-file,
 * `gemfetch -f`, batch/survey without input, --slow-down-retries.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { commandTable, type CommandTable } from '../src/cli/command-spec.js';
import { batch } from '../src/bulk/batch.js';
import { SlowDownWaits } from '../src/cli/progress.js';
import { INPUT_FILE_LIMIT, readInputFile } from '../src/cli/input-file.js';
import { Readable } from 'node:stream';
import { cliFixture, ptyAvailable, ROOT, runCli, runInPty, scratchDirs } from './support/cli.js';
import { inputPrompt, redirect, respondWith, routes, type GeminiHandler } from './support/gemini-server.js';

const PAGE = '# hello\n';
let slowDownAnswers = 0;
const slowDown: GeminiHandler = (ctx) => {
  slowDownAnswers++;
  return ctx.respond('44 1');
};
const cli = cliFixture(
  routes({
    '/': respondWith('20 text/gemini', PAGE),
    '/hop': redirect('/'),
    '/secret': inputPrompt('Password', { sensitive: true }),
    '/slow': slowDown,
    '/cross': (ctx) => ctx.respond(`30 gemini://localhost:${(ctx.raw.localPort as number)}/`),
  }),
);
const scratch = scratchDirs();
const gemfetch = (args: string[], options: { stdin?: string; timeoutMs?: number } = {}) => runCli(cli.home, args, { timeoutMs: 60_000, ...options });
/** Help text with runs of whitespace made one space (yargs wraps lines anywhere). */
const flat = (text: string): string => text.replace(/\s+/g, ' ');

let table: CommandTable;
beforeAll(async () => {
  table = await commandTable();
});

describe('--help of every command', () => {
  it('shows a default for every option taking a value, in every command (from the command table)', async () => {
    const missing = table.commands.flatMap((c) => c.options.filter((o) => o.type !== 'boolean' && o.defaultText === undefined).map((o) => `${c.name} --${o.name}`));
    expect(missing).toEqual([]);
    const runs = await Promise.all(table.commands.map((c) => gemfetch([c.name, '--help'])));
    table.commands.forEach((command, i) => {
      const r = runs[i]!;
      expect(r.code, `${command.name} --help: ${r.stderr}`).toBe(0);
      const help = flat(r.stdout.toString());
      for (const option of command.options) {
        expect(help, `${command.name} --${option.name}`).toContain(`--${option.name}`);
        if (option.type !== 'boolean') expect(help, `${command.name} --${option.name}`).toContain(`[default: ${option.defaultText}]`);
      }
    });
  });

  it("crawl --help: its defaults (16M, 60s per request, delay 1s, 5 retries of 44) and its own exit codes", async () => {
    const r = await gemfetch(['crawl', '--help']);
    const help = flat(r.stdout.toString());
    expect(help).toMatch(/--max-size .*?\[default: 16M\]/);
    expect(help).toMatch(/--max-time .*?\[default: 60s\]/);
    expect(help).toMatch(/--delay .*?\[default: 1s\]/);
    expect(help).toMatch(/--slow-down-retries .*?\[default: 5\]/);
    expect(help).toContain('0 the crawl ran to its end');
    expect(help).not.toContain('7 input required'); // the fetch command's table
  });

  it("survey --help: --tofu's default is insecure, stated once and truthfully, and its own exit codes", async () => {
    const r = await gemfetch(['survey', '--help']);
    const help = flat(r.stdout.toString());
    expect(help).toMatch(/--tofu trust mode: tofu = pin each host's key on first use, ca = [^[]*\[string\] \[choices: "tofu", "ca", "insecure"\] \[default: insecure\]/);
    expect(help).not.toMatch(/on first use \(default\)/);
    expect(help).toMatch(/--max-time .*?\[default: 30s\]/);
    expect(help).toContain('0 every host was surveyed');
    expect(help).not.toContain('7 input required');
  });

  it('fetch --help: --tofu defaults to tofu; -L is a flag, the count is --max-redirects', async () => {
    const help = flat((await gemfetch(['--help'])).stdout.toString());
    expect(help).toMatch(/--tofu .*?\[default: tofu\]/);
    expect(help).toMatch(/-L, --location follow redirects[^[]*\[boolean\]/);
    expect(help).toMatch(/--max-redirects .*?\[number\] \[default: 5\]/);
    expect(help).toContain('gemfetch --input-file pass.txt HOST/login');
    expect(help).toContain('Documentation: man gemfetch, README.md.');
  });
});

describe('README', () => {
  it("lists the default of every option taking a value, per command (a command's line names only what differs from gemfetch URL's)", () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Options and defaults'), readme.indexOf('### Bulk fetching'));
    const line = (name: string): string => section.split('\n').find((l) => l.startsWith(name === 'fetch' ? '- `gemfetch URL...`:' : `- \`${name}\`:`)) ?? '';
    const fetchLine = line('fetch');
    const missing: string[] = [];
    for (const command of table.commands) {
      for (const option of command.options.filter((o) => o.type !== 'boolean')) {
        const entry = `\`--${option.name}\` ${option.defaultText}`;
        const own = line(command.name);
        const ok = own.includes(entry) || (!own.includes(`\`--${option.name}\``) && fetchLine.includes(entry));
        if (!ok) missing.push(`${command.name} ${entry}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('-L, --max-redirects, --no-cross-host', () => {
  it('gemfetch -L URL follows the redirect (-L no longer takes the URL as its number)', async () => {
    const r = await gemfetch(['-L', cli.server.url('/hop')]);
    expect(r.stderr).not.toContain('no URL given');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(PAGE);
  });

  it('-L 3 (the old form) is a usage error pointing to --max-redirects 3, not a fetch of gemini://3/', async () => {
    const r = await gemfetch(['-L', '3', cli.server.url('/hop')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('gemfetch: unexpected number (-L 3): -L is a flag (follow redirects); to set how many, use --max-redirects 3.');
  });

  it('--no-location follows none (exit 8); with --max-redirects 2 it is a usage error', async () => {
    const off = await gemfetch(['--no-location', cli.server.url('/hop')]);
    expect(off.code).toBe(8);
    const both = await gemfetch(['--no-location', '--max-redirects', '2', cli.server.url('/hop')]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('gemfetch: conflicting options (--no-location, --max-redirects 2): --no-location follows no redirect.');
  });

  it('--no-cross-host stops at a redirect to another host (exit 8) without requesting it; by default it is followed', async () => {
    const refused = await gemfetch(['-4', '--no-cross-host', cli.server.url('/cross')]);
    expect(refused.code).toBe(8);
    expect(refused.stderr).toContain(`gemini://localhost:${cli.server.port}/`);
    expect(refused.stdout.toString()).toBe('');
    const followed = await gemfetch(['-4', cli.server.url('/cross')]);
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout.toString()).toBe(PAGE);
  });
});

describe('crawl and redirects', () => {
  it('refuses --max-redirects, -L and --no-cross-host, which a crawl cannot honour (it queues targets as links), and hides them', async () => {
    for (const [args, name] of [[['--max-redirects', '3'], '--max-redirects'], [['-L'], '-L/--location'], [['--no-cross-host'], '--no-cross-host']] as const) {
      const r = await gemfetch(['crawl', ...args, cli.server.url('/')]);
      expect(r.code, name).toBe(2);
      expect(r.stderr).toContain(`gemfetch: option not for crawl (${name}): a crawl follows no redirect itself`);
    }
    const help = (await gemfetch(['crawl', '--help'])).stdout.toString();
    expect(help).not.toContain('--max-redirects');
    expect(help).not.toContain('--cross-host');
  });
});

describe('readInputFile (no sockets)', () => {
  it('removes one trailing newline only, keeps the rest byte for byte, refuses non-UTF-8 and more than the limit', async () => {
    const from = (bytes: Buffer) => readInputFile('-', Readable.from([bytes]));
    await expect(from(Buffer.from('two\n\n'))).resolves.toBe('two\n');
    await expect(from(Buffer.from(' spaced \r\n'))).resolves.toBe(' spaced ');
    await expect(from(Buffer.from(''))).resolves.toBe('');
    await expect(from(Buffer.from([0x63, 0x61, 0x66, 0xe9]))).rejects.toThrow('--input-file -: standard input is not UTF-8 text');
    await expect(from(Buffer.alloc(INPUT_FILE_LIMIT, 0x61))).resolves.toHaveLength(INPUT_FILE_LIMIT);
    await expect(from(Buffer.alloc(INPUT_FILE_LIMIT + 1, 0x61))).rejects.toThrow(`more than ${INPUT_FILE_LIMIT} bytes`);
    await expect(readInputFile(' ')).rejects.toThrow('--input-file needs a file name');
    await expect(readInputFile(scratch())).rejects.toThrow('cannot read the file (EISDIR)');
  });
});

describe('--input-file', () => {
  it('answers a sensitive prompt (11) from a file, one trailing newline removed, the answer never in argv', async () => {
    const dir = scratch();
    const file = path.join(dir, 'answer');
    fs.writeFileSync(file, 's3cret pass\n');
    const r = await gemfetch(['--input-file', file, cli.server.url('/secret')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('s3cret pass');
    expect(cli.server.requests).toContain(`${cli.server.url('/secret')}?s3cret%20pass`);
  });

  it('reads the answer from stdin with -', async () => {
    const r = await gemfetch(['--input-file', '-', cli.server.url('/secret')], { stdin: 'from stdin\r\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('from stdin');
  });

  it('batch: --input-file - is refused when stdin is the list of URLs (exit 2); with URL arguments it answers from stdin', async () => {
    const clash = await gemfetch(['batch', '--input-file', '-'], { stdin: `${cli.server.url('/secret')}\n` });
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain('gemfetch: conflicting inputs (--input-file -): standard input is the list of inputs here');
    const ok = await gemfetch(['batch', '--input-file', '-', cli.server.url('/secret')], { stdin: 'batch answer\n' });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout.toString())).toMatchObject({ status: 20, complete: true });
  });

  it('put refuses it, as it refuses --input (an upload is never sent twice), and hides it', async () => {
    const r = await gemfetch(['put', '--input-file', 'answer', `titan://127.0.0.1:${cli.server.port}/page.gmi`, '-'], { stdin: 'x' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--input-file cannot be used with put');
    expect((await gemfetch(['put', '--help'])).stdout.toString()).not.toContain('--input-file');
  });

  it('refuses a missing file, a file over 4 KiB, and --input with it, naming the option (exit 2)', async () => {
    const dir = scratch();
    const big = path.join(dir, 'big');
    fs.writeFileSync(big, 'x'.repeat(5000));
    const missing = await gemfetch(['--input-file', path.join(dir, 'nope'), cli.server.url('/secret')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`cannot read the file (--input-file ${path.join(dir, 'nope')}): ENOENT`);
    const tooBig = await gemfetch(['--input-file', big, cli.server.url('/secret')]);
    expect(tooBig.code).toBe(2);
    expect(tooBig.stderr).toContain(`(--input-file ${big}): the file holds more than 4096 bytes`);
    const both = await gemfetch(['--input', 'a', '--input-file', big, cli.server.url('/secret')]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/conflicting options \(--input, --input-file\)/);
    expect(cli.server.requests.some((line) => line.includes('xxxx'))).toBe(false);
  });
});

describe('inputs of the bulk commands', () => {
  it('gemfetch -f urls.txt: a usage error pointing to batch -f (exit 2)', async () => {
    for (const args of [['-f', 'urls.txt'], ['-qf', 'urls.txt'], ['--file=urls.txt']]) {
      const r = await gemfetch(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^gemfetch: unknown option \((-f|-qf|--file=urls\.txt)\): gemfetch has no -f; .*`gemfetch batch -f FILE`/);
      expect(r.stderr).not.toContain('Unknown argument');
    }
  });

  it('batch and survey without any input: the same usage error, exit 2', async () => {
    const batch = await gemfetch(['batch'], { stdin: '' });
    const survey = await gemfetch(['survey'], { stdin: '# only a comment\n' });
    expect(batch.code).toBe(2);
    expect(survey.code).toBe(2);
    expect(batch.stderr).toContain('missing argument (batch): needs at least one URL (arguments, -f FILE or stdin)');
    expect(survey.stderr).toContain('missing argument (survey): needs at least one host (arguments, -f FILE or stdin)');
    expect(batch.stdout.toString()).toBe('');
  });

  it('--slow-down-retries N retries a 44 N times (attempts N+1); 0 records it at once', async () => {
    slowDownAnswers = 0;
    const none = await gemfetch(['batch', '--slow-down-retries', '0', cli.server.url('/slow')]);
    expect(none.code).toBe(4);
    const noneRecord = JSON.parse(none.stdout.toString()) as { status: number; attempts: number };
    expect(noneRecord.status).toBe(44);
    expect(noneRecord.attempts).toBe(1);
    expect(slowDownAnswers).toBe(1);
    const one = await gemfetch(['batch', '--slow-down-retries', '1', cli.server.url('/slow')]);
    expect(JSON.parse(one.stdout.toString()).attempts).toBe(2);
    expect(slowDownAnswers).toBe(3);
    const bad = await gemfetch(['batch', '--slow-down-retries', '-1', cli.server.url('/slow')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid value (--slow-down-retries): needs a whole number, 0 or more');
  });

  it('--max-slow-downs N sets a host aside after N 44s in a row: its other URLs are recorded unrequested', async () => {
    slowDownAnswers = 0;
    const urls = [cli.server.url('/slow'), cli.server.url('/slow?2'), cli.server.url('/slow?3')];
    const r = await gemfetch(['batch', '--slow-down-retries', '5', '--max-slow-downs', '2', ...urls]);
    const records = r.stdout.toString().trim().split('\n').map((line) => JSON.parse(line) as { url: string; status: number | null; attempts: number; error: { code: string; message: string } | null });
    expect(records).toHaveLength(3);
    expect(slowDownAnswers).toBe(2); // two 44s in a row, then no request to that host
    expect(records.filter((record) => record.status === 44)).toHaveLength(1);
    const setAside = records.filter((record) => record.error?.code === 'ERR_HOST_SET_ASIDE');
    expect(setAside).toHaveLength(2);
    expect(setAside[0]!.error!.message).toContain('set aside after 2 consecutive 44 (slow down) answers');
    expect(setAside.every((record) => record.attempts === 0)).toBe(true);
    const help = (await gemfetch(['batch', '--help'])).stdout.toString().replace(/\s+/g, ' ');
    expect(help).toMatch(/--max-slow-downs .*?\[default: 12\]/);
    const bad = await gemfetch(['crawl', '--max-slow-downs', '1.5', cli.server.url('/')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid value (--max-slow-downs): needs a whole number, 0 or more');
    for (const [option, value] of [['--max-slow-downs', '1e20'], ['--max-failures', '9007199254740993'], ['--concurrency', '1e300']]) {
      const huge = await gemfetch(['survey', option!, value!, '127.0.0.1']);
      expect(huge.code).toBe(2);
      expect(huge.stderr).toContain(`invalid value (${option}): needs a whole number`); // the option as typed, not the library's name
    }
  });
});

describe('-v with several URLs', () => {
  it('starts each block with its URL', async () => {
    const a = cli.server.url('/');
    const b = cli.server.url('/hop');
    const r = await gemfetch(['-v', a, b]);
    expect(r.code, r.stderr).toBe(0);
    const blocks = r.stderr.split(/^(?=\* URL: )/m).filter((block) => block.startsWith('* URL: '));
    expect(blocks.map((block) => block.split('\n')[0])).toEqual([`* URL: ${a}`, `* URL: ${b}`]);
    for (const block of blocks) expect(block).toMatch(/^\* TLS: /m);
    expect(blocks[1]).toContain(`redirects: ${b} -> ${a}`);
  });
});

describe('44 waits on the progress line', () => {
  it('SlowDownWaits: one host, several hosts with the longest wait, nothing once the waits are over', () => {
    let now = 1_000;
    const waits = new SlowDownWaits(() => now);
    expect(waits.text()).toBe('');
    waits.note('a.example:1965', 12_000);
    expect(waits.text()).toBe('44: 1 host waiting 12s');
    now += 500;
    expect(waits.text()).toBe('44: 1 host waiting 12s'); // rounded up
    waits.note('b.example:1965', 40_000);
    expect(waits.text()).toBe('44: 2 hosts waiting, longest 40s');
    now += 12_000;
    expect(waits.waiting).toBe(1);
    now += 40_000;
    expect(waits.text()).toBe('');
    expect(waits.waiting).toBe(0);
  });

  it('the library tells onSlowDown which host waits and for how long', async () => {
    const calls: Array<[string, number]> = [];
    const records = [];
    for await (const record of batch([cli.server.url('/slow')], { slowDownRetries: 1, requestOptions: { trust: 'insecure' }, onSlowDown: (host, ms) => calls.push([host, ms]) })) records.push(record);
    expect(records).toHaveLength(1);
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls[0]![0]).toBe(`127.0.0.1:${cli.server.port}`);
    expect(calls[0]![1]).toBeGreaterThan(0);
    expect(calls[0]![1]).toBeLessThanOrEqual(60_000);
  });

  it.skipIf(!ptyAvailable())('batch on a terminal says that a host waits after a 44', async () => {
    const r = await runInPty(cli.home, ['batch', '--slow-down-retries', '1', cli.server.url('/slow')], { shellSuffix: '> /dev/null', timeoutMs: 60_000 });
    expect(r.output).toMatch(/44: 1 host waiting \d+s/);
  });
});
