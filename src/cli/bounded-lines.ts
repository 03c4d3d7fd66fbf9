/**
 * Splitting an input stream (a URL list) into lines without ever holding more
 * than one bounded line: readline keeps a line however long it grows, so a
 * file that is not a list of URLs (one endless line) took gigabytes, then
 * failed with "Invalid string length".
 */

/**
 * Longest input line accepted, in bytes: far above any URL (a Gemini request
 * is at most 1024 bytes, even percent-encoded), low enough to bound memory.
 */
export const MAX_INPUT_LINE_BYTES = 64 * 1024;

/** Thrown by {@link boundedLines} for a line longer than {@link MAX_INPUT_LINE_BYTES}. */
export class LineTooLongError extends Error {
  /** Number (from 1) of the line that is too long. */
  readonly line: number;
  constructor(line: number, maxBytes: number) {
    super(`line ${line} is longer than ${maxBytes % 1024 === 0 ? `${maxBytes / 1024} KiB` : `${maxBytes} bytes`}: this is not a list of URLs`);
    this.name = 'LineTooLongError';
    this.line = line;
  }
}

/**
 * The lines of `stream` as UTF-8 text, without their LF, CR or CRLF ending
 * (a CRLF also yields an empty line between them, as a blank line would).
 * Holds at most one line: rejects with {@link LineTooLongError} as soon as a
 * line exceeds `maxBytes` (default {@link MAX_INPUT_LINE_BYTES}).
 */
export async function* boundedLines(stream: AsyncIterable<Buffer | string>, maxBytes = MAX_INPUT_LINE_BYTES): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let line = 1;
  for await (const data of stream) {
    const chunk = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let start = 0;
    for (let end = nextBreak(chunk, start); end !== -1; end = nextBreak(chunk, start)) {
      if (pendingBytes + end - start > maxBytes) throw new LineTooLongError(line, maxBytes);
      pending.push(chunk.subarray(start, end));
      yield Buffer.concat(pending).toString('utf8');
      if (chunk[end] === 0x0a) line++;
      pending = [];
      pendingBytes = 0;
      start = end + 1;
    }
    pending.push(chunk.subarray(start));
    pendingBytes += chunk.length - start;
    if (pendingBytes > maxBytes) throw new LineTooLongError(line, maxBytes);
  }
  if (pendingBytes > 0) yield Buffer.concat(pending).toString('utf8');
}

/** Index of the next LF or CR in `chunk` from `from`, or -1. */
function nextBreak(chunk: Buffer, from: number): number {
  for (let i = from; i < chunk.length; i++) {
    const byte = chunk[i];
    if (byte === 0x0a || byte === 0x0d) return i;
  }
  return -1;
}
