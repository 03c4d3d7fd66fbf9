/**
 * Body decoding for display, the one place that knows charsets: label
 * resolution, BOM sniffing, the decoders, and both ways of using them — a
 * whole body at once ({@link decodeBody}) or chunk by chunk in bounded memory
 * ({@link createStreamDecoder}, used by the CLI to show a body as it arrives).
 *
 * Uses Node's TextDecoder (WHATWG Encoding labels, full ICU) plus small
 * built-in decoders for UTF-32 and code page 437, which the WHATWG standard
 * lacks but Gemini test capsules use, and for windows-1252, which
 * Node >= 20.18.3 decodes as ISO-8859-1 (bytes 0x80-0x9F come out as C1
 * controls instead of "€", curly quotes...: nodejs/node#56542).
 */

/** The result of {@link decodeBody}. */
export interface DecodedBody {
  /** The decoded text, BOM removed; undecodable bytes become U+FFFD. */
  text: string;
  /**
   * Canonical name of the encoding actually used ("utf-8", "windows-1252",
   * "utf-16le", "utf-32be", "ibm437"...). It differs from the declared charset
   * when the label is an alias (iso-8859-1 and us-ascii decode as
   * windows-1252, per the WHATWG standard), when a BOM says otherwise, when
   * the charset is unknown ("utf-8"), or when a body declared UTF-16/32 is
   * evidently UTF-8 ("utf-8").
   */
  charset: string;
  /** False when the declared charset is not one we can decode; the text was then decoded as UTF-8. */
  known: boolean;
}

type CustomEncoding = 'utf-32le' | 'utf-32be' | 'ibm437';

const CUSTOM_LABELS: ReadonlyMap<string, CustomEncoding> = new Map([
  ['utf-32', 'utf-32be'],
  ['utf32', 'utf-32be'],
  ['ucs-4', 'utf-32be'],
  ['utf-32be', 'utf-32be'],
  ['utf-32le', 'utf-32le'],
  ['cp437', 'ibm437'],
  ['ibm437', 'ibm437'],
  ['ibm-437', 'ibm437'],
  ['437', 'ibm437'],
  ['cspc8codepage437', 'ibm437'],
]);

// Bytes 0x80-0xFF of the single-byte encodings we decode ourselves. Bytes below 0x80 are ASCII.
const WINDOWS_1252_HIGH =
  '\u20AC\u0081\u201A\u0192\u201E\u2026\u2020\u2021\u02C6\u2030\u0160\u2039\u0152\u008D\u017D\u008F' +
  '\u0090\u2018\u2019\u201C\u201D\u2022\u2013\u2014\u02DC\u2122\u0161\u203A\u0153\u009D\u017E\u0178' +
  Array.from({ length: 0x60 }, (_, i) => String.fromCharCode(0xa0 + i)).join('');
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐' +
  '└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00A0';

const UTF16_OR_32 = new Set(['utf-16le', 'utf-16be', 'utf-32le', 'utf-32be']);

/** Bytes needed to recognise any BOM (UTF-32 has the longest). */
const BOM_BYTES = 4;

/**
 * Most bytes the stream decoder holds back to decide whether a body declared
 * UTF-16/32 is really UTF-8. Real UTF-16/32 text shows a NUL or an invalid
 * UTF-8 sequence almost at once, so it is decided after a few bytes; only
 * UTF-8 that is mislabelled waits up to this many bytes (or the end of the
 * body) before being shown.
 */
export const SNIFF_LIMIT = 1024;

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
 * Whether `head` can be the start of UTF-8 text (the whole of it when
 * `final`): false on a control byte other than TAB/CR/LF or an invalid
 * sequence; an incomplete sequence at the end is allowed unless `final`.
 * Real UTF-16/32 text would contain NUL or other low bytes (every ASCII
 * character, Cyrillic...), so a body declared UTF-16/32 that passes is UTF-8
 * mislabelled.
 */
function couldBeUtf8(head: Uint8Array, final: boolean): boolean {
  for (const b of head) {
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return false;
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: !final });
    return true;
  } catch {
    return false;
  }
}

/**
 * The encoding of a body from its first bytes (all of them when `final`), or
 * undefined when more bytes are needed: a BOM overrides the declared encoding
 * and is skipped (`bomLength`); a body declared UTF-16/32 without a BOM that
 * {@link couldBeUtf8} is UTF-8, decided at {@link SNIFF_LIMIT} bytes at most.
 */
function decideEncoding(head: Uint8Array, declared: string, final: boolean): { encoding: string; bomLength: number } | undefined {
  if (head.length < BOM_BYTES && !final && mayStartBom(head)) return undefined;
  const bom = sniffBom(head, declared);
  if (bom) return { encoding: bom.encoding, bomLength: bom.length };
  if (!UTF16_OR_32.has(declared)) return { encoding: declared, bomLength: 0 };
  if (!couldBeUtf8(head, final)) return { encoding: declared, bomLength: 0 };
  if (final || head.length >= SNIFF_LIMIT) return { encoding: head.length > 0 ? 'utf-8' : declared, bomLength: 0 };
  return undefined;
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
    case 'ibm437':
      return singleByteDecoder(CP437_HIGH);
    case 'windows-1252':
      return singleByteDecoder(WINDOWS_1252_HIGH);
    default:
      return textDecoder(encoding);
  }
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
   * declared one until the first bytes have been examined, then the one they
   * showed (a BOM, or UTF-8 sent under a UTF-16/32 label).
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
 * the bytes arrive, whatever the charset and however long the body. It
 * decodes as {@link decodeBody} does (a leading BOM overrides the label,
 * whatever the label), with one difference: a body declared UTF-16/32
 * without a BOM is taken for UTF-8 when its first bytes (up to
 * {@link SNIFF_LIMIT}), not all of it, are valid UTF-8 without control
 * characters. The first 4 bytes are held until a BOM is ruled out. Memory
 * held is bounded (at most {@link SNIFF_LIMIT} bytes plus one chunk while
 * sniffing, then a few bytes of an incomplete character).
 * Never throws: undecodable bytes become U+FFFD; an unknown charset decodes as
 * UTF-8 with `known: false`.
 */
export function createStreamDecoder(charset: string | undefined): StreamDecoder {
  const declared = resolveEncoding(charset ?? 'utf-8');
  return new SniffingDecoder(declared ?? 'utf-8', declared !== undefined);
}

/** Holds the first bytes until the encoding is settled, then streams through a {@link UnitDecoder}. */
class SniffingDecoder implements StreamDecoder {
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
