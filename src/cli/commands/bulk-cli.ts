/**
 * What the bulk commands (`batch`, `crawl`, `survey`) share: the politeness
 * options, the yargs parser, input lines, NDJSON output, the TTY status line,
 * Ctrl-C, and the session tying output, Ctrl-C and status line together.
 * Records are written by the CLI's one JSON writer (../ndjson-output.ts).
 */
import fs from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { DEFAULT_SLOW_DOWN_RETRIES, type BulkOptions } from '../../bulk/bulk.js';
import { DEFAULT_MAX_SLOW_DOWNS } from '../../bulk/host-scheduler.js';
import { StorageError } from '../../errors.js';
import { boundedLines, LineTooLongError } from '../bounded-lines.js';
import { EXIT_CODE_TABLE, ExitCode } from '../exit-codes.js';
import { requestOptionsFromArgs, type FetchArgs } from '../fetch-options.js';
import { refuseRepeatedOptions } from '../repeated-options.js';
import { refuseEmptyNumbers } from '../empty-numbers.js';
import { parseDuration } from '../units.js';
import { NdjsonOutput, OutputClosedError } from '../ndjson-output.js';
import { SlowDownWaits } from '../progress.js';
import { UsageError } from '../usage-error.js';
import { tls12IdentityWarning } from '../identity-messages.js';
import type { FetchRecord } from '../../net/record.js';

export { NdjsonOutput, OutputClosedError };

/** Politeness options shared by batch, crawl and survey. */
export interface PolitenessArgs {
  concurrency?: number;
  perHost?: number;
  delay?: string;
  retries?: number;
  slowDownRetries?: number;
  maxFailures?: number;
  maxSlowDowns?: number;
  output?: string;
  file?: string[];
  quiet?: boolean;
}

/** Adds --concurrency, --per-host, --delay, --retries, --slow-down-retries, --max-failures, --max-slow-downs, --output, -f, -q. */
export function addPolitenessOptions<T>(y: Argv<T>, defaults: { delay: string; retries: number }): Argv<T & PolitenessArgs> {
  return y
    .option('file', { alias: 'f', type: 'string', array: true, defaultDescription: 'stdin when it is not a terminal', describe: 'read inputs from FILE, one a line, # comments ("-" = stdin)' })
    .option('output', { alias: 'o', type: 'string', requiresArg: true, defaultDescription: 'stdout', describe: 'append the NDJSON records to FILE instead of stdout' })
    .option('concurrency', { alias: 'j', type: 'number', requiresArg: true, defaultDescription: '16', describe: 'requests at once, over all hosts' })
    .option('per-host', { type: 'number', requiresArg: true, defaultDescription: '1', describe: 'connections at once to one host' })
    .option('delay', { type: 'string', requiresArg: true, defaultDescription: defaults.delay, describe: 'pause between two requests to one host (a 44 answer lengthens it for that host)' })
    .option('retries', { type: 'number', requiresArg: true, defaultDescription: String(defaults.retries), describe: 'retries after a network failure or a 4x other than 44, with backoff' })
    .option('slow-down-retries', {
      type: 'number',
      requiresArg: true,
      defaultDescription: String(DEFAULT_SLOW_DOWN_RETRIES),
      describe: "retries of a URL answered 44 (slow down), each after that host's slow-down wait; 0 = record the 44 at once",
    })
    .option('max-failures', { type: 'number', requiresArg: true, defaultDescription: '5', describe: 'set a host aside after this many consecutive failures (0 = never)' })
    .option('max-slow-downs', {
      type: 'number',
      requiresArg: true,
      defaultDescription: String(DEFAULT_MAX_SLOW_DOWNS),
      describe: 'set a host aside after this many 44 (slow down) answers in a row (0 = never)',
    })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress and no summary on stderr' }) as unknown as Argv<T & PolitenessArgs>;
}

/**
 * The library options of a bulk run from the parsed arguments (all but
 * `client` and `signal`): request options, then politeness; throws
 * UsageError for an invalid value.
 */
export async function bulkOptionsFromArgs(args: PolitenessArgs & FetchArgs, defaultDelay: string): Promise<Omit<BulkOptions, 'client' | 'signal'>> {
  if (args.inputFile === '-' && readsStdin((args as { _?: Array<string | number> })._ ?? [], args.file)) {
    throw new UsageError('standard input is the list of inputs here: put the answer in a file', { what: 'conflicting inputs', which: '--input-file -' });
  }
  const requestOptions = await requestOptionsFromArgs(args);
  return { ...politenessFromArgs(args, defaultDelay), requestOptions };
}

/** Library politeness options from the parsed arguments. */
function politenessFromArgs(args: PolitenessArgs, defaultDelay: string): Omit<BulkOptions, 'client' | 'requestOptions' | 'signal'> {
  const whole = (name: string, value: number | undefined, min: number): number | undefined => {
    if (value === undefined) return undefined;
    // Safe integers only: past 2^53 the library refuses the value in its own words (option maxSlowDowns ...), not the option's.
    if (!Number.isSafeInteger(value) || value < min) throw new UsageError(`--${name} needs a whole number, ${min} or more`);
    return value;
  };
  const options: Omit<BulkOptions, 'client' | 'requestOptions' | 'signal'> = { delay: parseDuration(args.delay ?? defaultDelay, '--delay') };
  const concurrency = whole('concurrency', args.concurrency, 1);
  const perHost = whole('per-host', args.perHost, 1);
  const retries = whole('retries', args.retries, 0);
  const slowDownRetries = whole('slow-down-retries', args.slowDownRetries, 0);
  const maxFailures = whole('max-failures', args.maxFailures, 0);
  const maxSlowDowns = whole('max-slow-downs', args.maxSlowDowns, 0);
  if (slowDownRetries !== undefined) options.slowDownRetries = slowDownRetries;
  if (concurrency !== undefined) options.concurrency = concurrency;
  if (perHost !== undefined) options.perHost = perHost;
  if (retries !== undefined) options.retries = retries;
  if (maxFailures !== undefined) options.maxFailures = maxFailures;
  if (maxSlowDowns !== undefined) options.maxSlowDowns = maxSlowDowns;
  return options;
}

/** A yargs parser that throws UsageError instead of exiting; `--help` ends with `exitCodes` (the fetch command's table by default). */
export function commandParser(argv: string[], usage: string, exitCodes: string = EXIT_CODE_TABLE): Argv {
  const parser = yargs(argv)
    .scriptName('gemfetch')
    .locale('en') // the usage errors are rephrased by ../messages.ts, which reads yargs' English
    .usage(usage)
    .strictOptions()
    .exitProcess(false)
    .version(false)
    .help()
    .wrap(Math.min(100, process.stderr.columns ?? 80))
    .epilogue(exitCodes)
    .fail((message: string | undefined, err: Error | undefined) => {
      throw err ?? new UsageError(message ?? 'invalid arguments');
    });
  return refuseEmptyNumbers(refuseRepeatedOptions(parser), argv);
}

/** Whether {@link inputLines} reads stdin for these arguments. */
function readsStdin(positional: ReadonlyArray<string | number>, files: readonly string[] | undefined): boolean {
  if (positional.some((p) => String(p) === '-') || files?.includes('-')) return true;
  return positional.length === 0 && !files?.length && !process.stdin.isTTY;
}

/** Whether the user asked for --help (yargs has printed it). */
export function askedForHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/**
 * Input lines: positional arguments (`-` = the lines of stdin), then each
 * `-f FILE` (`-` = stdin), or stdin when neither was given and stdin is not
 * a terminal. Lines of files are trimmed; blank lines and `#` comments are
 * skipped.
 * @throws UsageError when an input is the `output` file itself (`-f FILE -o FILE`,
 *   or stdin redirected from it): the records appended to it would be read back
 *   as input, and the run would never end.
 */
export async function* inputLines(positional: readonly string[], files: readonly string[] | undefined, output?: string): AsyncGenerator<string> {
  // yargs hands `-f -` over as an empty -f plus a positional "-"
  const wantsStdin = positional.includes('-');
  for (const item of positional) {
    if (item === '-') yield* linesOf('-', output);
    else yield item;
  }
  const sources = files?.length ? files : positional.length === 0 && !wantsStdin && !process.stdin.isTTY ? ['-'] : [];
  for (const file of sources) yield* linesOf(file, output);
}

/** Whether `input` (a path, or 0 for stdin) and the file `output` are one file (same device and inode). */
function sameFile(input: string | 0, output: string): boolean {
  try {
    const a = input === 0 ? fs.fstatSync(0) : fs.statSync(input);
    const b = fs.statSync(output);
    return a.isFile() && a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

/**
 * The input lines of `file` (`-` = stdin). A file that cannot be opened, or
 * is a directory, is a usage error naming it; a read failing midway is a
 * {@link StorageError} naming it (the lines before it were yielded).
 */
async function* linesOf(file: string, output: string | undefined): AsyncGenerator<string> {
  if (output !== undefined && output !== '-' && sameFile(file === '-' ? 0 : file, output)) {
    const input = file === '-' ? 'standard input' : `-f ${file}`;
    throw new UsageError(`--output ${output} is also the input (${input}): the records written to it would be read back as URLs without end; write them to another file`);
  }
  let stream: NodeJS.ReadableStream;
  if (file === '-') stream = process.stdin;
  else {
    try {
      fs.accessSync(file, fs.constants.R_OK);
      if (fs.statSync(file).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    } catch (err) {
      throw new UsageError(`-f ${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    stream = fs.createReadStream(file);
  }
  try {
    for await (const raw of boundedLines(stream as AsyncIterable<Buffer | string>)) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      yield line;
    }
  } catch (err) {
    if (err instanceof LineTooLongError) throw new UsageError(`${file === '-' ? 'standard input' : `-f ${file}`}: ${err.message}`);
    if (file === '-') throw err;
    throw new StorageError(`-f ${file}: cannot read the file (${(err as Error).message})`, file, err);
  }
}

/**
 * A one-line status on stderr, drawn only on a terminal, at most 5 times a
 * second. While hosts wait after a 44 it says so (see {@link SlowDownWaits})
 * and is redrawn every second, so the wait shows even when no record arrives.
 */
export class StatusLine {
  readonly #enabled: boolean;
  readonly waits = new SlowDownWaits();
  #last = 0;
  #drawn = false;
  #text: () => string = () => '';
  #ticker: NodeJS.Timeout | undefined;
  constructor(enabled: boolean) {
    this.#enabled = enabled && process.stderr.isTTY === true;
  }
  update(text: () => string): void {
    this.#text = text;
    if (!this.#enabled) return;
    const now = Date.now();
    if (now - this.#last < 200) return;
    this.#last = now;
    this.#draw();
  }
  /** A host answered 44 and waits `waitMs` (the library's `onSlowDown`): shown at once, then counted down. */
  slowDown(hostKey: string, waitMs: number): void {
    this.waits.note(hostKey, waitMs);
    if (!this.#enabled) return;
    this.#draw();
    if (this.#ticker === undefined) {
      this.#ticker = setInterval(() => {
        this.#draw();
        if (this.waits.waiting === 0) this.#stopTicker();
      }, 1000);
      this.#ticker.unref();
    }
  }
  clear(): void {
    this.#stopTicker();
    if (this.#drawn) process.stderr.write('\r\x1b[K');
    this.#drawn = false;
  }
  #stopTicker(): void {
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    this.#ticker = undefined;
  }
  #draw(): void {
    const width = (process.stderr.columns ?? 80) - 1;
    const waits = this.waits.text();
    const line = [this.#text(), waits].filter((part) => part !== '').join(', ');
    process.stderr.write(`\r\x1b[K${line.length > width ? line.slice(0, width) : line}`);
    this.#drawn = true;
  }
}

/** Aborts `controller` on the first Ctrl-C (SIGINT/SIGTERM); returns a function removing the handlers. */
export function abortOnSignals(controller: AbortController): () => void {
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/** Records per second since `started`. */
export function rate(count: number, started: number): string {
  const seconds = Math.max((Date.now() - started) / 1000, 0.001);
  return `${(count / seconds).toFixed(1)}/s`;
}

/**
 * What a bulk command holds while it runs: where records go (`--output` or
 * stdout), the controller Ctrl-C aborts, and the TTY status line. Created in
 * that order (an unopenable output throws before any handler is installed);
 * `close()` undoes it all and must be called once, in a `finally`.
 */
export class BulkSession {
  readonly output: NdjsonOutput;
  readonly #controller: AbortController;
  readonly status: StatusLine;
  readonly #removeHandlers: () => void;
  readonly #quiet: boolean;
  /** The warning for an identity sent over TLS 1.2 was given (once per run). */
  #warnedTls12 = false;

  constructor(args: Pick<PolitenessArgs, 'output' | 'quiet'>) {
    this.#quiet = args.quiet === true;
    this.output = new NdjsonOutput(args.output);
    this.#controller = new AbortController();
    this.#removeHandlers = abortOnSignals(this.#controller);
    this.status = new StatusLine(!args.quiet);
  }

  /** The signal to hand to the library run. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The library's `onSlowDown` callback: 44 waits shown on the status line. */
  readonly onSlowDown = (hostKey: string, waitMs: number): void => this.status.slowDown(hostKey, waitMs);

  /** Whether Ctrl-C (SIGINT/SIGTERM) stopped the run. */
  get interrupted(): boolean {
    return this.#controller.signal.aborted;
  }

  /**
   * The exit code and message of a run that stopped because `err` was thrown
   * while writing records: stdout's reader went away (EPIPE) gives a
   * one-line message on stderr and 1; anything else is rethrown.
   */
  outputFailure(command: string, err: unknown): number {
    if (!(err instanceof OutputClosedError)) throw err;
    this.status.clear();
    process.stderr.write(`gemfetch ${command}: ${err.message}\n`);
    return ExitCode.Network;
  }

  /** Looks at each record written: warns once per run (stderr, unless --quiet) when an identity was sent over TLS 1.2. */
  noticeRecord(record: Pick<FetchRecord, 'identity' | 'tls' | 'finalUrl' | 'url'>): void {
    if (this.#quiet || this.#warnedTls12 || !record.identity || record.tls?.protocol !== 'TLSv1.2') return;
    this.#warnedTls12 = true;
    this.status.clear();
    process.stderr.write(`gemfetch: ${tls12IdentityWarning(record.identity, new URL(record.finalUrl ?? record.url).host)}\n`);
  }

  /** Clears the status line, closes the output, removes the signal handlers. */
  close(): void {
    this.status.clear();
    this.output.close();
    this.#removeHandlers();
  }
}
