/**
 * Body decoding for display. Uses Node's TextDecoder (WHATWG Encoding labels,
 * full ICU) plus small built-in decoders for UTF-32 and code page 437, which
 * the WHATWG standard lacks but Gemini test capsules use, and for
 * windows-1252, which Node >= 20.18.3 decodes as ISO-8859-1 (bytes 0x80-0x9F
 * come out as C1 controls instead of "€", curly quotes...: nodejs/node#56542).
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

/** Detects a byte order mark: the encoding it announces and its length. */
function sniffBom(body: Uint8Array, encoding: string): { encoding: string; length: number } | undefined {
  const [b0, b1, b2, b3] = body;
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) return { encoding: 'utf-8', length: 3 };
  if (encoding.startsWith('utf-32')) {
    if (b0 === 0xff && b1 === 0xfe && b2 === 0 && b3 === 0) return { encoding: 'utf-32le', length: 4 };
    if (b0 === 0 && b1 === 0 && b2 === 0xfe && b3 === 0xff) return { encoding: 'utf-32be', length: 4 };
  }
  if (b0 === 0xfe && b1 === 0xff) return { encoding: 'utf-16be', length: 2 };
  if (b0 === 0xff && b1 === 0xfe) return { encoding: 'utf-16le', length: 2 };
  return undefined;
}

/**
 * A body declared UTF-16/32 without a BOM that is valid UTF-8 and holds no
 * control bytes but TAB/CR/LF: real UTF-16/32 text would contain NUL or other
 * low bytes (every ASCII character, Cyrillic...), so this is UTF-8 mislabelled.
 */
function looksLikeMislabelledUtf8(body: Uint8Array): boolean {
  if (body.length === 0) return false;
  for (const b of body) {
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return false;
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(body);
    return true;
  } catch {
    return false;
  }
}

function decodeUtf32(bytes: Uint8Array, littleEndian: boolean): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: string[] = [];
  let chunk: number[] = [];
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    const cp = view.getUint32(i, littleEndian);
    const valid = cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    chunk.push(valid ? cp : 0xfffd);
    if (chunk.length >= 8192) {
      parts.push(String.fromCodePoint(...chunk));
      chunk = [];
    }
  }
  if (bytes.length % 4 !== 0) chunk.push(0xfffd);
  parts.push(String.fromCodePoint(...chunk));
  return parts.join('');
}

function decodeSingleByte(bytes: Uint8Array, high: string): string {
  const parts: string[] = [];
  for (const b of bytes) parts.push(b < 0x80 ? String.fromCharCode(b) : high[b - 0x80]!);
  return parts.join('');
}

function decodeWith(encoding: string, bytes: Uint8Array): string {
  switch (encoding) {
    case 'utf-32le':
      return decodeUtf32(bytes, true);
    case 'utf-32be':
      return decodeUtf32(bytes, false);
    case 'ibm437':
      return decodeSingleByte(bytes, CP437_HIGH);
    case 'windows-1252':
      return decodeSingleByte(bytes, WINDOWS_1252_HIGH);
    default:
      // ignoreBOM: the BOM, if any, was already sniffed and removed.
      return new TextDecoder(encoding, { ignoreBOM: true }).decode(bytes);
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
  const known = declared !== undefined;
  let encoding = declared ?? 'utf-8';
  let bytes = body;
  const bom = sniffBom(body, encoding);
  if (bom) {
    encoding = bom.encoding;
    bytes = body.subarray(bom.length);
  } else if (UTF16_OR_32.has(encoding) && looksLikeMislabelledUtf8(body)) {
    encoding = 'utf-8';
  }
  return { text: decodeWith(encoding, bytes), charset: encoding, known };
}
