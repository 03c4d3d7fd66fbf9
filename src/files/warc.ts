/**
 * A WARC 1.1 writer for Gemini exchanges, plain (`.warc`) or with every
 * record its own gzip member (`.warc.gz`).
 *
 * Records: one `warcinfo` when the writer opens; then per exchange a
 * `request` record (block: the request line sent, `URL CRLF`), a `response`
 * record (block: the header line exactly as received, then the body bytes
 * received; a non-2x response has none, whatever followed its header), both `application/gemini; msgtype=...` and tied by
 * `WARC-Concurrent-To`; and, the first time a host shows a certificate, a
 * `metadata` record holding it (DER, `application/pkix-cert`) that refers to
 * that response (once per host and certificate for the writer's life). Field by field: README, "WARC files".
 *
 * Digests are `sha1:` + base32. A Gemini block has no HTTP headers to strip,
 * so its payload is the whole block (as warcio and pywb take it):
 * `WARC-Payload-Digest` equals `WARC-Block-Digest`.
 *
 * Crash safety: the records of one exchange go out in one synchronous
 * `write` to a file opened for appending, so records never interleave and a
 * kill can tear at most the last exchange. Reopening a file to append first
 * drops such a torn tail (see {@link WarcWriter.droppedBytes}): otherwise the
 * records appended after it would be unreadable too.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { StorageError, storageError } from '../bulk/crawl-state.js';
import type { Termination } from '../net/response.js';

/** One request and its response, to record. */
export interface WarcExchange {
  /** The URL requested, exactly as sent on the request line (without its CRLF). */
  targetUri: string;
  /** When the request started. */
  date: Date;
  /** The response header line exactly as received, its CRLF (or LF) included. */
  rawHeader: Buffer;
  /** Body bytes received (empty for non-2x). */
  body: Buffer;
  complete: boolean;
  termination: Termination;
  /** The server's IP address (`WARC-IP-Address`). */
  ipAddress?: string | undefined;
  /** Negotiated TLS protocol and cipher, and the SPKI SHA-256 fingerprint (hex). */
  tls?: { protocol: string; cipher: string; fingerprint: string } | undefined;
  /** The server certificate (DER), when this connection presented one. */
  certificate?: Buffer | undefined;
}

/** Record IDs of one written exchange. */
export interface WarcExchangeIds {
  requestId: string;
  responseId: string;
  /** Set when this exchange also wrote the host's certificate record. */
  certificateId: string | undefined;
}

/** Options of {@link WarcWriter}. */
export interface WarcWriterOptions {
  software?: string;
  description?: string;
  /** Compress each record as its own gzip member. Default: when the file name ends in `.gz`. */
  gzip?: boolean;
}

const CRLF = '\r\n';
/** Gzip FEXTRA subfield `gL`: the member's total length, so a reopened file is walked without inflating it. */
const LENGTH_SUBFIELD = Buffer.from('gL', 'latin1');

/** Appends WARC records to a file. Not safe for two processes writing the same file. */
export class WarcWriter {
  readonly path: string;
  readonly gzip: boolean;
  readonly warcinfoId: string;
  /** Bytes of a torn last record dropped from the end of the file when it was reopened (0 normally). */
  readonly droppedBytes: number;
  #fd: number;
  /** `host certificate-sha256` pairs whose certificate record is written: one entry per distinct host and certificate. */
  readonly #certificatesWritten = new Set<string>();

  /**
   * Opens `file` for appending (creating it), drops a torn last record a
   * killed writer left (see {@link droppedBytes}) and writes a `warcinfo`
   * record. Throws a {@link StorageError} naming the file when it cannot be
   * opened or written, or when it holds something other than WARC records in
   * this file's format (it is then left untouched).
   */
  constructor(file: string, options: WarcWriterOptions = {}) {
    this.path = file;
    this.gzip = options.gzip ?? /\.gz$/i.test(file);
    let fd: number;
    try {
      fd = fs.openSync(file, 'a'); // write-only: a FIFO must see its reader go (EPIPE)
    } catch (err) {
      throw storageError('cannot open the WARC file', file, err);
    }
    this.#fd = fd;
    try {
      this.droppedBytes = dropTornTail(fd, file, this.gzip);
      this.warcinfoId = recordId();
      this.#append([this.#warcinfo(options)]);
    } catch (err) {
      fs.closeSync(fd);
      this.#fd = -1;
      throw err;
    }
  }

  #warcinfo(options: WarcWriterOptions): Buffer {
    const fields = [`software: ${options.software ?? 'gemfetch'}`, 'format: WARC File Format 1.1', 'conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/'];
    if (options.description) fields.push(`description: ${oneLine(options.description)}`);
    const block = Buffer.from(fields.join(CRLF) + CRLF, 'utf8');
    return this.#record(
      [
        ['WARC-Type', 'warcinfo'],
        ['WARC-Record-ID', this.warcinfoId],
        ['WARC-Date', warcDate(new Date())],
        ['Content-Type', 'application/warc-fields'],
      ],
      block,
    );
  }

  /**
   * Appends the records of one exchange (request, response, and the host's
   * certificate the first time it is seen) in one write; returns their IDs.
   * Throws a {@link StorageError} when the write fails.
   */
  writeExchange(exchange: WarcExchange): WarcExchangeIds {
    const requestId = recordId();
    const responseId = recordId();
    const date = warcDate(exchange.date);
    const common: Array<[string, string]> = [
      ['WARC-Warcinfo-ID', this.warcinfoId],
      ['WARC-Date', date],
      ['WARC-Target-URI', exchange.targetUri],
    ];
    if (exchange.ipAddress) common.push(['WARC-IP-Address', exchange.ipAddress]);

    const requestBlock = Buffer.from(exchange.targetUri + CRLF, 'utf8');
    const request = this.#record(
      [['WARC-Type', 'request'], ['WARC-Record-ID', requestId], ...common, ['WARC-Concurrent-To', responseId], ['Content-Type', 'application/gemini; msgtype=request'], ...digests(requestBlock)],
      requestBlock,
    );

    const responseBlock = Buffer.concat([exchange.rawHeader, exchange.body]);
    const fields: Array<[string, string]> = [['WARC-Type', 'response'], ['WARC-Record-ID', responseId], ...common, ['Content-Type', 'application/gemini; msgtype=response'], ...digests(responseBlock)];
    const truncated = truncationOf(exchange.termination);
    if (truncated) fields.push(['WARC-Truncated', truncated]);
    fields.push(['WARC-Gemini-Complete', String(exchange.complete)], ['WARC-Gemini-Termination', exchange.termination]);
    if (exchange.tls) {
      fields.push(['WARC-Gemini-TLS-Protocol', exchange.tls.protocol], ['WARC-Gemini-TLS-Cipher', exchange.tls.cipher], ['WARC-Gemini-Certificate-SPKI-SHA256', exchange.tls.fingerprint]);
    }
    const records = [request, this.#record(fields, responseBlock)];

    let certificateId: string | undefined;
    const certificate = exchange.certificate;
    const certificateKey = certificate && `${hostOf(exchange.targetUri)} ${createHash('sha256').update(certificate).digest('hex')}`;
    if (certificate && certificateKey && !this.#certificatesWritten.has(certificateKey)) {
      certificateId = recordId();
      const meta: Array<[string, string]> = [['WARC-Type', 'metadata'], ['WARC-Record-ID', certificateId], ...common, ['WARC-Refers-To', responseId], ['Content-Type', 'application/pkix-cert'], ['WARC-Block-Digest', sha1Base32(certificate)]];
      records.push(this.#record(meta, certificate));
    }
    this.#append(records);
    if (certificateKey && certificateId) this.#certificatesWritten.add(certificateKey);
    return { requestId, responseId, certificateId };
  }

  /** One record, framed (and gzipped as its own member when writing `.warc.gz`). */
  #record(fields: Array<[string, string]>, block: Buffer): Buffer {
    const head = `WARC/1.1${CRLF}${fields.map(([k, v]) => `${k}: ${oneLine(v)}${CRLF}`).join('')}Content-Length: ${block.length}${CRLF}${CRLF}`;
    const bytes = Buffer.concat([Buffer.from(head, 'utf8'), block, Buffer.from(CRLF + CRLF)]);
    return this.gzip ? gzipMember(bytes) : bytes;
  }

  /** Writes records in one `write` call (looping only if the kernel takes fewer bytes). */
  #append(records: Buffer[]): void {
    if (this.#fd < 0) throw new StorageError(`the WARC file ${this.path} is closed`, this.path);
    const bytes = records.length === 1 ? records[0]! : Buffer.concat(records);
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

/**
 * `WARC-Truncated` value of a response that did not end with close_notify:
 * `length` (our size limit), `time` (our timeout), `disconnect` (the
 * connection ended without close_notify: TCP FIN, reset, TLS error),
 * `unspecified` (aborted); undefined for a complete response.
 */
export function truncationOf(termination: Termination): 'length' | 'time' | 'disconnect' | 'unspecified' | undefined {
  switch (termination) {
    case 'close_notify':
      return undefined;
    case 'size_limit':
      return 'length';
    case 'timeout':
      return 'time';
    case 'tcp_fin':
    case 'tcp_reset':
    case 'tls_error':
      return 'disconnect';
    case 'aborted':
      return 'unspecified';
  }
}

function digests(block: Buffer): Array<[string, string]> {
  const digest = sha1Base32(block);
  return [
    ['WARC-Block-Digest', digest],
    ['WARC-Payload-Digest', digest],
  ];
}

function recordId(): string {
  return `<urn:uuid:${randomUUID()}>`;
}

function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ');
}

/** `host:port` of a URL, for the once-per-host certificate record. */
function hostOf(uri: string): string {
  try {
    return new URL(uri).host;
  } catch {
    return uri;
  }
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

// ---- gzip members

const GZIP_HEADER_BYTES = 10;
const FEXTRA = 0x04;
/** XLEN (2) + subfield id (2) + subfield length (2) + member length (4). */
const EXTRA_BYTES = 2 + 2 + 2 + 4;

/**
 * One gzip member holding `bytes`, with its own total length in a FEXTRA
 * subfield (RFC 1952 readers skip unknown subfields).
 */
export function gzipMember(bytes: Buffer): Buffer {
  const plain = zlib.gzipSync(bytes);
  const member = Buffer.allocUnsafe(plain.length + EXTRA_BYTES);
  plain.copy(member, 0, 0, GZIP_HEADER_BYTES);
  member[3] = member[3]! | FEXTRA;
  member.writeUInt16LE(EXTRA_BYTES - 2, GZIP_HEADER_BYTES);
  LENGTH_SUBFIELD.copy(member, GZIP_HEADER_BYTES + 2);
  member.writeUInt16LE(4, GZIP_HEADER_BYTES + 4);
  member.writeUInt32LE(member.length, GZIP_HEADER_BYTES + 6);
  plain.copy(member, GZIP_HEADER_BYTES + EXTRA_BYTES, GZIP_HEADER_BYTES);
  return member;
}

// ---- reopening: drop a torn tail

/** Bytes read to find one record's header (WARC headers we write are far smaller). */
const HEAD_WINDOW = 64 * 1024;
const SMALL_HEAD_WINDOW = 4096;

/**
 * Walks the records of an existing file and truncates a last record that
 * runs past the end of the file (a write torn by a kill); returns the bytes
 * dropped. Throws a {@link StorageError} when the file holds something else
 * (it is then left as it is).
 */
function dropTornTail(fd: number, file: string, gzip: boolean): number {
  let size: number;
  let reader: number;
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile() || stat.size === 0) return 0;
    size = stat.size;
    reader = fs.openSync(file, 'r');
  } catch (err) {
    throw storageError('cannot read the WARC file', file, err);
  }
  try {
    return walkAndTruncate(fd, reader, size, file, gzip);
  } finally {
    fs.closeSync(reader);
  }
}

function walkAndTruncate(fd: number, reader: number, size: number, file: string, gzip: boolean): number {
  // one 64 KiB window, reloaded when a read falls outside it: small records cost no syscall each
  const window = Buffer.alloc(HEAD_WINDOW);
  let windowStart = 0;
  let windowLength = 0;
  const read = (offset: number, length: number): Buffer => {
    const want = Math.min(length, size - offset);
    if (offset < windowStart || offset + want > windowStart + windowLength) {
      windowStart = offset;
      windowLength = 0;
      try {
        while (windowLength < Math.min(window.length, size - offset)) {
          const n = fs.readSync(reader, window, windowLength, window.length - windowLength, offset + windowLength);
          if (n === 0) break;
          windowLength += n;
        }
      } catch (err) {
        throw storageError('cannot read the WARC file', file, err);
      }
    }
    const start = offset - windowStart;
    return window.subarray(start, Math.min(start + want, windowLength));
  };
  const notOurs = (offset: number, what: string): StorageError =>
    new StorageError(`cannot append to the WARC file ${file}: ${what} at byte ${offset}; it was left as it is`, file);
  let offset = 0;
  while (offset < size) {
    let next: number | 'torn' | 'foreign';
    if (gzip) next = nextMember(read(offset, GZIP_HEADER_BYTES + EXTRA_BYTES), offset);
    else {
      // most headers fit in the small read; only a long one needs the large one
      const first = nextRecord(read(offset, SMALL_HEAD_WINDOW), offset, size);
      const second = first === 'longer' ? nextRecord(read(offset, HEAD_WINDOW), offset, size) : first;
      next = second === 'longer' ? 'foreign' : second;
    }
    if (next === 'foreign') throw notOurs(offset, gzip ? 'not a gzip member written by gemfetch' : 'not a WARC record');
    if (next === 'torn' || next > size) break;
    offset = next;
  }
  if (offset >= size) return 0;
  try {
    fs.ftruncateSync(fd, offset);
  } catch (err) {
    throw storageError('cannot drop the torn last record of the WARC file', file, err);
  }
  return size - offset;
}

/** The end of the plain WARC record starting at `offset`, or what stops the walk there (`longer`: its header goes past `head`). */
function nextRecord(head: Buffer, offset: number, size: number): number | 'torn' | 'foreign' | 'longer' {
  const prefix = 'WARC/1.';
  if (head.subarray(0, prefix.length).toString('latin1') !== prefix.slice(0, Math.min(prefix.length, head.length))) return 'foreign';
  const end = head.indexOf('\r\n\r\n');
  if (end < 0) return offset + head.length >= size ? 'torn' : 'longer';
  const length = /\r\nContent-Length:[ \t]*(\d+)[ \t]*\r\n/i.exec(head.subarray(0, end + 2).toString('latin1'));
  if (!length) return 'foreign';
  const recordEnd = offset + end + 4 + Number(length[1]) + 4;
  return recordEnd > size ? 'torn' : recordEnd;
}

/** The end of the gzip member starting at `offset` (from its length subfield), or what stops the walk there. */
function nextMember(head: Buffer, offset: number): number | 'torn' | 'foreign' {
  if (head.length < GZIP_HEADER_BYTES + EXTRA_BYTES) return head.length > 0 && head[0] !== 0x1f ? 'foreign' : 'torn';
  const ours =
    head[0] === 0x1f && head[1] === 0x8b && (head[3]! & FEXTRA) !== 0 && head.readUInt16LE(GZIP_HEADER_BYTES) === EXTRA_BYTES - 2 && head.subarray(GZIP_HEADER_BYTES + 2, GZIP_HEADER_BYTES + 4).equals(LENGTH_SUBFIELD);
  const length = head.readUInt32LE(GZIP_HEADER_BYTES + 6);
  // the smallest member: header, extra field, an empty deflate block, CRC32 and size
  if (!ours || length < GZIP_HEADER_BYTES + EXTRA_BYTES + 2 + 8) return 'foreign';
  return offset + length;
}
