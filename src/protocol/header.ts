/**
 * Gemini response header parsing: `<STATUS><SPACE><META><CR><LF>`.
 *
 * Pure functions over bytes, no I/O. Lenient where the intent is clear (missing
 * or TAB separator, empty META), strict where it is not (status must be exactly
 * two digits in 10..69, META valid UTF-8 of at most 1024 bytes) and on the line
 * end: the spec requires CRLF, and a bare LF is rejected (ERR_BAD_HEADER) rather
 * than guessed at (see README, "Response headers").
 */
import { HeaderError } from '../errors.js';

/** A parsed response header. */
export interface ResponseHeader {
  /** Two-digit status exactly as received (10..69; e.g. 29 stays 29). */
  status: number;
  /** First digit of the status. */
  category: 1 | 2 | 3 | 4 | 5 | 6;
  /**
   * META decoded as UTF-8. Only the single space (or TAB) separating it from
   * the status is removed; anything else, including further spaces, is kept as
   * received. "" when absent. May contain control characters: sanitise before
   * printing to a terminal.
   */
  meta: string;
}

/** Maximum META length in bytes (Gemini v0.16.1). */
export const MAX_META_BYTES = 1024;
/** Maximum header line length in bytes, CRLF excluded: status, separator, META. */
export const MAX_HEADER_BYTES = 2 + 1 + MAX_META_BYTES;

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const SHOWN_CHARS = 40;
const KEPT_BYTES = 64;

/** Renders bytes as a quoted, escaped, truncated string for error messages. */
export function describeBytes(bytes: Uint8Array): string {
  let out = '';
  let shown = 0;
  for (const b of bytes) {
    if (shown >= SHOWN_CHARS) return `"${out}"… (${bytes.length} bytes)`;
    if (b === CR) out += '\\r';
    else if (b === LF) out += '\\n';
    else if (b === TAB) out += '\\t';
    else if (b === 0x22) out += '\\"';
    else if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
    shown++;
  }
  return `"${out}"`;
}

function headerError(
  reason: string,
  received: Uint8Array,
  url: string | undefined,
  code: 'ERR_BAD_HEADER' | 'ERR_HEADER_TOO_LONG' = 'ERR_BAD_HEADER',
): HeaderError {
  return new HeaderError(`${reason}: received ${describeBytes(received)}`, {
    url,
    code,
    received: Buffer.from(received.subarray(0, KEPT_BYTES)),
  });
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= DIGIT_0 && b <= DIGIT_9;
}

/**
 * Finds the end of the header line in the bytes received so far.
 *
 * @returns `null` if no LF has arrived yet; otherwise `lineEnd`, the index of
 *   the CR of the CRLF, and `bodyStart`, the index just after the LF.
 * @throws HeaderError `ERR_HEADER_TOO_LONG` if the line (CR/LF excluded) is
 *   longer than `maxHeaderBytes`, or no LF is found within `maxHeaderBytes + 2` bytes;
 *   `ERR_BAD_HEADER` if the line ends in a LF without a CR before it.
 *   `options.url` is recorded on the error.
 */
export function findHeaderEnd(
  buf: Uint8Array,
  maxHeaderBytes: number = MAX_HEADER_BYTES,
  options: { url?: string } = {},
): { lineEnd: number; bodyStart: number } | null {
  const searchLimit = Math.min(buf.length, maxHeaderBytes + 2);
  const lf = buf.subarray(0, searchLimit).indexOf(LF);
  const tooLong = (): HeaderError =>
    headerError(
      `response header is longer than the limit of ${maxHeaderBytes} bytes (plus CRLF)`,
      buf,
      options.url,
      'ERR_HEADER_TOO_LONG',
    );
  if (lf < 0) {
    if (buf.length >= maxHeaderBytes + 2) throw tooLong();
    return null;
  }
  const lineEnd = lf > 0 && buf[lf - 1] === CR ? lf - 1 : lf;
  if (lineEnd > maxHeaderBytes) throw tooLong();
  if (lineEnd === lf) {
    throw headerError('response header ends in a bare LF; Gemini requires CRLF', buf.subarray(0, lf + 1), options.url);
  }
  return { lineEnd, bodyStart: lf + 1 };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses one header line: the bytes before the line ending (CR and LF already
 * removed; a trailing CR is tolerated and dropped).
 *
 * Accepted: two ASCII digits 10..69, then end of line, or a single space or
 * TAB followed by META. `options.url` is recorded on errors.
 *
 * @throws HeaderError `ERR_BAD_HEADER` for a blank line, a status that is not
 *   exactly two digits in 10..69 ("2 text/gemini", "200 OK", "09", "99"),
 *   META that is not valid UTF-8 or starts with U+FEFF;
 *   `ERR_HEADER_TOO_LONG` for META over {@link MAX_META_BYTES} bytes.
 */
export function parseHeaderLine(line: Uint8Array, options: { url?: string } = {}): ResponseHeader {
  const { url } = options;
  const bytes = line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line;
  if (bytes.length === 0) throw headerError('empty response header line', line, url);
  const d0 = bytes[0];
  const d1 = bytes[1];
  if (!isDigit(d0) || !isDigit(d1) || isDigit(bytes[2])) {
    throw headerError('response status is not two digits', line, url);
  }
  const status = (d0! - DIGIT_0) * 10 + (d1! - DIGIT_0);
  if (status < 10 || status > 69) throw headerError(`response status ${status} is out of range (10-69)`, line, url);
  if (bytes.length > 2 && bytes[2] !== SPACE && bytes[2] !== TAB) {
    throw headerError('expected a space after the status', line, url);
  }
  const metaBytes = bytes.subarray(3);
  if (metaBytes.length > MAX_META_BYTES) {
    throw headerError(
      `response META is ${metaBytes.length} bytes; the Gemini limit is ${MAX_META_BYTES}`,
      line,
      url,
      'ERR_HEADER_TOO_LONG',
    );
  }
  let meta: string;
  try {
    meta = utf8.decode(metaBytes);
  } catch {
    throw headerError('response META is not valid UTF-8', line, url);
  }
  if (meta.startsWith('\uFEFF')) throw headerError('response META starts with a byte order mark', line, url);
  return { status, category: Math.floor(status / 10) as ResponseHeader['category'], meta };
}
