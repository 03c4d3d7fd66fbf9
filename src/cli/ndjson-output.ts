/**
 * The one JSON writer of the CLI: every record of `--json`, `batch`, `crawl`
 * and `survey` is turned into a line by {@link jsonLine}, and the bulk
 * commands write their lines through {@link NdjsonOutput} (stdout with
 * backpressure and a clear end when the reader goes away, or a file).
 */
import fs from 'node:fs';
import { StorageError } from '../errors.js';

/**
 * Characters JSON.stringify leaves raw that can drive or garble a terminal, or
 * a line-based reader: DEL, C1 controls (U+009B is a one-byte CSI), bidi
 * marks, embeddings, overrides and isolates, and the Unicode line and
 * paragraph separators. (C0 controls and lone surrogates it escapes itself.)
 */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/**
 * The value as one line of JSON (no trailing newline): JSON.stringify, with
 * every character of {@link UNSAFE_IN_JSON} written as a `\uXXXX` escape, so
 * the line parses to the same value and shown on a terminal cannot drive it.
 */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The reader of stdout went away (EPIPE...) or stdout failed: records cannot be delivered. */
export class OutputClosedError extends Error {
  /** Stable code, like the library's errors. */
  readonly code = 'ERR_OUTPUT_CLOSED';

  constructor(cause: unknown) {
    const why = (cause as NodeJS.ErrnoException | undefined)?.code ?? (cause instanceof Error ? cause.message : 'closed');
    // Only EPIPE means the reader left; ENOSPC, EIO... are the output's own failure.
    const what = why === 'EPIPE' ? 'its reader went away' : 'the output failed';
    super(`cannot write to standard output (${why}): ${what}, so the run was stopped`, { cause });
    this.name = 'OutputClosedError';
  }
}

/**
 * Where NDJSON records go: stdout, or a file opened for appending.
 *
 * On stdout, `write` waits for 'drain' whenever the pipe is full, so a slow
 * reader slows the run and nothing is lost or held without bound. Once stdout
 * fails (a reader that exits early: EPIPE), every `write` rejects with
 * {@link OutputClosedError}: the caller stops the run.
 */
export class NdjsonOutput {
  readonly #fd: number | undefined;
  readonly #stdout: NodeJS.WritableStream & { destroyed?: boolean };
  #closed = false;
  #failure: OutputClosedError | undefined;
  readonly #onError = (err: unknown): void => {
    this.#failure ??= new OutputClosedError(err);
  };

  readonly #file: string | undefined;

  /**
   * Opens `file` for appending (creating it), or uses `stdout` when undefined or `-`.
   * @throws StorageError (exit 1) naming the file when it cannot be opened (a directory, no permission...).
   */
  constructor(file: string | undefined, stdout: NodeJS.WritableStream = process.stdout) {
    this.#stdout = stdout;
    if (file !== undefined && file !== '-') {
      this.#file = file;
      try {
        this.#fd = fs.openSync(file, 'a');
      } catch (err) {
        throw new StorageError(`--output ${file}: cannot open the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, file, err);
      }
    } else {
      stdout.on('error', this.#onError);
    }
  }

  /**
   * Writes one record as a line: synchronously to a file; to stdout, resolves
   * once the pipe can take more.
   * @throws OutputClosedError when stdout failed (now or before); StorageError
   *   naming the file when a write to it fails (disk full, EIO...).
   */
  async write(record: unknown): Promise<void> {
    if (this.#closed) return;
    const line = `${jsonLine(record)}\n`;
    if (this.#fd !== undefined) {
      const bytes = Buffer.from(line, 'utf8');
      let offset = 0;
      try {
        while (offset < bytes.length) offset += fs.writeSync(this.#fd, bytes, offset);
      } catch (err) {
        throw new StorageError(`--output ${this.#file}: cannot write to the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, this.#file!, err);
      }
      return;
    }
    this.#check();
    if (!this.#stdout.write(line)) await this.#drained();
    this.#check();
  }

  #check(): void {
    if (this.#failure) throw this.#failure;
    if (this.#stdout.destroyed) throw (this.#failure = new OutputClosedError(new Error('closed')));
  }

  /** Resolves at 'drain', or when stdout fails or closes (it will never drain then). */
  #drained(): Promise<void> {
    const stdout = this.#stdout;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        stdout.off('drain', done);
        stdout.off('close', done);
        stdout.off('error', done);
        resolve();
      };
      stdout.on('drain', done);
      stdout.on('close', done);
      stdout.on('error', done);
    });
  }

  close(): void {
    if (this.#fd !== undefined && !this.#closed) fs.closeSync(this.#fd);
    else this.#stdout.off('error', this.#onError);
    this.#closed = true;
  }
}
