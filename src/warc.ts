/**
 * A WARC 1.1 writer for Gemini responses (uncompressed `.warc`).
 *
 * Records: one `warcinfo` when the writer opens, then one `response` record
 * per response, its block being the Gemini response as received: the header
 * line (re-serialised from the parsed status and META as `STATUS SPACE META
 * CRLF`; a server's exact header bytes are not kept) followed by the body
 * bytes. Content-Type `application/gemini; msgtype=response`.
 *
 * Fields beyond the standard ones:
 * - `WARC-Gemini-Complete: true|false`: close_notify arrived and nothing cut the body;
 * - `WARC-Gemini-Termination: close_notify|tcp_fin|tcp_reset|timeout|size_limit|aborted|tls_error`;
 * - `WARC-Truncated: length|time|unspecified` (standard field) only when OUR
 *   limit cut the body (size limit, timeout, abort); a server cutting it is
 *   told by the two fields above.
 * Digests are `sha1:` + base32, the traditional WARC form.
 *
 * Bodies are passed in memory: the caller buffers at most its `maxBytes`
 * per response. Each record goes out in one synchronous write to a file
 * opened for appending, so records never interleave; a kill can leave at most
 * one torn record at the end.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { StorageError, storageError } from './crawl-state.js';
import type { Termination } from './response.js';

/** A response to record. */
export interface WarcResponse {
  /** The URL requested (normalised href). */
  targetUri: string;
  /** When the request started. */
  date: Date;
  status: number;
  meta: string;
  /** Body bytes received (empty for non-2x). */
  body: Buffer;
  complete: boolean;
  termination: Termination;
}

const CRLF = '\r\n';

/** Appends WARC records to a file. Not safe for two processes writing the same file. */
export class WarcWriter {
  readonly path: string;
  readonly warcinfoId: string;
  #fd: number;

  /**
   * Opens `file` for appending (creating it) and writes a `warcinfo` record.
   * Throws a {@link StorageError} naming the file when it cannot be opened or written.
   */
  constructor(file: string, info: { software: string; description?: string } = { software: 'gemfetch' }) {
    this.path = file;
    try {
      this.#fd = fs.openSync(file, 'a');
    } catch (err) {
      throw storageError('cannot open the WARC file', file, err);
    }
    this.warcinfoId = recordId();
    const fields = [`software: ${info.software}`, 'format: WARC File Format 1.1', 'conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/'];
    if (info.description) fields.push(`description: ${info.description.replace(/[\r\n]+/g, ' ')}`);
    const block = Buffer.from(fields.join(CRLF) + CRLF, 'utf8');
    try {
      this.#write(
        [
          ['WARC-Type', 'warcinfo'],
          ['WARC-Record-ID', this.warcinfoId],
          ['WARC-Date', warcDate(new Date())],
          ['Content-Type', 'application/warc-fields'],
        ],
        block,
      );
    } catch (err) {
      fs.closeSync(this.#fd);
      this.#fd = -1;
      throw err;
    }
  }

  /** Appends one `response` record; returns its WARC-Record-ID. Throws a {@link StorageError} when the write fails. */
  writeResponse(response: WarcResponse): string {
    const id = recordId();
    const header = Buffer.from(`${response.status} ${response.meta}${CRLF}`, 'utf8');
    const block = Buffer.concat([header, response.body]);
    const fields: Array<[string, string]> = [
      ['WARC-Type', 'response'],
      ['WARC-Record-ID', id],
      ['WARC-Warcinfo-ID', this.warcinfoId],
      ['WARC-Date', warcDate(response.date)],
      ['WARC-Target-URI', response.targetUri],
      ['Content-Type', 'application/gemini; msgtype=response'],
      ['WARC-Block-Digest', sha1Base32(block)],
      ['WARC-Payload-Digest', sha1Base32(response.body)],
      ['WARC-Gemini-Complete', String(response.complete)],
      ['WARC-Gemini-Termination', response.termination],
    ];
    const truncated = truncationOf(response.termination);
    if (truncated) fields.push(['WARC-Truncated', truncated]);
    this.#write(fields, block);
    return id;
  }

  #write(fields: Array<[string, string]>, block: Buffer): void {
    if (this.#fd < 0) throw new StorageError(`the WARC file ${this.path} is closed`, this.path);
    const head = `WARC/1.1${CRLF}${fields.map(([k, v]) => `${k}: ${v.replace(/[\r\n]+/g, ' ')}${CRLF}`).join('')}Content-Length: ${block.length}${CRLF}${CRLF}`;
    const bytes = Buffer.concat([Buffer.from(head, 'utf8'), block, Buffer.from(CRLF + CRLF)]);
    let offset = 0;
    try {
      while (offset < bytes.length) offset += fs.writeSync(this.#fd, bytes, offset);
    } catch (err) {
      throw storageError('cannot write to the WARC file', this.path, err);
    }
  }

  /**
   * Flushes to disk and closes the file (once; later calls do nothing).
   * Throws a {@link StorageError} when the flush fails; the file is closed anyway.
   */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    try {
      fs.fsyncSync(fd);
    } catch (err) {
      // a file that cannot be synced (a pipe, a character device) still got every byte written
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw storageError('cannot flush the WARC file', this.path, err);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** `WARC-Truncated` value for a termination caused by our own limit, else undefined. */
export function truncationOf(termination: Termination): 'length' | 'time' | 'unspecified' | undefined {
  if (termination === 'size_limit') return 'length';
  if (termination === 'timeout') return 'time';
  if (termination === 'aborted') return 'unspecified';
  return undefined;
}

function recordId(): string {
  return `<urn:uuid:${randomUUID()}>`;
}

/** WARC-Date: UTC, W3C ISO 8601 with whole seconds. */
function warcDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `sha1:` + RFC 4648 base32 (no padding needed for 20 bytes). */
export function sha1Base32(data: Buffer): string {
  const digest = createHash('sha1').update(data).digest();
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return `sha1:${out}`;
}
