/**
 * The start-up argument parser of the fetch command (src/cli/fast-args.ts)
 * against yargs, which it replaces on the common path: same arguments for
 * every command line it accepts, a fall-back to yargs for everything else,
 * and a real `gemfetch URL` run that never loads yargs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchArgsFast, fetchArgsWithYargs } from '../src/cli/main.js';
import { camelCaseKey, FETCH_OPTION_GROUP, OUTPUT_OPTION_GROUP } from '../src/cli/option-spec.js';
import { removeDir, requireBuild, runCli, tempDir } from './support/cli.js';
import { respondWith, routes, startGeminiServer, type GeminiTestServer } from './support/gemini-server.js';

const URL_A = 'gemini://a.example/';
const URL_B = 'b.example/page.gmi';

/** The keys of FetchCommandArgs: what runFetch reads. yargs also gives kebab-case keys, aliases, `_` and `$0`. */
const ARG_KEYS = [...FETCH_OPTION_GROUP.options, ...OUTPUT_OPTION_GROUP.options].map((spec) => camelCaseKey(spec.name)).concat('urls');

async function yargsArgs(argv: string[]): Promise<Record<string, unknown>> {
  const args = (await fetchArgsWithYargs(argv)) as Record<string, unknown> | undefined;
  expect(args, `yargs ran no fetch for ${JSON.stringify(argv)}`).toBeDefined();
  return Object.fromEntries(ARG_KEYS.filter((key) => args![key] !== undefined).map((key) => [key, args![key]]));
}

/** Command lines the fast parser must accept, each giving exactly what yargs gives. */
const ACCEPTED: string[][] = [
  [URL_A],
  ['fetch', URL_A],
  [URL_A, URL_B],
  ['--tofu', 'insecure', URL_A],
  ['--tofu=ca', URL_A],
  ['-k', URL_A],
  ['-o', '-', URL_A],
  ['-o', 'page.gmi', URL_A],
  ['--output=page.gmi', URL_A],
  ['--output=-x', URL_A],
  ['-O', '--output-dir', 'dl', URL_A, URL_B],
  ['--ca', 'one.pem', URL_A],
  ['--ca', 'one.pem', '--ca', 'two.pem', '--ca=three.pem', URL_A],
  ['-L', URL_A],
  ['--max-redirects', '3', URL_A],
  ['--max-redirects', '010', URL_A],
  ['--no-location', URL_A],
  ['--no-cross-host', '--input-file', 'answer.txt', URL_A],
  ['--max-redirects=0', URL_A],
  ['-qv', URL_A],
  ['-qvo', 'out.txt', URL_A],
  ['-kL', URL_A],
  ['-4', URL_A],
  ['-6', '-i', URL_A],
  ['--no-color', URL_A],
  ['--color', URL_A],
  ['--no-json', '--raw', URL_A],
  ['--json', '--allow-incomplete', '-I', URL_A],
  ['--max-size', '10M', '--max-time', '2m', '--connect-timeout', '5s', '--idle-timeout', '1s', '--header-timeout', '3s', URL_A],
  ['--max-size', '0', URL_A],
  ['--known-hosts', 'pins.txt', '--cert', 'c.pem', '--key', 'k.pem', URL_A],
  ['--proxy', '[::1]:1965', '--input', 'lisbon café', URL_A],
  ['--input', '', URL_A],
  ['--input=', URL_A],
  ['--input=--json', URL_A],
  [URL_A, '-q', URL_B],
  ['-q', '--', '-odd-name', URL_B],
  ['--proxy', 'h:1', '--', URL_A],
  ['123', '0x10', '1e3'],
  ['fetch', '--raw', '--', URL_A],
];

/** Command lines the fast parser leaves to yargs, which either reads them its own way or rejects them. */
const FALLBACK: string[][] = [
  ['--max-redirects=3', '--max-redirects', '4', URL_A],
  ['-o-', URL_A],
  ['-k4', URL_A],
  ['--json', 'false', URL_A],
  ['--json=false', URL_A],
  ['-v', '-v', URL_A],
  ['--max-size', '1', '--max-size', '2', URL_A],
  ['--maxSize', '1', URL_A],
  ['--max-redirects', '0x10', URL_A],
  ['--no-max-redirects', URL_A],
  [URL_A, '--', '0x10'],
  [URL_A, '--', 'fetch'],
  ['fetch', 'fetch', URL_A],
  [URL_A, 'tofu'],
  ['-'],
  ['--max-size', '-5', URL_A],
];

/** Command lines both reject; the fast parser must not hide yargs' message. */
const REJECTED: Array<{ argv: string[]; message: RegExp }> = [
  { argv: ['--bogus', URL_A], message: /Unknown argument: bogus/ },
  { argv: ['-x', URL_A], message: /Unknown argument: x/ },
  { argv: ['--tofu', 'bad', URL_A], message: /Invalid values/ },
  { argv: ['--tofu=bad', URL_A], message: /Invalid values/ },
  { argv: ['--max-size'], message: /Not enough arguments following: max-size/ },
  { argv: [URL_A, '-o'], message: /Not enough arguments following: o/ },
  { argv: ['--input', '--json', URL_A], message: /Not enough arguments following: input/ },
  { argv: ['-o', 'f', '-O', URL_A], message: /output and remote-name are mutually exclusive/ },
  { argv: ['--include', '--no-json', URL_A], message: /include and json are mutually exclusive/ },
];

describe('fast parser against yargs', () => {
  it.each(ACCEPTED.map((argv) => ({ argv })))('accepts $argv exactly as yargs reads it', async ({ argv }) => {
    const fast = fetchArgsFast(argv);
    expect(fast, 'the fast parser fell back').toBeDefined();
    expect(fast).toEqual(await yargsArgs(argv));
  });

  it('gives the values their types: repeatable --ca as an array, --max-redirects as a number, -L and other booleans, default colour', () => {
    expect(fetchArgsFast(['--ca', 'a.pem', '--ca', 'b.pem', '--max-redirects', '7', '-L', '-qk', '--no-color', '-o', '-', URL_A, '--', URL_B])).toEqual({
      ca: ['a.pem', 'b.pem'],
      maxRedirects: 7,
      location: true,
      quiet: true,
      insecure: true,
      color: false,
      output: '-',
      urls: [URL_A, URL_B],
    });
    expect(fetchArgsFast([URL_A])).toEqual({ color: true, urls: [URL_A] });
  });

  it.each(FALLBACK.map((argv) => ({ argv })))('falls back on $argv, which yargs reads its own way', async ({ argv }) => {
    expect(fetchArgsFast(argv)).toBeUndefined();
    await fetchArgsWithYargs(argv).catch(() => undefined); // yargs decides; either outcome is its own
  });

  it.each(REJECTED)('falls back on $argv, which yargs rejects', async ({ argv, message }) => {
    expect(fetchArgsFast(argv)).toBeUndefined();
    await expect(fetchArgsWithYargs(argv)).rejects.toThrow(message);
  });

  it('leaves help, version, subcommands and URL-less command lines to yargs', () => {
    for (const argv of [['--help'], ['-h', URL_A], [URL_A, '--version'], ['tofu', 'list'], ['demo'], ['completion'], ['fetch'], [], ['-q'], [URL_A, '--', '--help']]) {
      expect(fetchArgsFast(argv), JSON.stringify(argv)).toBeUndefined();
    }
  });
});

describe('gemfetch URL on the fast path', () => {
  let server: GeminiTestServer;
  let home: string;
  let register: string;

  beforeAll(async () => {
    requireBuild();
    home = tempDir();
    // A module hook that makes any import of yargs fail: loaded into the child with NODE_OPTIONS=--import.
    fs.writeFileSync(
      path.join(home, 'hooks.mjs'),
      "export async function resolve(specifier, context, next) {\n  if (specifier === 'yargs' || specifier.startsWith('yargs/')) throw new Error('test hook: yargs was imported');\n  return next(specifier, context);\n}\n",
    );
    register = path.join(home, 'register.mjs');
    fs.writeFileSync(register, "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
    server = await startGeminiServer({ handler: routes({ '/': respondWith('20 text/gemini', '# fast start\n') }) });
  });

  afterAll(async () => {
    await server?.close();
    removeDir(home);
  });

  const blockYargs = (): Record<string, string> => ({ NODE_OPTIONS: `--import ${register}` });

  it('fetches without loading yargs', async () => {
    const r = await runCli(home, ['--tofu', 'insecure', '-q', server.url('/')], { env: blockYargs(), timeoutMs: 10_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('# fast start\n');
  });

  it('loads yargs for --help (so the check above is real) and works without the hook', async () => {
    const blocked = await runCli(home, ['--help'], { env: blockYargs(), timeoutMs: 10_000 });
    expect(blocked.code).not.toBe(0);
    expect(blocked.stderr).toContain('yargs was imported');
    const help = await runCli(home, ['--help'], { timeoutMs: 10_000 });
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toContain('Fetch options:');
  });

  it('keeps yargs messages for a command line it does not accept', async () => {
    const before = server.requests.length;
    const r = await runCli(home, ['--tofu', 'bad', server.url('/')], { timeoutMs: 10_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid value (--tofu): "bad" is not one of tofu, ca, insecure');
    expect(server.requests).toHaveLength(before);
  });
});

describe('a single-value option given twice is a usage error naming it', () => {
  /** A valid value of each option, so only the repetition is wrong. */
  const valueOf = (name: string, spec?: { type: string; choices?: readonly string[] }): string =>
    spec?.choices?.[0] ?? ({ scope: 'host', 'robots-agent': 'indexer' } as Record<string, string>)[name] ?? (spec?.type === 'number' || /^(concurrency|per-host|retries|max-failures|max-depth|max-pages)$/.test(name) ? '1' : '1s');
  /** A second valid value, different from the first (yargs may merge two equal numbers). */
  const otherValue = (value: string, spec?: { choices?: readonly string[] }): string => spec?.choices?.[1] ?? (value === '1' ? '2' : value === '1s' ? '2s' : value === 'host' ? 'all' : 'archiver');
  const FETCH_SINGLE = [...FETCH_OPTION_GROUP.options, ...OUTPUT_OPTION_GROUP.options].filter((spec) => spec.type !== 'boolean' && !spec.repeatable);
  const BULK_SINGLE = [...FETCH_SINGLE.filter((spec) => FETCH_OPTION_GROUP.options.includes(spec)).map((spec) => spec.name), 'output', 'concurrency', 'per-host', 'delay', 'retries', 'max-failures'];
  const CRAWL_SINGLE = [...BULK_SINGLE, 'scope', 'max-depth', 'max-pages', 'robots-agent', 'state', 'mirror', 'warc'];

  it.each(FETCH_SINGLE.map((spec) => ({ name: spec.name, value: valueOf(spec.name, spec) })))('gemfetch --$name twice', async ({ name, value }) => {
    const spec = FETCH_SINGLE.find((s) => s.name === name);
    const err = await fetchArgsWithYargs([`--${name}`, value, `--${name}`, otherValue(value, spec), 'gemini://127.0.0.1:1/']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as { code?: string }).code).toBe('ERR_USAGE');
    expect((err as Error).message).toContain(`--${name} may be given only once`);
  });

  const bulk = [
    ...BULK_SINGLE.map((name) => ({ command: 'batch', name })),
    ...BULK_SINGLE.map((name) => ({ command: 'survey', name })),
    ...CRAWL_SINGLE.map((name) => ({ command: 'crawl', name })),
  ];
  it.each(bulk)('gemfetch $command --$name twice', async ({ command, name }) => {
    const { run } = (await import(`../src/cli/commands/${command}.ts`)) as { run: (argv: string[]) => Promise<number> };
    const spec = FETCH_OPTION_GROUP.options.find((s) => s.name === name);
    const value = valueOf(name, spec);
    const err = await run([`--${name}`, value, `--${name}`, otherValue(value, spec), 'gemini://127.0.0.1:1/']).catch((e: unknown) => e);
    expect((err as { code?: string }).code, String(err)).toBe('ERR_USAGE');
    expect((err as Error).message).toContain(`--${name} may be given only once`);
  });
});

describe('file options that are directories or cannot be written: a message naming the path, never an internal error', () => {
  let home: string;
  let dir: string;
  beforeAll(() => {
    requireBuild();
    home = tempDir();
    dir = tempDir();
  });
  afterAll(() => {
    removeDir(home);
    removeDir(dir);
  });
  const cases: Array<{ argv: (dir: string) => string[]; code: number; message: (dir: string) => string }> = [
    { argv: () => ['-o', 'a', '-o', 'b', 'gemini://127.0.0.1:1/'], code: 2, message: () => 'repeated option (--output): may be given only once' },
    { argv: (d) => ['batch', '-f', d], code: 2, message: (d) => `cannot read the file (-f ${d}): EISDIR` },
    { argv: (d) => ['crawl', '-f', d], code: 2, message: (d) => `cannot read the file (-f ${d}): EISDIR` },
    { argv: () => ['crawl', '--max-size', '0', 'gemini://127.0.0.1:1/'], code: 2, message: () => 'invalid value (--max-size 0): a crawl keeps each body in memory to read its links, so it needs a limit' },
    { argv: (d) => ['batch', '--output', d, 'gemini://127.0.0.1:1/'], code: 1, message: (d) => `--output ${d}: cannot open the file (EISDIR)` },
    { argv: (d) => ['survey', '--output', d, '127.0.0.1:1'], code: 1, message: (d) => `--output ${d}: cannot open the file (EISDIR)` },
    ...(fs.existsSync('/proc/version')
      ? [{ argv: () => ['batch', '--output', '/proc/version', '--retries', '0', 'gemini://127.0.0.1:1/'], code: 1, message: () => '--output /proc/version: cannot write to the file' }]
      : []),
  ];
  it.each(cases.map((c) => ({ ...c, shown: c.argv('DIR').join(' ') })))('gemfetch $shown', async ({ argv, code, message }) => {
    const r = await runCli(home, argv(dir), { timeoutMs: 15_000 });
    expect(r.stderr).toContain(message(dir));
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(code);
  });
});
