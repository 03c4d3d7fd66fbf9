/**
 * The gemfetch command line: parses arguments and dispatches to a command.
 *
 * `batch`, `crawl` and `survey` live in ./commands/ and are loaded only when
 * named as the first argument; rendering, prompts, progress, `tofu` and
 * `demo` are loaded only when used, so a plain fetch starts quickly. A plain
 * fetch does not even load yargs: ./fast-args.ts parses it when it can.
 */
import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { GeminiError } from '../errors.js';
import { EXIT_CODE_TABLE, ExitCode } from './exit-codes.js';
import { fastFetchArgs } from './fast-args.js';
import { addOutputOptions, runFetch, type FetchCommandArgs } from './commands/fetch.js';
import { addFetchOptions } from './fetch-options.js';
import { FETCH_OPTION_GROUP, OUTPUT_OPTION_GROUP } from './option-spec.js';
import { rejectRepeatedOptions } from './repeated-options.js';
import { rejectEmptyNumbers } from './empty-numbers.js';
import { processIo, type CliIo } from './io.js';
import { internalErrorMessage, usageErrorMessage } from './messages.js';
import { UsageError } from './usage-error.js';

/**
 * Subcommands implemented in ./commands/NAME.js, each exporting
 * `run(argv): Promise<number>` and `parser(argv): Argv` (its configured yargs
 * parser, which help, completion and the man page read: ./command-spec.ts).
 */
export const EXTERNAL_COMMANDS: Readonly<Record<string, string>> = {
  batch: 'fetch many URLs (from a file or stdin) with per-host politeness; one JSON line each',
  crawl: 'crawl a capsule politely (robots.txt, depth and page limits)',
  survey: 'measure how many servers end their responses with close_notify',
  put: 'upload a file (or stdin) with Titan: put titan://HOST/PATH FILE|-',
  id: 'manage identities (client certificates and where they are sent): id create|list|use|unscope|export|import|delete',
};

/** Fetch and output options taking one value: given twice, they are a usage error (the fast parser leaves them to yargs). */
const SINGLE_VALUED_FETCH_OPTIONS: readonly string[] = [...FETCH_OPTION_GROUP.options, ...OUTPUT_OPTION_GROUP.options]
  .filter((spec) => spec.type !== 'boolean' && !spec.repeatable)
  .map((spec) => spec.name);

/** Fetch and output options taking a number, with their aliases: an empty value is a usage error, not 0. */
const NUMBER_FETCH_OPTIONS: ReadonlySet<string> = new Set(
  [...FETCH_OPTION_GROUP.options, ...OUTPUT_OPTION_GROUP.options].filter((spec) => spec.type === 'number').flatMap((spec) => (spec.alias === undefined ? [spec.name] : [spec.name, spec.alias])),
);

/** Every word yargs treats as a command (or `fetch`'s own name): the fast parser leaves those to it. */
const COMMAND_WORDS: ReadonlySet<string> = new Set(['fetch', 'tofu', 'demo', 'completion', ...Object.keys(EXTERNAL_COMMANDS)]);

const EXAMPLES: ReadonlyArray<[string, string]> = [
  ['gemfetch demo', 'see it work against a capsule started on this machine'],
  ['gemfetch geminiprotocol.net/', 'show a page (rendered on a terminal, raw when piped)'],
  ['gemfetch -o page.gmi HOST/page.gmi', 'save it (page.gmi.partial if incomplete)'],
  ['gemfetch --output-dir dl URL URL...', 'save several, named after their URLs'],
  ['gemfetch --json URL | jq .complete', 'one JSON record per URL'],
  ['gemfetch --max-size 10M --max-time 2m URL', 'stop an endless response'],
  ['gemfetch --input "lisbon" HOST/search', 'answer an input prompt'],
  ['gemfetch --input-file pass.txt HOST/login', 'answer a (sensitive) prompt from a file, - = stdin'],
  ['gemfetch tofu list', 'show pinned server keys'],
  ['gemfetch put titan://HOST/page.gmi page.gmi', 'upload a page with Titan (see gemfetch put --help)'],
  ['gemfetch id create me --scope HOST/app', 'make an identity sent under HOST/app (see gemfetch id --help)'],
];

/**
 * Runs gemfetch with `argv` (the arguments after the program name) and
 * resolves with the exit code. Never rejects and never prints a stack trace:
 * usage errors give a one-line message and 2, unexpected errors a one-line
 * message asking for a report and 1.
 */
export async function main(argv: string[]): Promise<number> {
  const io = processIo();
  // A closed stdout (`gemfetch URL | head -1`) must not crash with an unhandled 'error' event.
  io.stdout.on('error', () => {});
  try {
    const first = argv[0];
    if (first !== undefined && Object.hasOwn(EXTERNAL_COMMANDS, first)) return await runExternal(first, argv.slice(1));
    refuseFileListOption(argv);
    const fast = fetchArgsFast(argv);
    if (fast !== undefined) return await runFetch(fast, io);
    return await runParser(argv, io);
  } catch (err) {
    return reportFailure(err, io, argv);
  }
}

/**
 * `gemfetch -f urls.txt` (gemget's habit): a list of URLs is the batch
 * command's input. A usage error pointing to it, rather than yargs'
 * "Unknown argument: f"; the fetch command has no `-f`.
 */
function refuseFileListOption(argv: readonly string[]): void {
  const command = argv[0];
  if (command !== undefined && command !== 'fetch' && COMMAND_WORDS.has(command)) return;
  const end = argv.indexOf('--');
  const options = end === -1 ? argv : argv.slice(0, end);
  const token = options.find((t) => t === '--file' || t.startsWith('--file=') || /^-[a-zA-Z]*f/.test(t));
  if (token === undefined) return;
  throw new UsageError('gemfetch has no -f; to fetch the URLs listed in a file, one a line, use `gemfetch batch -f FILE` (one JSON record per URL)', { what: 'unknown option', which: token });
}

async function runExternal(name: string, argv: string[]): Promise<number> {
  const modulePath = `./commands/${name}.js`;
  let mod: { run?: (argv: string[]) => Promise<number> };
  try {
    mod = (await import(modulePath)) as typeof mod;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(`commands/${name}.js`)) {
      throw new UsageError(`the ${name} command is not available in this build of gemfetch`);
    }
    throw err;
  }
  if (typeof mod.run !== 'function') throw new Error(`commands/${name}.js has no run() function`);
  return mod.run(argv);
}

/**
 * The arguments of the fetch command when the start-up parser can read
 * `argv` exactly as yargs would (see ./fast-args.ts), else `undefined`.
 * Exported so tests can hold it against {@link fetchArgsWithYargs}.
 */
export function fetchArgsFast(argv: readonly string[]): FetchCommandArgs | undefined {
  return fastFetchArgs(argv, COMMAND_WORDS);
}

/**
 * The arguments yargs hands the fetch command for `argv`, without fetching;
 * `undefined` when yargs runs no fetch (`--help`...).
 * @throws what the yargs path would report: usage errors (unknown option,
 *   missing value, bad choice, conflicting options).
 * Only for command lines of the fetch command: another command would run.
 */
export async function fetchArgsWithYargs(argv: string[]): Promise<FetchCommandArgs | undefined> {
  let captured: FetchCommandArgs | undefined;
  const parser = await buildParser(argv, processIo(), {
    runFetchCommand: async (args) => {
      captured = args;
      return ExitCode.Ok;
    },
    setExitCode: () => {},
  });
  await parser.parseAsync();
  return captured;
}

/**
 * The main parser, configured but not run, with handlers that do nothing:
 * what ./command-spec.ts reads to list every command and option.
 */
export async function inspectionParser(): Promise<Argv> {
  return buildParser([], processIo(), { runFetchCommand: async () => ExitCode.Ok, setExitCode: () => {} });
}

async function runParser(argv: string[], io: CliIo): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  const parser = await buildParser(argv, io, {
    runFetchCommand: (args) => runFetch(args, io),
    setExitCode: (code) => {
      exitCode = code;
    },
  });
  await parser.parseAsync();
  return exitCode;
}

/** What the command handlers of {@link buildParser} call. */
interface ParserHooks {
  /** Runs the fetch command with its parsed arguments; resolves with its exit code. */
  runFetchCommand: (args: FetchCommandArgs) => Promise<number>;
  /** Receives the exit code of whichever command ran. */
  setExitCode: (code: number) => void;
}

/** The yargs parser of every command but the external ones (loads yargs). */
async function buildParser(argv: string[], io: CliIo, hooks: ParserHooks): Promise<Argv> {
  const { default: yargs } = await import('yargs');
  const { setExitCode } = hooks;
  const parser = yargs(argv)
    .scriptName('gemfetch')
    .locale('en') // gemfetch speaks English; a half-translated message would not be parsed by messages.ts either
    .usage(
      'Usage: gemfetch [options] URL...\n\n' +
        'Fetches Gemini URLs and tells you whether each response arrived whole: only the\n' +
        "server's TLS close_notify proves it. The body goes to stdout (raw when piped,\n" +
        'rendered on a terminal); everything for humans goes to stderr.',
    )
    .command(
      ['fetch [urls..]', '$0 [urls..]'],
      'fetch URLs (the default command; "gemini://" may be left out)',
      (y) => addOutputOptions(addFetchOptions(y.positional('urls', { type: 'string', array: true, describe: 'URLs to fetch, in order' }))),
      async (args) => {
        rejectEmptyNumbers(argv, NUMBER_FETCH_OPTIONS);
        rejectRepeatedOptions(args, SINGLE_VALUED_FETCH_OPTIONS);
        setExitCode(await hooks.runFetchCommand(withExtraUrls(args as unknown as FetchCommandArgs)));
      },
    )
    .command(
      'tofu [action] [host] [fingerprint]',
      'manage pinned server keys: list | check | forget HOST[:PORT] | trust HOST[:PORT] | pin HOST[:PORT] SHA256',
      (y) =>
        y
          .positional('action', { choices: ['list', 'check', 'forget', 'trust', 'pin'] as const, describe: 'what to do' })
          .positional('host', { type: 'string', describe: 'HOST[:PORT] (port 1965 by default)' })
          .positional('fingerprint', { type: 'string', describe: "SHA-256 of the server's public key, 64 hex digits (pin)" })
          .option('known-hosts', { type: 'string', requiresArg: true, defaultDescription: '$XDG_DATA_HOME/gemfetch/known_hosts', describe: 'pin file' })
          .option('connect-timeout', { type: 'string', requiresArg: true, defaultDescription: '15s', describe: 'time limit to connect and for the TLS handshake (trust)' })
          .option('ipv4', { alias: '4', type: 'boolean', describe: 'use IPv4 only (trust)' })
          .option('ipv6', { alias: '6', type: 'boolean', describe: 'use IPv6 only (trust)' })
          .example('gemfetch tofu list', 'show every pin')
          .example('gemfetch tofu check', 'list damaged lines of the pin file (exit 1 if any)')
          .example('gemfetch tofu trust example.org', 'pin the key example.org presents now, replacing the old pin')
          .example('gemfetch tofu pin example.org SHA256', 'pin a fingerprint received out of band (it does not expire)'),
      async (args) => {
        rejectRepeatedOptions(args, ['host', 'fingerprint', 'known-hosts', 'connect-timeout']);
        const { runTofu } = await import('./commands/tofu.js');
        setExitCode(await runTofu(args, io));
      },
    )
    .command(
      'completion',
      'print a bash completion script (zsh: via bashcompinit): gemfetch completion >> ~/.bashrc',
      (y) =>
        y
          .usage('Usage: gemfetch completion\n\nPrints a bash completion script for every command and option of gemfetch (zsh loads it through bashcompinit). Install it with:\n  gemfetch completion >> ~/.bashrc')
          .example('gemfetch completion >> ~/.bashrc', 'install it for bash (zsh: >> ~/.zshrc)'),
      async () => {
        const { completionScript } = await import('./completion.js');
        io.stdout.write(await completionScript());
        setExitCode(ExitCode.Ok);
      },
    )
    .command(
      'demo',
      'start a small capsule on this machine and show complete vs cut responses (no network needed)',
      (y) => y.option('color', { type: 'boolean', default: true, describe: 'colours on a terminal (--no-color or NO_COLOR=1 to turn off)' }),
      async (args) => {
        const { runDemo } = await import('./commands/demo.js');
        setExitCode(await runDemo({ color: args.color }, io));
      },
    );
  for (const [name, description] of Object.entries(EXTERNAL_COMMANDS)) {
    parser.command(`${name} [args..]`, `${description} (see gemfetch ${name} --help)`, {}, () => {
      throw new UsageError(`put "${name}" first: gemfetch ${name} [options] ...`);
    });
  }
  for (const [command, description] of EXAMPLES) parser.example(command, description);
  return parser
    .epilogue(`${EXIT_CODE_TABLE}\n\nDocumentation: man gemfetch, README.md. Environment: NO_COLOR, XDG_DATA_HOME.`)
    .version(packageVersion())
    .help()
    .alias('help', 'h')
    .strict()
    .wrap(Math.min(110, io.stdout.columns ?? 100))
    .showHelpOnFail(false)
    .exitProcess(false)
    .fail((message, err) => {
      throw err ?? new UsageError(message);
    });
}

/** Arguments after `--` land in `_` (possibly as numbers): they are URLs too. */
function withExtraUrls(args: FetchCommandArgs & { _?: Array<string | number> }): FetchCommandArgs {
  const extra = (args._ ?? []).filter((value) => value !== 'fetch').map(String);
  return extra.length === 0 ? args : { ...args, urls: [...(args.urls ?? []), ...extra] };
}

function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Prints a failure that escaped a command and returns its exit code. */
function reportFailure(err: unknown, io: CliIo, argv: readonly string[]): number {
  if (err instanceof UsageError || isYargsError(err) || (err instanceof GeminiError && (err.code === 'ERR_INVALID_OPTION' || err.code === 'ERR_INVALID_URL' || err.code === 'ERR_STATE_MISMATCH'))) {
    // A subcommand's usage errors point to its own help.
    const first = argv[0];
    const command = first !== undefined && first !== 'fetch' && COMMAND_WORDS.has(first) ? first : undefined;
    io.stderr.write(`${usageErrorMessage(err as UsageError, command, argv)}\n`);
    return ExitCode.Usage;
  }
  if (err instanceof GeminiError) {
    io.stderr.write(`gemfetch: ${err.message}\n`);
    return ExitCode.Network;
  }
  const fileError = localFileError(err);
  if (fileError !== undefined) {
    io.stderr.write(`gemfetch: ${fileError}\n`);
    return ExitCode.Network;
  }
  io.stderr.write(`${internalErrorMessage(err)}\n`);
  return ExitCode.Network;
}

/**
 * The message for a system error about a file that escaped a command (each
 * command should name the option itself; this keeps a missed case from being
 * reported as a bug): the path and the system's reason. Undefined for any other error.
 */
function localFileError(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException;
  if (!(err instanceof Error) || typeof e.code !== 'string' || typeof e.path !== 'string') return undefined;
  return `${e.path}: ${e.syscall ?? 'access'} failed (${e.code}: ${err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')})`;
}

function isYargsError(err: unknown): boolean {
  return err instanceof Error && err.name === 'YError';
}
