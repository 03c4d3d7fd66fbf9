/**
 * Decoding a body incrementally, chunk by chunk, with the same rules as
 * `decodeBody` in ../charset.ts but in bounded memory: text comes out as the
 * bytes arrive, whatever the charset and however long the body.
 */
import { decodeBody } from '../charset.js';

/** Decodes one body incrementally. */
export interface StreamDecoder {
  /**
   * Canonical encoding in use (`utf-8`, `windows-1252`, `utf-16le`...). For a
   * body declared UTF-16/32 it is the declared one until the first bytes have
   * been examined, then the one they showed (BOM, or mislabelled UTF-8).
   */
  readonly encoding: string;
  /** False when the declared charset is unknown (the body is then decoded as UTF-8). */
  readonly known: boolean;
  /** Decodes a chunk; returns the text it completes (possibly empty: partial characters are held). */
  write(chunk: Uint8Array): string;
  /** Flushes what is held; an incomplete character at the end becomes U+FFFD. */
  end(): string;
}

/** A decoder for bytes whose encoding is settled (no BOM left to sniff). */
interface UnitDecoder {
  write(chunk: Uint8Array): string;
  end(): string;
}

/** Encodings whose first bytes are examined before decoding (BOM, mislabelled UTF-8), as `decodeBody` does. */
const SNIFFED_ENCODINGS = new Set(['utf-16le', 'utf-16be', 'utf-32le', 'utf-32be', 'ibm437', 'windows-1252']);
const UTF16_OR_32 = new Set(['utf-16le', 'utf-16be', 'utf-32le', 'utf-32be']);

/** Bytes needed to recognise any BOM (UTF-32 has the longest). */
const BOM_BYTES = 4;

/**
 * Most bytes held back to decide whether a body declared UTF-16/32 is really
 * UTF-8. Real UTF-16/32 text shows a NUL or an invalid UTF-8 sequence almost at
 * once, so it is decided after a few bytes; only UTF-8 that is mislabelled
 * waits up to this many bytes (or the end of the body) before being shown.
 */
export const SNIFF_LIMIT = 1024;

/**
 * A decoder for `charset` (undefined = UTF-8), following `decodeBody`: a BOM
 * overrides a declared UTF-16/32, code page 437 or windows-1252 label and is
 * removed; a body declared UTF-16/32 without a BOM whose first bytes (up to
 * {@link SNIFF_LIMIT}) are valid UTF-8 without control characters is decoded
 * as UTF-8. Memory held is bounded (at most {@link SNIFF_LIMIT} bytes plus one
 * chunk while sniffing, then a few bytes of an incomplete character). Never
 * throws: undecodable bytes become U+FFFD; an unknown charset decodes as UTF-8
 * with `known: false`. Unlike `decodeBody`, the mislabelling check sees only
 * the start of the body, not all of it.
 */
export function createStreamDecoder(charset: string | undefined): StreamDecoder {
  const probe = decodeBody(new Uint8Array(0), charset);
  if (probe.known && SNIFFED_ENCODINGS.has(probe.charset)) return new SniffingDecoder(probe.charset);
  const encoding = probe.known ? probe.charset : 'utf-8';
  const decoder = new TextDecoder(encoding);
  return {
    encoding,
    known: probe.known,
    write: (chunk) => decoder.decode(chunk, { stream: true }),
    end: () => decoder.decode(),
  };
}

/** Holds the first bytes until the encoding is settled, then streams through a {@link UnitDecoder}. */
class SniffingDecoder implements StreamDecoder {
  readonly known = true;
  #encoding: string;
  #head: Uint8Array[] = [];
  #headLength = 0;
  #inner: UnitDecoder | undefined;

  constructor(declared: string) {
    this.#encoding = declared;
  }

  get encoding(): string {
    return this.#encoding;
  }

  write(chunk: Uint8Array): string {
    if (this.#inner) return this.#inner.write(chunk);
    this.#head.push(chunk);
    this.#headLength += chunk.length;
    return this.#settle(false);
  }

  end(): string {
    const text = this.#inner ? '' : this.#settle(true);
    return text + this.#inner!.end();
  }

  /** Decides the encoding if the held bytes allow it (always when `final`); returns the text decoded so far. */
  #settle(final: boolean): string {
    const head = Buffer.concat(this.#head, this.#headLength);
    const decision = decideEncoding(head, this.#encoding, final);
    if (decision === undefined) {
      this.#head = [head];
      return '';
    }
    this.#head = [];
    this.#headLength = 0;
    this.#encoding = decision.encoding;
    this.#inner = unitDecoder(decision.encoding);
    return this.#inner.write(head.subarray(decision.bomLength));
  }
}

/**
 * The encoding of a body from its first bytes, or undefined when more bytes
 * are needed. Mirrors the BOM and mislabelling rules of `decodeBody`.
 */
function decideEncoding(head: Uint8Array, declared: string, final: boolean): { encoding: string; bomLength: number } | undefined {
  if (head.length < BOM_BYTES && !final) return undefined;
  const bom = sniffBom(head, declared);
  if (bom) return { encoding: bom.encoding, bomLength: bom.length };
  if (!UTF16_OR_32.has(declared)) return { encoding: declared, bomLength: 0 };
  const utf8 = utf8Verdict(head, final);
  if (utf8 === 'no') return { encoding: declared, bomLength: 0 };
  if (final || head.length >= SNIFF_LIMIT) return { encoding: head.length > 0 ? 'utf-8' : declared, bomLength: 0 };
  return undefined;
}

/** Same rules as `sniffBom` in charset.ts: UTF-8 and UTF-16 BOMs always count, UTF-32 ones when UTF-32 was declared. */
function sniffBom(head: Uint8Array, declared: string): { encoding: string; length: number } | undefined {
  const [b0, b1, b2, b3] = head;
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) return { encoding: 'utf-8', length: 3 };
  if (declared.startsWith('utf-32')) {
    if (b0 === 0xff && b1 === 0xfe && b2 === 0 && b3 === 0) return { encoding: 'utf-32le', length: 4 };
    if (b0 === 0 && b1 === 0 && b2 === 0xfe && b3 === 0xff) return { encoding: 'utf-32be', length: 4 };
  }
  if (b0 === 0xfe && b1 === 0xff) return { encoding: 'utf-16be', length: 2 };
  if (b0 === 0xff && b1 === 0xfe) return { encoding: 'utf-16le', length: 2 };
  return undefined;
}

/**
 * Whether `head` can be the start of UTF-8 text: 'no' on a control byte other
 * than TAB/CR/LF or an invalid sequence; 'maybe' otherwise (an incomplete
 * sequence at the end is allowed unless `final`).
 */
function utf8Verdict(head: Uint8Array, final: boolean): 'no' | 'maybe' {
  for (const b of head) {
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return 'no';
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: !final });
    return 'maybe';
  } catch {
    return 'no';
  }
}

function unitDecoder(encoding: string): UnitDecoder {
  switch (encoding) {
    case 'utf-32le':
      return new Utf32Decoder(true);
    case 'utf-32be':
      return new Utf32Decoder(false);
    case 'ibm437':
    case 'windows-1252':
      return singleByteDecoder(highHalf(encoding));
    default: {
      // ignoreBOM: the BOM, if any, was already sniffed and removed.
      const decoder = new TextDecoder(encoding, { ignoreBOM: true });
      return { write: (chunk) => decoder.decode(chunk, { stream: true }), end: () => decoder.decode() };
    }
  }
}

/**
 * Characters of bytes 0x80-0xFF in the single-byte `encoding`, taken from
 * `decodeBody` itself so both decode alike (Node's own windows-1252 decoder
 * gives C1 controls for 0x80-0x9F: see charset.ts).
 */
function highHalf(encoding: string): string {
  const bytes = Uint8Array.from({ length: 0x80 }, (_, i) => 0x80 + i);
  return decodeBody(bytes, encoding).text;
}

function singleByteDecoder(high: string): UnitDecoder {
  return {
    write: (chunk) => {
      const parts: string[] = [];
      for (const b of chunk) parts.push(b < 0x80 ? String.fromCharCode(b) : high[b - 0x80]!);
      return parts.join('');
    },
    end: () => '',
  };
}

/** UTF-32 in 4-byte units, carrying an incomplete unit over to the next chunk. */
class Utf32Decoder implements UnitDecoder {
  readonly #littleEndian: boolean;
  #rest: Uint8Array = new Uint8Array(0);

  constructor(littleEndian: boolean) {
    this.#littleEndian = littleEndian;
  }

  write(chunk: Uint8Array): string {
    const bytes = this.#rest.length === 0 ? chunk : Buffer.concat([this.#rest, chunk]);
    const whole = bytes.length - (bytes.length % 4);
    this.#rest = new Uint8Array(bytes.subarray(whole)); // a copy: do not keep the whole chunk alive
    const view = new DataView(bytes.buffer, bytes.byteOffset, whole);
    const parts: string[] = [];
    let codePoints: number[] = [];
    for (let i = 0; i < whole; i += 4) {
      const cp = view.getUint32(i, this.#littleEndian);
      const valid = cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
      codePoints.push(valid ? cp : 0xfffd);
      if (codePoints.length >= 8192) {
        parts.push(String.fromCodePoint(...codePoints));
        codePoints = [];
      }
    }
    parts.push(String.fromCodePoint(...codePoints));
    return parts.join('');
  }

  end(): string {
    const truncated = this.#rest.length > 0;
    this.#rest = new Uint8Array(0);
    return truncated ? '\uFFFD' : '';
  }
}
