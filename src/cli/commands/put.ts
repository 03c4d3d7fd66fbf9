/**
 * `gemfetch put titan://HOST/PATH FILE|-`: uploads a file (or stdin) with
 * Titan, through the same client as a fetch (trust, --cert/--key, limits),
 * then reports the server's answer like a fetch: the final response's body
 * on stdout, `complete` on stderr and in the exit code, or one `--json` record
 * with what was sent.
 */
import fs from 'node:fs';
import type { Argv } from 'yargs';
import { createHash } from 'node:crypto';
import { Client, DEFAULT_FETCH_MAX_BYTES } from '../../net/client.js';
import { GeminiError } from '../../errors.js';
import { errorRecord, responseRecord, type FetchRecord } from '../../net/record.js';
import type { UploadBody, UploadReport, UploadResponse } from '../../net/titan.js';
import { DEFAULT_TITAN_MIME, isTitanMime } from '../../protocol/titan-url.js';
import { ExitCode, exitCodeForRecord } from '../exit-codes.js';
import { addFetchOptions, requestOptionsFromArgs, type FetchArgs } from '../fetch-options.js';
import { mimeTypeForFileName } from '../file-mime.js';
import { jsonLine } from '../ndjson-output.js';
import { describeRedirectNotFollowed, fetchErrorMessage, incompleteWarning, plain, plainLines, statusLabel } from '../messages.js';
import type { ProgressLine } from '../progress.js';
import { formatBytes, formatSizeOption } from '../units.js';
import { certificateStatusHint, tls12IdentityWarning } from '../identity-messages.js';
import { UsageError } from '../usage-error.js';
import { askedForHelp, commandParser } from './bulk-cli.js';

/** Most bytes of stdin buffered to learn its size; past it, `--size` is needed to stream it. */
export const STDIN_BUFFER_LIMIT = 64 * 1024 * 1024;

interface PutArgs extends FetchArgs {
  _: Array<string | number>;
  mime?: string;
  token?: string;
  size?: string;
  json?: boolean;
  quiet?: boolean;
}

const USAGE =
  'Usage: gemfetch put [options] titan://HOST[:PORT]/PATH FILE|-\n\n' +
  'Uploads FILE (or stdin, "-") with Titan, then shows the answer like a fetch: usually a redirect (30) ' +
  'to the gemini:// page, which is followed and read. The identity scoped to the same path (see gemfetch id), ' +
  "--id NAME or --cert/--key is used as for gemini://. Only the server's TLS close_notify proves the answer arrived whole.";

const UPLOAD_OPTIONS = ['mime', 'token', 'size', 'json', 'quiet'];

/** The put command's parser, configured but not run (its options are listed by ../command-spec.ts). */
export function parser(argv: string[]): Argv {
  return addFetchOptions(
    commandParser(argv, USAGE)
      .option('mime', { type: 'string', requiresArg: true, defaultDescription: 'from the file name', describe: 'MIME type of the upload (from the file name: text/gemini for .gmi; text/gemini for stdin; application/octet-stream when unknown)' })
      .option('token', { type: 'string', requiresArg: true, defaultDescription: 'none', describe: 'token the server asks for (sent percent-encoded, never shown)' })
      .option('size', { type: 'string', requiresArg: true, defaultDescription: 'the size of FILE', describe: `bytes to send from stdin, streamed (without it stdin is read first, up to ${formatSizeOption(STDIN_BUFFER_LIMIT)})` })
      .option('json', { type: 'boolean', describe: 'print one JSON record (with an "upload" field: bytes sent...) instead of the body' })
      .option('quiet', { alias: 'q', type: 'boolean', describe: 'no status lines or progress on stderr (errors still shown)' })
      .group(UPLOAD_OPTIONS, 'Upload options:')
      .example('gemfetch put titan://example.org/wiki/page.gmi page.gmi', 'upload a page (text/gemini), then read it back')
      .example('some-command | gemfetch put --token T --mime text/plain titan://example.org/notes -', 'upload stdin'),
    { 'max-size': formatSizeOption(DEFAULT_FETCH_MAX_BYTES) },
  ).hide('input').hide('input-file');
}

/** `gemfetch put ...`; resolves with the exit code (those of a fetch). */
export async function run(argv: string[]): Promise<number> {
  const args = (await parser(argv).parseAsync()) as unknown as PutArgs;
  if (askedForHelp(argv)) return ExitCode.Ok;
  const [url, file, ...extra] = args._.map(String);
  if (url === undefined || file === undefined) throw new UsageError('put needs a titan:// URL and a FILE (or - for stdin)', { what: 'missing arguments', which: 'put' });
  if (extra.length > 0) throw new UsageError(`put takes one URL and one FILE (unexpected ${JSON.stringify(extra[0])})`, { what: 'unexpected argument', which: 'put' });
  if (args.input !== undefined) throw new UsageError('--input cannot be used with put (an upload is never sent twice)', { what: 'not with put', which: '--input' });
  if (args.inputFile !== undefined) throw new UsageError('--input-file cannot be used with put (an upload is never sent twice)', { what: 'not with put', which: '--input-file' });
  if (args.mime !== undefined && !isTitanMime(args.mime)) throw new UsageError(`--mime ${JSON.stringify(args.mime)} is not a MIME type (type/subtype, e.g. text/gemini)`, { what: 'invalid MIME type', which: '--mime' });
  if (args.token === '') throw new UsageError('the token cannot be empty', { what: 'missing value', which: '--token' });
  const requestOptions = await requestOptionsFromArgs(args, { urls: [url] });
  let client: Client;
  try {
    client = new Client(requestOptions);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const source = await openSource(file, args.size);
  return new PutRun(client, args).upload(url, source, args.mime ?? (file === '-' ? DEFAULT_TITAN_MIME : mimeTypeForFileName(file)));
}

/** The body to upload and its size. */
interface Source {
  body: UploadBody;
  size: number;
}

async function openSource(file: string, sizeText: string | undefined): Promise<Source> {
  const size = sizeText === undefined ? undefined : parseExactSize(sizeText);
  if (file === '-') {
    if (size !== undefined) return { body: process.stdin, size };
    const bytes = await readStdin();
    return { body: bytes, size: bytes.length };
  }
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch (err) {
    throw new UsageError(`${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { what: 'cannot read the file', which: file });
  }
  if (!stat.isFile()) throw new UsageError('give - to upload stdin', { what: 'not a regular file', which: file });
  if (size !== undefined && size !== stat.size) throw new UsageError(`--size ${size} does not match ${file}, which holds ${stat.size} bytes`, { what: 'size mismatch', which: '--size' });
  try {
    await fs.promises.access(file, fs.constants.R_OK);
  } catch (err) {
    throw new UsageError(`${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { what: 'cannot read the file', which: file });
  }
  return { body: fs.createReadStream(file), size: stat.size };
}

function parseExactSize(text: string): number {
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(Number(text))) throw new UsageError(`--size needs a whole number of bytes (got ${JSON.stringify(text)})`, { what: 'invalid size', which: '--size' });
  return Number(text);
}

/** All of stdin, refusing more than {@link STDIN_BUFFER_LIMIT} (nothing buffers without bound). */
async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    total += (chunk as Buffer).length;
    if (total > STDIN_BUFFER_LIMIT) {
      process.stdin.destroy();
      throw new UsageError(`standard input holds more than ${formatSizeOption(STDIN_BUFFER_LIMIT)}: give its size with --size N to stream it`, { what: 'standard input too big', which: '-' });
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** One upload: progress, Ctrl-C, the answer on stdout and the report on stderr. */
class PutRun {
  readonly #client: Client;
  readonly #args: PutArgs;
  readonly #abort = new AbortController();
  #interrupted = false;

  constructor(client: Client, args: PutArgs) {
    this.#client = client;
    this.#args = args;
  }

  async upload(url: string, source: Source, mime: string): Promise<number> {
    const shownUrl = url.replace(/;token=[^;?#]*/g, ';token=***');
    const onSigint = (): void => {
      if (this.#interrupted) process.exit(ExitCode.Interrupted);
      this.#interrupted = true;
      this.#abort.abort(new Error('interrupted'));
    };
    process.on('SIGINT', onSigint);
    let progress: ProgressLine | undefined;
    if (!this.#args.quiet && !this.#args.json && process.stderr.isTTY) {
      const { ProgressLine } = await import('../progress.js');
      progress = new ProgressLine(process.stderr, `uploading ${plain(shownUrl)}`);
    }
    let sent = 0;
    let response: UploadResponse | undefined;
    let record: FetchRecord;
    /**
     * The Titan URL an error names (with its parameters): left out of the message, which names the
     * upload's URL already. Not a gemini:// URL (the page read back after the redirect): that one
     * says where it failed.
     */
    let errorUrl: string | undefined;
    try {
      response = await this.#client.upload(url, source.body, {
        mime,
        size: source.size,
        ...(this.#args.token !== undefined ? { token: this.#args.token } : {}),
        signal: this.#abort.signal,
        onProgress: (total) => {
          progress?.add(total - sent);
          sent = total;
        },
      });
      record = responseRecord(shownUrl, response, response.completion, createHash('sha256').update(response.body).digest('hex'));
    } catch (err) {
      if (!(err instanceof GeminiError)) throw err;
      record = errorRecord(shownUrl, err);
      if (err.url !== undefined && /^titan:/i.test(err.url)) errorUrl = err.url;
    } finally {
      progress?.clear();
      process.off('SIGINT', onSigint);
    }
    if (this.#interrupted) {
      if (!this.#args.quiet) process.stderr.write(`gemfetch: ${plain(shownUrl)}: interrupted\n`);
      return ExitCode.Interrupted;
    }
    await this.#output(record, response, errorUrl);
    return exitCodeForRecord(record);
  }

  async #output(record: FetchRecord, response: UploadResponse | undefined, errorUrl: string | undefined): Promise<void> {
    const upload: UploadReport | null = response?.upload ?? null;
    const failure = record.error ? { ...record.error, url: errorUrl } : undefined;
    if (this.#args.json) {
      await writeOut(`${jsonLine({ ...record, upload })}\n`);
      if (failure) process.stderr.write(`${plainLines(fetchErrorMessage(record.url, failure))}\n`);
      return;
    }
    if (record.error || !response || !upload) {
      process.stderr.write(`${plainLines(fetchErrorMessage(record.url, failure ?? { code: 'ERR_INTERNAL', message: 'no response' }))}\n`);
      return;
    }
    this.#report(record, response, upload);
    if (!this.#args.quiet) {
      const identity = response.tls.identity;
      if (identity && response.tls.protocol === 'TLSv1.2') process.stderr.write(`gemfetch: ${tls12IdentityWarning(identity, new URL(upload.url).host)}\n`);
      if (response.category === 6 && process.stderr.isTTY) {
        for (const line of await certificateStatusHint(record, { noId: this.#args.id === false })) process.stderr.write(`gemfetch:   ${line}\n`);
      }
    }
    if (response.category === 2 && response.body.length > 0) await this.#showBody(response);
  }

  /** The status lines on stderr: what was sent, what came back, whether it is whole. */
  #report(record: FetchRecord, response: UploadResponse, upload: UploadReport): void {
    if (this.#args.quiet) return;
    const say = (line: string): void => {
      process.stderr.write(`gemfetch: ${line}\n`);
    };
    const sent = `${formatBytes(upload.bytesSent)} of ${formatBytes(upload.size)}`;
    if (upload.finished) say(`uploaded ${formatBytes(upload.size)} (${upload.mime}) to ${plain(upload.url)}`);
    else say(`the server answered before the upload was complete (${sent} sent): nothing more was sent`);
    for (const hop of [...response.redirects.slice(1), response.url].filter((u) => u !== upload.url)) say(`read ${plain(hop)}`);
    if (response.category !== 2) say(`${plain(response.url)}: ${statusLabel(response.status)}${response.meta ? `: ${plain(response.meta)}` : ''}`);
    if (response.redirectNotFollowed) say(`redirect to ${plain(response.redirectNotFollowed.target)} not followed: ${describeRedirectNotFollowed(response.redirectNotFollowed.reason)}`);
    if (!record.complete) say(incompleteWarning(plain(response.url), record.bytes, response.completion));
  }

  /** The answer's body: raw when stdout is not a terminal; on one, text only, made safe to show. */
  async #showBody(response: UploadResponse): Promise<void> {
    if (!process.stdout.isTTY) {
      await writeOut(response.body);
      return;
    }
    if (response.mimeType?.startsWith('text/')) await writeOut(`${plainLines(response.text())}\n`);
    else if (!this.#args.quiet) process.stderr.write(`gemfetch: ${formatBytes(response.body.length)} of ${plain(response.mimeType ?? '')} not shown on a terminal (pipe it)\n`);
  }
}

function writeOut(data: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    process.stdout.write(data, () => resolve());
  });
}
