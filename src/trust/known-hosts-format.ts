/**
 * The known-hosts file format, and a streaming reader over it whose memory
 * does not grow with the file: fixed-size chunks, and lines of at most
 * {@link MAX_LINE_BYTES} bytes.
 *
 * One entry per line: `<host:port> <sha256-spki-hex> <expires> <added>`, the
 * dates in ISO-8601 (`2030-01-01T00:00:00.000Z`). Blank lines and `#`
 * comments are allowed. Any other line is *damaged*: a line cut short by a
 * crash or a bad edit must never let a host look unpinned, so each damaged
 * line is classified by whether the host it was meant for can still be told.
 */
import type { FileHandle } from 'node:fs/promises';
import { parseGeminiUrl } from '../protocol/url.js';

/** Longest line read (bytes, newline excluded). An entry is about 300 bytes; longer means the file is not a known-hosts file. */
export const MAX_LINE_BYTES = 8192;
/** Bytes read from the file at a time. */
export const CHUNK_BYTES = 64 * 1024;

/** One pinned key. */
export interface KnownHost {
  /** `host:port`, e.g. `example.org:1965` or `[::1]:1965`. No whitespace. */
  hostPort: string;
  /** 64 lowercase hex chars: SHA-256 of the certificate's SubjectPublicKeyInfo (DER). */
  fingerprint: string;
  /** notAfter of the certificate that was pinned. */
  expires: Date;
  /** When the pin was first recorded. */
  added: Date;
}

/**
 * What one line says:
 * - `blank`: empty, whitespace or a `#` comment;
 * - `entry`: a whole, valid pin;
 * - `damaged-host`: a line for `hostPort` (its first field is a `host:port`
 *   followed by a space) whose key or dates do not parse: that host is pinned
 *   to a key nobody can read;
 * - `unattributable`: a line that does not even name a host (garbage, or cut
 *   inside the host name): it may have been any host's pin.
 */
export type LineKind =
  | { kind: 'blank' }
  | { kind: 'entry'; entry: KnownHost }
  | { kind: 'damaged-host'; hostPort: string }
  | { kind: 'unattributable' };

const FINGERPRINT_RE = /^[0-9a-f]{64}$/;
/** ISO-8601 date and time with seconds and an explicit zone: a date cut short does not match. */
const DATE_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
/** A host:port key as written by gemfetch: something, a colon, a port number. */
const HOST_PORT_RE = /^[^\s#]\S*:\d{1,5}$/;

/** Classifies one line (without its newline; a trailing CR is ignored). */
export function classifyLine(line: string): LineKind {
  const text = line.replace(/\r$/, '').replace(/^\s+/, '');
  if (text === '' || text.startsWith('#')) return { kind: 'blank' };
  // The host is known only if its field ended with a space: a line cut inside it names no host.
  const hostPort = /^(\S+)\s/.exec(text)?.[1];
  if (hostPort === undefined || !HOST_PORT_RE.test(hostPort)) return { kind: 'unattributable' };
  const fields = text.trim().split(/\s+/);
  if (fields.length === 4 && DATE_RE.test(fields[2]!) && DATE_RE.test(fields[3]!)) {
    const entry = { hostPort, fingerprint: fields[1]!.toLowerCase(), expires: new Date(fields[2]!), added: new Date(fields[3]!) };
    if (isValidEntry(entry)) return { kind: 'entry', entry };
  }
  return { kind: 'damaged-host', hostPort };
}

/**
 * {@link classifyLine} for a raw line, fast for the common case: a line
 * pinning another host is told apart by its first field alone (and is then
 * `other`), without decoding or parsing the rest.
 */
export function classifyFor(raw: Buffer, hostPort: string): LineKind | { kind: 'other' } {
  const first = raw[0];
  if (first === undefined) return { kind: 'blank' };
  const space = firstBlank(raw);
  if (first === 0x20 || first === 0x09 || first === 0x0d || first === 0x23 || space === -1) return classifyLine(raw.toString('utf8'));
  const host = raw.toString('utf8', 0, space);
  if (host === hostPort) return classifyLine(raw.toString('utf8'));
  return HOST_PORT_RE.test(host) ? { kind: 'other' } : { kind: 'unattributable' };
}

function firstBlank(raw: Buffer): number {
  const space = raw.indexOf(0x20);
  const tab = raw.indexOf(0x09, 0);
  if (space === -1 || (tab !== -1 && tab < space)) return tab;
  return space;
}

/** Whether `e` can be stored: host:port without whitespace, a 64-hex-digit fingerprint, valid dates. */
export function isValidEntry(e: KnownHost): boolean {
  return (
    typeof e.hostPort === 'string' &&
    /^[^\s#][^\s]*$/.test(e.hostPort) &&
    typeof e.fingerprint === 'string' &&
    FINGERPRINT_RE.test(e.fingerprint) &&
    e.expires instanceof Date &&
    Number.isFinite(e.expires.getTime()) &&
    e.added instanceof Date &&
    Number.isFinite(e.added.getTime())
  );
}

/**
 * `text` (`host:port`, or `host` for port 1965) as the client keys its pins:
 * lowercase ASCII host (punycode), IPv6 in brackets, the port always
 * written (`Example.ORG` → `example.org:1965`, `bücher.de:1965` →
 * `xn--bcher-kva.de:1965`); undefined when it is not a host and port. A pin
 * stored under any other spelling would never be looked up: its host would
 * be a first use, whatever key it presents.
 */
export function canonicalHostPort(text: unknown): string | undefined {
  if (typeof text !== 'string' || !/^[^\s#/?@]+$/.test(text)) return undefined;
  try {
    return parseGeminiUrl(`gemini://${text}/`).hostPort;
  } catch {
    return undefined;
  }
}

/** The line for `e`, newline included. */
export function serializeEntry(e: KnownHost): string {
  return `${e.hostPort} ${e.fingerprint} ${e.expires.toISOString()} ${e.added.toISOString()}\n`;
}

/** A line longer than {@link MAX_LINE_BYTES}: the file is refused, not read further. */
export class LineTooLongError extends Error {
  constructor(readonly lineNumber: number) {
    super(`line ${lineNumber} is longer than ${MAX_LINE_BYTES} bytes: this is not a known-hosts file`);
  }
}

/** What {@link readLines} found besides the lines. */
export interface ReadSummary {
  /** Number of lines (a last line without newline counts). */
  lines: number;
  /** Whether the file is empty or its last byte is a newline (so it can be appended to as is). */
  endsWithNewline: boolean;
}

/**
 * Calls `onLine(raw, number)` for each line of the first `size` bytes of
 * `handle` (1-based numbers; `raw` excludes the newline and is only valid
 * during the call), then awaits `afterChunk` (if given) once per chunk read.
 * Memory: one chunk plus one line, whatever the file size.
 * @throws LineTooLongError for a line over {@link MAX_LINE_BYTES}.
 */
export async function readLines(
  handle: FileHandle,
  size: number,
  onLine: (raw: Buffer, lineNumber: number) => void,
  afterChunk?: () => Promise<void>,
): Promise<ReadSummary> {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  const carry = Buffer.allocUnsafe(MAX_LINE_BYTES);
  let carried = 0;
  let lineNumber = 0;
  let position = 0;
  let lastByte = 0x0a;
  while (position < size) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(CHUNK_BYTES, size - position), position);
    if (bytesRead === 0) break; // the file shrank meanwhile: read what is there
    position += bytesRead;
    lastByte = chunk[bytesRead - 1]!;
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, 0); nl !== -1 && nl < bytesRead; nl = chunk.indexOf(0x0a, start)) {
      lineNumber++;
      if (carried === 0) {
        if (nl - start > MAX_LINE_BYTES) throw new LineTooLongError(lineNumber);
        onLine(chunk.subarray(start, nl), lineNumber);
      } else {
        if (carried + nl - start > MAX_LINE_BYTES) throw new LineTooLongError(lineNumber);
        chunk.copy(carry, carried, start, nl);
        onLine(carry.subarray(0, carried + nl - start), lineNumber);
        carried = 0;
      }
      start = nl + 1;
    }
    if (carried + bytesRead - start > MAX_LINE_BYTES) throw new LineTooLongError(lineNumber + 1);
    chunk.copy(carry, carried, start, bytesRead);
    carried += bytesRead - start;
    await afterChunk?.();
  }
  if (carried > 0) {
    lineNumber++;
    onLine(carry.subarray(0, carried), lineNumber);
  }
  return { lines: lineNumber, endsWithNewline: lastByte === 0x0a };
}
