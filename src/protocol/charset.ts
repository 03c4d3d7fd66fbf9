/**
 * Body decoding for display, the one place that knows charsets: label
 * resolution, BOM sniffing, the decoders, and both ways of using them — a
 * whole body at once ({@link decodeBody}) or chunk by chunk in bounded memory
 * ({@link createStreamDecoder}, used by the CLI to show a body as it arrives).
 *
 * The declared charset decides, and only a leading BOM can override it (as
 * in the WHATWG Encoding standard): no other guessing from the bytes.
 *
 * Uses Node's TextDecoder (WHATWG Encoding labels, full ICU) plus small
 * built-in decoders: UTF-32; single-byte code pages Node lacks (cp437, cp850
 * and other DOS code pages, iso-8859-16: tables generated from glibc iconv,
 * see ./charset-tables.ts); windows-1252, which Node >= 20.18.3 decodes as
 * ISO-8859-1 (bytes 0x80-0x9F come out as C1 controls instead of "€", curly
 * quotes...: nodejs/node#56542); and the chunk splitting of
 * ./charset-multibyte.ts for the charsets whose streaming in Node throws.
 */
import { boundaryDecoder, needsBoundaryDecoder } from './charset-multibyte.js';
import { SINGLE_BYTE_TABLES } from './charset-tables.js';

/** The result of {@link decodeBody}. */
export interface DecodedBody {
  /** The decoded text, BOM removed; undecodable bytes become U+FFFD. */
  text: string;
  /**
   * Canonical name of the encoding actually used ("utf-8", "windows-1252",
   * "utf-16le", "utf-32be", "ibm437"...). It differs from the declared charset
   * when the label is an alias (iso-8859-1 and us-ascii decode as
   * windows-1252, per the WHATWG standard), when a leading BOM says
   * otherwise, or when the charset is unknown ("utf-8").
   */
  charset: string;
  /** False when the declared charset is not one we can decode; the text was then decoded as UTF-8. */
  known: boolean;
}

const UTF32_LABELS: ReadonlyMap<string, string> = new Map([
  ['utf-32', 'utf-32be'],
  ['utf32', 'utf-32be'],
  ['ucs-4', 'utf-32be'],
  ['utf-32be', 'utf-32be'],
  ['utf-32le', 'utf-32le'],
]);

/** Canonical names of the encodings decoded here rather than by TextDecoder, by label. */
const CUSTOM_LABELS: ReadonlyMap<string, string> = new Map([
  ...UTF32_LABELS,
  ...[...SINGLE_BYTE_TABLES].flatMap(([name, table]) => table.labels.map((label): [string, string] => [label, name])),
]);

// Bytes 0x80-0xFF of windows-1252 (WHATWG index). Bytes below 0x80 are ASCII.
const WINDOWS_1252_HIGH =
  '\u20AC\u0081\u201A\u0192\u201E\u2026\u2020\u2021\u02C6\u2030\u0160\u2039\u0152\u008D\u017D\u008F' +
  '\u0090\u2018\u2019\u201C\u201D\u2022\u2013\u2014\u02DC\u2122\u0161\u203A\u0153\u009D\u017E\u0178' +
  Array.from({ length: 0x60 }, (_, i) => String.fromCharCode(0xa0 + i)).join('');

/** Bytes needed to recognise any BOM (UTF-32 has the longest). */
const BOM_BYTES = 4;

function normaliseLabel(label: string): string {
  return label.trim().toLowerCase();
}

/** Canonical encoding name for a label, or undefined if we cannot decode it. */
function resolveEncoding(label: string): string | undefined {
  const normalised = normaliseLabel(label);
  const custom = CUSTOM_LABELS.get(normalised);
  if (custom) return custom;
  try {
    const encoding = new TextDecoder(normalised).encoding;
    // "replacement" (iso-2022-kr...) decodes every body to a single U+FFFD: useless for display.
    return encoding === 'replacement' ? undefined : encoding;
  } catch {
    return undefined;
  }
}

/** Whether {@link decodeBody} can decode `label` (case and surrounding spaces ignored). */
export function isKnownCharset(label: string): boolean {
  return resolveEncoding(label) !== undefined;
}

/**
 * Detects a byte order mark: the encoding it announces and its length. UTF-8
 * and UTF-16 BOMs always count, UTF-32 ones only when UTF-32 was declared.
 */
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

const BOMS = [
  [0xef, 0xbb, 0xbf],
  [0xfe, 0xff],
  [0xff, 0xfe, 0x00, 0x00],
  [0x00, 0x00, 0xfe, 0xff],
];

/** Whether more bytes could still make `head` (shorter than any BOM's decision point) a BOM. */
function mayStartBom(head: Uint8Array): boolean {
  return BOMS.some((bom) => head.length < bom.length && head.every((b, i) => b === bom[i]));
}

/**
 * The encoding of a body from its first bytes (all of them when `final`), or
 * undefined while they could still be the start of a BOM: a BOM overrides
 * the declared encoding and is skipped (`bomLength`); without one, the
 * declared encoding stands.
 */
function decideEncoding(head: Uint8Array, declared: string, final: boolean): { encoding: string; bomLength: number } | undefined {
  if (head.length < BOM_BYTES && !final && mayStartBom(head)) return undefined;
  const bom = sniffBom(head, declared);
  if (bom) return { encoding: bom.encoding, bomLength: bom.length };
  return { encoding: declared, bomLength: 0 };
}

/** A decoder for bytes whose encoding is settled (no BOM left to sniff). */
interface UnitDecoder {
  /** Decodes a chunk; an incomplete character at its end is held for the next one. */
  write(chunk: Uint8Array): string;
  /** Flushes what is held: an incomplete character becomes U+FFFD. */
  end(): string;
}

function unitDecoder(encoding: string): UnitDecoder {
  switch (encoding) {
    case 'utf-32le':
      return new Utf32Decoder(true);
    case 'utf-32be':
      return new Utf32Decoder(false);
    case 'windows-1252':
      return singleByteDecoder(WINDOWS_1252_HIGH);
  }
  const table = SINGLE_BYTE_TABLES.get(encoding);
  if (table) return singleByteDecoder(table.high);
  if (needsBoundaryDecoder(encoding)) return boundaryDecoder(encoding);
  return textDecoder(encoding);
}

function textDecoder(encoding: string): UnitDecoder {
  // ignoreBOM: the BOM, if any, was already sniffed and removed; a second one is text (U+FEFF).
  const decoder = new TextDecoder(encoding, { ignoreBOM: true });
  return { write: (chunk) => decoder.decode(chunk, { stream: true }), end: () => decoder.decode() };
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

/**
 * Decodes a response body for display. `charset` is the declared label
 * (`undefined` means UTF-8). A leading BOM (UTF-8, UTF-16, or UTF-32 when
 * UTF-32 was declared) overrides the label and is removed. Never throws:
 * invalid bytes become U+FFFD, and an unknown label gives `known: false` with
 * the body decoded as UTF-8 (the caller should report it).
 */
export function decodeBody(body: Uint8Array, charset: string | undefined): DecodedBody {
  const declared = resolveEncoding(charset ?? 'utf-8');
  const { encoding, bomLength } = decideEncoding(body, declared ?? 'utf-8', true)!;
  const decoder = unitDecoder(encoding);
  const text = decoder.write(body.subarray(bomLength)) + decoder.end();
  return { text, charset: encoding, known: declared !== undefined };
}

/** Decodes one body incrementally: see {@link createStreamDecoder}. */
export interface StreamDecoder {
  /**
   * Canonical encoding in use (`utf-8`, `windows-1252`, `utf-16le`...): the
   * declared one, or the one a leading BOM announced once the first bytes
   * have ruled a BOM in or out.
   */
  readonly encoding: string;
  /** False when the declared charset is unknown (the body is then decoded as UTF-8). */
  readonly known: boolean;
  /** Decodes a chunk; returns the text it completes (possibly empty: partial characters are held). */
  write(chunk: Uint8Array): string;
  /** Flushes what is held; an incomplete character at the end becomes U+FFFD. */
  end(): string;
}

/**
 * A decoder for a body in `charset` (undefined = UTF-8) that yields text as
 * the bytes arrive, whatever the charset and however long the body, however
 * the chunks split its characters: the concatenated output is exactly
 * {@link decodeBody}'s text for the same bytes (a leading BOM overrides the
 * label, nothing else does). The first bytes are held only while they could
 * still be a BOM (at most 4); after that, only an incomplete character (a
 * few bytes; up to 64 KiB in malformed iso-2022-jp, see
 * ./charset-multibyte.ts). Never throws: undecodable bytes become U+FFFD; an
 * unknown charset decodes as UTF-8 with `known: false`.
 */
export function createStreamDecoder(charset: string | undefined): StreamDecoder {
  const declared = resolveEncoding(charset ?? 'utf-8');
  return new BomSniffingDecoder(declared ?? 'utf-8', declared !== undefined);
}

/** Holds the first bytes until the encoding is settled, then streams through a {@link UnitDecoder}. */
class BomSniffingDecoder implements StreamDecoder {
  readonly known: boolean;
  #encoding: string;
  #head: Uint8Array[] = [];
  #headLength = 0;
  #inner: UnitDecoder | undefined;

  constructor(declared: string, known: boolean) {
    this.#encoding = declared;
    this.known = known;
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
