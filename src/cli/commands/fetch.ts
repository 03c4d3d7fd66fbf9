/**
 * `gemfetch [fetch] URL...`: fetches each URL in order, streams its body to
 * stdout or a file, and tells the human on stderr (and the script through
 * the exit code) whether every response arrived whole.
 */
import { Writable } from 'node:stream';
import type { Argv } from 'yargs';
import { Client, type RequestOptions } from '../../net/client.js';
import { InvalidUrlError } from '../../errors.js';
import { errorRecord, fetchToRecord, type FetchRecord } from '../../net/record.js';
import type { Completion, StreamingResponse } from '../../net/response.js';
import { fromUserInput, parseGeminiUrl, withInput } from '../../protocol/url.js';
import { combineExitCodes, ExitCode, exitCodeForRecord } from '../exit-codes.js';
import type { FetchArgs } from '../fetch-options.js';
import { requestOptionsFromArgs } from '../fetch-options.js';
import type { CliIo } from '../io.js';
import { jsonLine } from '../ndjson-output.js';
import {
  fetchErrorMessage,
  firstPinNotice,
  formatMessage,
  describeRedirectNotFollowed,
  describeTermination,
  describeTrust,
  incompleteWarning,
  plain,
  plainLines,
  statusLabel,
  type LimitsInForce,
} from '../messages.js';
import { addOptionGroup, OUTPUT_OPTION_GROUP } from '../option-spec.js';
import { checkOutputPath, fileNameFromUrl, FinalNameTakenError, OutputFile, PARTIAL_SUFFIX, type OutputFileOptions, prepareDirectory, prepareOutputPath, resolveInside } from '../output-file.js';
import type { ProgressLine } from '../progress.js';
import type { PromptResult } from '../prompt.js';
import type { TerminalBodyWriter } from '../terminal-output.js';
import { formatBytes } from '../units.js';
import { describeSentIdentity, tls12IdentityWarning } from '../identity-messages.js';
import { UsageError } from '../usage-error.js';

/** The record as one line of JSON: the CLI's one JSON writer (./ndjson-output.ts), re-exported for its tests. */
export { jsonLine };

/** The output options of the fetch command (on top of {@link FetchArgs}). */
export interface OutputArgs {
  /** `-o FILE`: write the body to FILE (`-` = stdout, raw even on a terminal). */
  output?: string;
  /** `-O`: write the body to a file named after the URL. */
  remoteName?: boolean;
  /** `--output-dir DIR`: directory for `-o` and `-O` files (implies `-O` without `-o`). */
  outputDir?: string;
  /** `-i`: the header line, then the body. */
  include?: boolean;
  /** `-I`: the header line only; the connection is closed after it. */
  head?: boolean;
  /** `-q`: no warnings, status lines or progress on stderr (errors still are). */
  quiet?: boolean;
  /** `-v`: TLS, trust, redirects and timings on stderr. */
  verbose?: boolean;
  /** `--json`: one JSON record per URL on stdout instead of the body. */
  json?: boolean;
  /** `--raw`: no rendering of text/gemini on a terminal (still sanitized). */
  raw?: boolean;
  /** `--allow-incomplete`: an incomplete 2x response exits 0. */
  allowIncomplete?: boolean;
  /** `--color` (default true; `--no-color` turns colours off). */
  color?: boolean;
}

/** All arguments of the fetch command. */
export type FetchCommandArgs = FetchArgs & OutputArgs & { urls?: Array<string | number> };

/** Heading under which `--help` lists the output options. */
export const OUTPUT_OPTIONS_GROUP = OUTPUT_OPTION_GROUP.heading;

/** Adds the output options of the fetch command (declared in {@link OUTPUT_OPTION_GROUP}). */
export function addOutputOptions<T>(y: Argv<T>): Argv<T & OutputArgs> {
  return addOptionGroup(y, OUTPUT_OPTION_GROUP) as unknown as Argv<T & OutputArgs>;
}

/** Where a body goes once its header is known. */
interface BodyTarget {
  write(chunk: Buffer): Promise<void>;
  /** Called once the body ended (or was abandoned); reports what it did. */
  finish(record: FetchRecord): Promise<void>;
}

/** The write failed because stdout was closed by its reader (`gemfetch URL | head`). */
class OutputClosedError extends Error {}

/** A local output failure (disk full, permission denied...). */
class OutputError extends Error {}

/**
 * Runs the fetch command: every URL in order, then the combined exit code
 * (see exit-codes.ts). Never throws for a fetch failure; throws UsageError
 * for a bad command line (before anything is fetched).
 */
export async function runFetch(args: FetchCommandArgs, io: CliIo): Promise<number> {
  const urls = [...(args.urls ?? [])].map(String);
  validateCombination(args, urls);
  await prepareOutputs(args);
  const requestOptions = await requestOptionsFromArgs(args, { urls });
  let client: Client;
  try {
    client = new Client(requestOptions);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const run = new FetchRun(client, requestOptions, args, io);
  return run.all(urls);
}

function validateCombination(args: FetchCommandArgs, urls: string[]): void {
  if (urls.length === 0) throw new UsageError('give one or more gemini URLs; `gemfetch demo` shows gemfetch at work', { what: 'no URL given' });
  // `-L 3` (the old form): the 3 would be fetched as gemini://3/.
  const count = args.location === true ? urls.find((url) => /^\d+$/.test(url)) : undefined;
  if (count !== undefined) throw new UsageError(`-L is a flag (follow redirects); to set how many, use --max-redirects ${count}`, { what: 'unexpected number', which: `-L ${count}` });
  if (args.output !== undefined) {
    checkOutputPath(args.output);
    if (args.output !== '-' && urls.length > 1) throw new UsageError('-o FILE takes one URL; with several URLs use -O or --output-dir DIR');
    if (args.output === '-' && args.json) throw new UsageError('--json already writes to stdout: -o - cannot be combined with it');
  }
  if (args.outputDir !== undefined && args.outputDir.trim() === '') throw new UsageError('--output-dir needs a directory name');
}

/** Checks and creates where files will go, before anything is fetched (see prepareOutputPath). */
async function prepareOutputs(args: FetchCommandArgs): Promise<void> {
  const { output, outputDir } = args;
  if (output !== undefined && output !== '-') await prepareOutputPath(output, outputDir !== undefined ? joinDir(outputDir, output) : output);
  else if (outputDir !== undefined) await prepareDirectory(`--output-dir ${outputDir}`, outputDir);
}

/** One invocation of the fetch command: shared state across its URLs. */
class FetchRun {
  readonly #client: Client;
  readonly #options: RequestOptions;
  readonly #args: FetchCommandArgs;
  readonly #io: CliIo;
  readonly #abort = new AbortController();
  readonly #limits: LimitsInForce;
  #interrupted = false;
  #stdoutClosed = false;
  /** The warning for an identity sent over TLS 1.2 was given. */
  #warnedTls12 = false;
  /** Files saved by this run, never overwritten by a later URL of it. */
  readonly #claimed = new Set<string>();

  constructor(client: Client, options: RequestOptions, args: FetchCommandArgs, io: CliIo) {
    this.#client = client;
    this.#options = options;
    this.#args = args;
    this.#io = io;
    this.#limits = {
      ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
      ...(options.idleTimeout !== undefined ? { idleTimeout: options.idleTimeout } : {}),
      ...(options.totalTimeout !== undefined ? { totalTimeout: options.totalTimeout } : {}),
    };
  }

  async all(urls: string[]): Promise<number> {
    const onSigint = (): void => {
      if (this.#interrupted) process.exit(ExitCode.Interrupted); // second Ctrl-C: stop waiting for anything
      this.#interrupted = true;
      this.#abort.abort(new Error('interrupted'));
    };
    const onStdoutError = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'EPIPE') this.#stdoutClosed = true;
      this.#abort.abort(err);
    };
    process.on('SIGINT', onSigint);
    this.#io.stdout.on('error', onStdoutError);
    const codes: number[] = [];
    try {
      for (const url of urls) {
        codes.push(await this.#one(url));
        if (this.#interrupted) return ExitCode.Interrupted;
        if (this.#stdoutClosed) break;
      }
    } finally {
      process.off('SIGINT', onSigint);
      this.#io.stdout.off('error', onStdoutError);
    }
    return combineExitCodes(codes);
  }

  /** Fetches one URL as the user typed it; returns its exit code. */
  async #one(typed: string): Promise<number> {
    const url = fromUserInput(typed);
    try {
      parseGeminiUrl(url);
    } catch (err) {
      if (!(err instanceof InvalidUrlError)) throw err;
      return this.#reportRecord(errorRecord(typed, err), this.#noDetails());
    }
    let target = url;
    let rounds = 0;
    for (;;) {
      const { record, details } = await this.#fetch(url, target);
      if (this.#needsPrompt(record) && rounds < 10) {
        rounds++;
        const answer = await this.#prompt(record);
        if (answer.kind === 'interrupted' || this.#interrupted) {
          if (!this.#args.quiet) this.#io.stderr.write(`gemfetch: ${plain(url)}: interrupted at the input prompt\n`);
          return ExitCode.Interrupted;
        }
        if (answer.kind === 'cancelled') return this.#reportRecord(record, details);
        try {
          target = withInput(record.finalUrl!, answer.text);
        } catch (err) {
          return this.#reportRecord(errorRecord(url, err), this.#noDetails());
        }
        continue;
      }
      return this.#reportRecord(record, details);
    }
  }

  #noDetails(): FetchDetails {
    return { completion: undefined, output: undefined, requestedOutput: undefined, refusedBinary: false, refusedCharset: undefined, outputError: undefined };
  }

  /** Fetches `target` (reported as `url`), routing the body to its destination. */
  async #fetch(url: string, target: string): Promise<{ record: FetchRecord; details: FetchDetails }> {
    const details = this.#noDetails();
    const router = new BodyRouter();
    let progress: ProgressLine | undefined;
    let record: FetchRecord;
    try {
      record = await fetchToRecord(this.#client, target, {
        signal: this.#abort.signal,
        sink: router,
        onHeader: (response) => {
          void response.done.then((completion) => {
            details.completion = completion;
          });
          if (this.#args.verbose) this.#verboseHeader(response, url);
          this.#noticeTrust(response);
          const target = this.#chooseTarget(response, details).then(async (chosen) => {
            if (chosen && this.#showsProgress(chosen.toTerminal)) {
              const { ProgressLine } = await import('../progress.js');
              progress = new ProgressLine(this.#io.stderr, plain(url));
            }
            return chosen?.target;
          });
          target.catch(() => {}); // handled where it is awaited
          router.target = target;
        },
        onChunk: (chunk) => progress?.add(chunk.length),
      });
    } catch (err) {
      // The sink failed: the response was abandoned (destroyed) by fetchToRecord.
      record = errorRecord(url, err);
      if (err instanceof OutputClosedError || this.#stdoutClosed) {
        this.#stdoutClosed = true;
        record.error = { code: 'ERR_OUTPUT_CLOSED', message: 'standard output was closed' };
      } else {
        details.outputError = err instanceof Error ? err.message : String(err);
        record.error = { code: 'ERR_OUTPUT', message: details.outputError };
      }
    } finally {
      progress?.clear();
    }
    if (target !== url) record.url = url;
    const chosen = await router.target?.catch(() => undefined);
    try {
      await chosen?.finish(record);
    } catch (err) {
      details.outputError = (err as Error).message;
      record.error ??= { code: 'ERR_OUTPUT', message: details.outputError };
    }
    return { record, details };
  }

  #showsProgress(toTerminal: boolean): boolean {
    return !toTerminal && !this.#args.quiet && this.#io.stderr.isTTY === true;
  }

  /** Decides where the body of `response` goes. Cancels the response when it must not be read. Never rejects. */
  async #chooseTarget(response: StreamingResponse, details: FetchDetails): Promise<ChosenTarget | undefined> {
    try {
      return await this.#pickTarget(response, details);
    } catch (err) {
      response.cancel();
      if (err instanceof OutputClosedError || this.#stdoutClosed) this.#stdoutClosed = true;
      else details.outputError = err instanceof Error ? err.message : String(err);
      return undefined;
    }
  }

  async #pickTarget(response: StreamingResponse, details: FetchDetails): Promise<ChosenTarget | undefined> {
    const args = this.#args;
    const headerLine = `${response.status}${response.meta === '' ? '' : ` ${response.meta}`}`;
    if (args.head) {
      response.cancel();
      if (!args.json) await this.#writeStdout(this.#stdoutIsTerminal() ? `${plain(headerLine)}\n` : `${headerLine}\r\n`);
      return undefined;
    }
    if (args.include && !args.json && (args.output === undefined || args.output === '-')) {
      await this.#writeStdout(this.#stdoutIsTerminal() && args.output !== '-' ? `${plain(headerLine)}\n` : `${headerLine}\r\n`);
    }
    if (response.category !== 2) return undefined;

    const file = this.#outputPath(response);
    if (file !== undefined) {
      try {
        return { target: await fileTarget(file.path, { noOverwrite: file.fromUrl, claimed: this.#claimed }, details), toTerminal: false };
      } catch (err) {
        response.cancel();
        details.outputError = `cannot write ${file.path}: ${(err as Error).message}`;
        return undefined;
      }
    }
    if (args.json) return { target: discardTarget(), toTerminal: false };
    if (args.output === '-' || !this.#stdoutIsTerminal()) return { target: this.#stdoutTarget(), toTerminal: false };

    const mime = response.mimeType ?? 'text/gemini';
    if (!mime.startsWith('text/')) {
      response.cancel();
      details.refusedBinary = true;
      return undefined;
    }
    if (!response.charsetKnown && !args.raw) {
      response.cancel();
      details.refusedCharset = response.charset;
      return undefined;
    }
    const { TerminalBodyWriter } = await import('../terminal-output.js');
    const writer = new TerminalBodyWriter({
      charset: response.charset,
      gemtext: mime === 'text/gemini' && !args.raw,
      width: terminalWidth(this.#io),
      color: this.#colorOn(),
      baseUrl: response.url,
    });
    if (!writer.decoder.known && !args.quiet) {
      this.#io.stderr.write(`gemfetch: warning: unknown charset ${JSON.stringify(plain(response.charset ?? ''))}: shown as UTF-8\n`);
    }
    return { target: this.#terminalTarget(writer), toTerminal: true };
  }

  /** The file the body goes to (and whether its name comes from the URL), or undefined for stdout. */
  #outputPath(response: StreamingResponse): { path: string; fromUrl: boolean } | undefined {
    const { output, outputDir, remoteName } = this.#args;
    if (output === '-') return undefined;
    if (output !== undefined) return { path: outputDir !== undefined ? joinDir(outputDir, output) : output, fromUrl: false };
    if (remoteName || outputDir !== undefined) {
      return { path: resolveInside(outputDir ?? '.', fileNameFromUrl(response.url, response.mimeType)), fromUrl: true };
    }
    return undefined;
  }

  #stdoutTarget(): BodyTarget {
    return {
      write: (chunk) => this.#writeStdout(chunk),
      finish: async () => {},
    };
  }

  #terminalTarget(writer: TerminalBodyWriter): BodyTarget {
    return {
      write: (chunk) => this.#writeStdout(writer.write(chunk)),
      finish: async () => {
        const rest = writer.end();
        if (rest !== '') await this.#writeStdout(rest).catch(() => {});
      },
    };
  }

  /** Writes to stdout, waiting for it to drain. Rejects with OutputClosedError once the reader went away. */
  async #writeStdout(data: string | Buffer): Promise<void> {
    if (this.#stdoutClosed) throw new OutputClosedError('standard output was closed');
    if (data.length === 0) return;
    const stdout = this.#io.stdout;
    await new Promise<void>((resolve, reject) => {
      const ok = stdout.write(data, (err) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === 'EPIPE') this.#stdoutClosed = true;
          reject(this.#stdoutClosed ? new OutputClosedError('standard output was closed') : err);
        } else if (ok) resolve();
      });
      if (!ok) stdout.once('drain', resolve);
    });
  }

  #stdoutIsTerminal(): boolean {
    return this.#io.stdout.isTTY === true;
  }

  #colorOn(): boolean {
    const env = this.#io.env;
    return this.#args.color !== false && !env.NO_COLOR && env.TERM !== 'dumb' && this.#stdoutIsTerminal();
  }

  #needsPrompt(record: FetchRecord): boolean {
    return (
      record.status !== null &&
      Math.floor(record.status / 10) === 1 &&
      this.#options.input === undefined &&
      !this.#interrupted &&
      this.#io.stdinIsTTY &&
      this.#io.stderr.isTTY === true
    );
  }

  async #prompt(record: FetchRecord): Promise<PromptResult> {
    const { promptForInput } = await import('../prompt.js');
    const question = plain(record.meta ?? '') || 'Input:';
    return promptForInput(question, { input: this.#io.stdin(), output: this.#io.stderr, sensitive: record.status === 11 });
  }

  // ------------------------------------------------------------------ reporting

  /** Prints what humans need to know about one fetch; returns its exit code. */
  async #reportRecord(record: FetchRecord, details: FetchDetails): Promise<number> {
    const args = this.#args;
    const say = (line: string): void => {
      this.#io.stderr.write(`${line}\n`);
    };
    const warn = (line: string): void => {
      if (!args.quiet) say(line);
    };
    const url = plain(record.url);
    if (args.json && !this.#stdoutClosed) await this.#writeStdout(`${jsonLine({ ...record, savedPath: details.output ?? null })}\n`).catch(() => {});

    if (this.#interrupted) {
      warn(`gemfetch: ${url}: interrupted`);
      if (details.output?.endsWith(PARTIAL_SUFFIX)) warn(`gemfetch: ${keptPartialMessage(details.output)}`);
      return ExitCode.Interrupted;
    }
    if (this.#stdoutClosed) return ExitCode.Network;
    if (details.outputError !== undefined) {
      say(formatMessage({ what: 'cannot save the body', which: url, why: plain(details.outputError) }));
      return ExitCode.Network;
    }
    if (record.error) {
      say(plainLines(fetchErrorMessage(url, record.error)));
      return exitCodeForRecord(record);
    }
    if (args.verbose) this.#verboseEnd(record);
    const status = record.status!;
    const meta = plain(record.meta ?? '');
    const category = Math.floor(status / 10);
    if (details.refusedBinary) {
      say(
        formatMessage({
          what: 'not shown',
          which: url,
          why: `${plain(record.mimeType ?? 'binary')} data on a terminal`,
          hint: 'Save it with -o FILE or -O, pipe it, or use -o - to print it anyway.',
        }),
      );
      return ExitCode.Usage;
    }
    if (details.refusedCharset !== undefined) {
      say(
        formatMessage({
          what: 'not shown',
          which: url,
          why: `its charset ${JSON.stringify(plain(details.refusedCharset))} is unknown`,
          hint: 'Save it with -o FILE, or show it decoded as UTF-8 with --raw.',
        }),
      );
      return ExitCode.Usage;
    }
    const allowIncomplete = args.allowIncomplete === true || args.head === true;
    const code = exitCodeForRecord(record, { allowIncomplete });
    switch (category) {
      case 1:
        warn(`gemfetch: ${url}: ${statusLabel(status)}: the server asks: ${meta || '(no prompt)'}`);
        warn(`  answer with --input TEXT${this.#io.stdinIsTTY ? '' : ' (no terminal to ask on)'}`);
        break;
      case 2:
        if (!record.complete && !args.head) {
          const end = details.completion ?? { termination: record.termination!, timeout: record.timeout };
          warn(`gemfetch: ${incompleteWarning(url, record.bytes, end, this.#limits)}`);
        }
        break;
      case 3: {
        const notFollowed = record.redirectNotFollowed;
        const why = notFollowed ? describeRedirectNotFollowed(notFollowed.reason) : 'not followed';
        warn(formatMessage({ what: 'redirect not followed', which: url, why: `${statusLabel(status)} to ${plain(notFollowed?.target ?? meta)}: ${why}` }));
        break;
      }
      default:
        warn(formatMessage({ what: statusLabel(status), which: url, why: meta || undefined }));
        if (category === 6 && !args.quiet && this.#io.stderr.isTTY === true) {
          const { certificateStatusHint } = await import('../identity-messages.js');
          for (const line of await certificateStatusHint(record, { noId: args.id === false })) say(`  ${line}`);
        }
    }
    if (details.output) {
      const renamed = details.requestedOutput !== undefined && details.output !== details.requestedOutput && details.output !== details.requestedOutput + PARTIAL_SUFFIX;
      if (renamed) warn(`gemfetch: ${plain(details.requestedOutput!)} already exists (or was saved earlier in this run): not overwriting it`);
      if (details.output.endsWith(PARTIAL_SUFFIX)) warn(`gemfetch: ${keptPartialMessage(details.output)}`);
      else if (renamed) warn(`gemfetch: saved ${url} as ${plain(details.output)}`);
      else if (args.verbose) say(`* saved ${plain(details.output)} (${formatBytes(record.bytes)})`);
    }
    return code;
  }

  /** Trust changes worth telling without -v (a key was replaced; on a terminal, a host pinned for the first time, as ssh does). */
  #noticeTrust(response: StreamingResponse): void {
    const trust = response.tls.trust;
    if (trust === 'first-use' && !this.#args.quiet && !this.#args.verbose && this.#io.stderr.isTTY === true) {
      this.#io.stderr.write(`gemfetch: ${firstPinNotice(new URL(response.url).host, response.tls.fingerprint, this.#client.knownHosts().path)}\n`);
    }
    if (!this.#args.quiet && !this.#args.verbose && (trust === 'repinned-expired' || trust === 'repinned-ca')) {
      this.#io.stderr.write(`gemfetch: note: ${plain(new URL(response.url).host)}: ${describeTrust(trust)}\n`);
    }
    const identity = response.tls.identity;
    if (identity && response.tls.protocol === 'TLSv1.2' && !this.#args.quiet && !this.#warnedTls12) {
      this.#warnedTls12 = true; // once per run
      this.#io.stderr.write(`gemfetch: ${tls12IdentityWarning(identity, new URL(response.url).host)}\n`);
    }
  }

  /** The `-v` block of one response, on stderr; its first line names the URL as given, so blocks of several URLs are told apart. */
  #verboseHeader(response: StreamingResponse, url: string): void {
    const tls = response.tls;
    const lines: string[] = [`URL: ${plain(url)}`];
    const chain = [...response.redirects, response.url];
    if (chain.length > 1) lines.push(`redirects: ${chain.map(plain).join(' -> ')}`);
    lines.push(`TLS: ${tls.protocol}, ${tls.cipher}${tls.resumed ? ', session resumed' : ''}`);
    const cert = tls.certificate;
    lines.push(
      `certificate: ${plain(cert.subject)}${cert.selfSigned ? ' (self-signed)' : `, issued by ${plain(cert.issuer)}`}, ` +
        `valid ${cert.validFrom.toISOString().slice(0, 10)} to ${cert.validTo.toISOString().slice(0, 10)}`,
    );
    lines.push(`public key sha256: ${tls.fingerprint}`);
    const knownHosts = this.#options.trust === undefined || this.#options.trust === 'tofu' ? this.#client.knownHosts().path : undefined;
    lines.push(`trust: ${describeTrust(tls.trust, knownHosts)}`);
    if (tls.identity) lines.push(`${describeSentIdentity(tls.identity)} offered over ${tls.protocol}`);
    lines.push(`header: ${response.status}${response.meta ? ` ${plain(response.meta)}` : ''}`);
    this.#io.stderr.write(lines.map((l) => `* ${l}\n`).join(''));
  }

  #verboseEnd(record: FetchRecord): void {
    const t = record.timings;
    const lines: string[] = [];
    if (record.termination) lines.push(`end: ${describeTermination({ termination: record.termination, timeout: record.timeout }, this.#limits)}`);
    lines.push(`body: ${formatBytes(record.bytes)}, sha256 ${record.sha256}`);
    if (t) lines.push(`timings: connect ${t.connect} ms, TLS ${t.secure} ms, header ${t.header} ms${t.total !== null ? `, total ${t.total} ms` : ''}`);
    this.#io.stderr.write(lines.map((l) => `* ${l}\n`).join(''));
  }
}

/** A body destination, and whether it is the terminal. */
interface ChosenTarget {
  target: BodyTarget;
  toTerminal: boolean;
}

/** What happened around one fetch, beyond its record. */
interface FetchDetails {
  completion: Completion | undefined;
  /** Where the body was saved (`NAME` or `NAME.partial`): the record's `savedPath`. */
  output: string | undefined;
  /** The name asked for, when the body went to a file (`output` is `requestedOutput.N` when that was taken). */
  requestedOutput: string | undefined;
  /** A binary body was not shown on the terminal. */
  refusedBinary: boolean;
  /** A body in this unknown charset was not shown on the terminal. */
  refusedCharset: string | undefined;
  /** A local write failure. */
  outputError: string | undefined;
}

async function fileTarget(finalPath: string, options: OutputFileOptions, details: FetchDetails): Promise<BodyTarget> {
  const file = await OutputFile.open(finalPath, options);
  details.requestedOutput = file.requestedPath;
  return {
    write: async (chunk) => {
      try {
        await file.write(chunk);
      } catch (err) {
        throw new OutputError(`cannot write ${file.partialPath}: ${(err as Error).message}`);
      }
    },
    finish: async (record) => {
      const complete = record.complete && record.error === null;
      try {
        details.output = (await file.finish(complete)).path;
      } catch (err) {
        if (err instanceof FinalNameTakenError) details.output = err.keptIn;
        throw err;
      }
    },
  };
}

/** Where the body of an incomplete response is, and why not under its final name. */
function keptPartialMessage(partialPath: string): string {
  const finalPath = partialPath.slice(0, -PARTIAL_SUFFIX.length);
  return `the incomplete body is in ${plain(partialPath)} (not ${plain(finalPath)}: only a complete body gets its final name)`;
}

/** Columns of the terminal on stdout (80 when it does not say, at least 20). */
function terminalWidth(io: CliIo): number {
  const columns = io.stdout.columns || Number(io.env.COLUMNS) || 80;
  return Math.max(20, columns);
}

function discardTarget(): BodyTarget {
  return { write: async () => {}, finish: async () => {} };
}

function joinDir(dir: string, file: string): string {
  return file.startsWith('/') ? file : `${dir.replace(/\/+$/, '')}/${file}`;
}

/**
 * The sink handed to fetchToRecord: forwards each chunk to a target chosen
 * once the header has arrived. highWaterMark 0 makes every write wait for
 * the target, so backpressure and errors reach fetchToRecord at once.
 */
class BodyRouter extends Writable {
  target: Promise<BodyTarget | undefined> | undefined;

  constructor() {
    super({ highWaterMark: 0 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const target = this.target ?? Promise.resolve(undefined);
    target
      .then((t) => t?.write(chunk))
      .then(
        () => callback(),
        (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
      );
  }
}
