/**
 * Streaming decode of the legacy multi-byte charsets whose streaming mode in
 * Node's TextDecoder (ICU) throws "The encoded data was not valid" when a
 * character is split between chunks (euc-jp: `[0x8f, 0xe2]` then `[0x8b]`;
 * gb18030 and, from Node 22, gbk; iso-2022-jp), although it never throws decoding the same bytes
 * at once. So these are never decoded in streaming mode: each chunk is cut
 * after the last byte where the decoder holds nothing back (a character
 * boundary, found by a small state machine per charset following the WHATWG
 * Encoding decoders), the part before it is decoded at once, and the rest
 * (at most 3 bytes, except in malformed iso-2022-jp) waits for the next chunk.
 */

/** Follows a decoder's state byte by byte, only far enough to know where characters end. */
interface BoundaryScanner {
  /** Consumes one byte; returns true when the decoder holds no byte back after it. */
  feed(byte: number): boolean;
}

const inRange = (b: number, lo: number, hi: number): boolean => b >= lo && b <= hi;

/**
 * euc-jp as ICU decodes it: a lead (0x8E, 0x8F, 0xA1-0xFE), then one trail
 * (0xA1-0xFE), two after 0x8F. A byte that ends a sequence in error is read
 * again when it could start one (ICU does this for 0x8E/0x8F/0xA1-0xFE too,
 * where WHATWG reads again only ASCII bytes). After 0x8E, ICU takes as trail
 * only the bytes its table maps (half-width katakana 0xA1-0xDF, and a few
 * more): asked of ICU once.
 */
function eucJpScanner(): BoundaryScanner {
  const katakanaTrails = eucJpKatakanaTrails();
  let lead = 0;
  let needed = 0; // trail bytes still expected
  const isTrail = (b: number): boolean => inRange(b, 0xa1, 0xfe) && (lead !== 0x8e || katakanaTrails.has(b));
  return {
    feed(b) {
      if (needed > 0 && isTrail(b)) {
        needed--;
      } else {
        lead = b; // a fresh start, or a byte read again after an error
        needed = b === 0x8f ? 2 : b === 0x8e || inRange(b, 0xa1, 0xfe) ? 1 : 0;
      }
      return needed === 0;
    },
  };
}

let katakanaTrailCache: ReadonlySet<number> | undefined;

/** The bytes ICU decodes as one character after 0x8E in euc-jp. */
function eucJpKatakanaTrails(): ReadonlySet<number> {
  if (katakanaTrailCache) return katakanaTrailCache;
  const decoder = new TextDecoder('euc-jp');
  const trails = new Set<number>();
  for (let b = 0xa1; b <= 0xfe; b++) if ([...decoder.decode(new Uint8Array([0x8e, b]))].length === 1) trails.add(b);
  katakanaTrailCache = trails;
  return trails;
}

/** WHATWG gb18030: one or two bytes, or four (lead, digit, 0x81-0xFE, digit); bytes of a failed sequence are read again. */
function gb18030Scanner(): BoundaryScanner {
  let first = 0;
  let second = 0;
  let third = 0;
  return {
    feed(byte) {
      const queue = [byte];
      while (queue.length > 0) {
        const b = queue.shift()!;
        if (third !== 0) {
          if (!inRange(b, 0x30, 0x39)) queue.unshift(second, third, b);
          first = second = third = 0;
        } else if (second !== 0) {
          if (inRange(b, 0x81, 0xfe)) third = b;
          else {
            queue.unshift(second, b);
            first = second = 0;
          }
        } else if (first !== 0) {
          if (inRange(b, 0x30, 0x39)) second = b;
          else first = 0; // a two-byte character, or an error (an ASCII byte is read again, as itself)
        } else if (inRange(b, 0x81, 0xfe)) {
          first = b;
        }
      }
      return first === 0;
    },
  };
}

const ESC = 0x1b;
const SO = 0x0e;
const TO_ASCII = [ESC, 0x28, 0x42]; // ESC ( B

/**
 * iso-2022-jp is stateful: an escape sequence switches the mode for all that
 * follows. A fresh decoder is in ASCII mode, so a boundary is an ASCII
 * character read in ASCII mode; any escape sequence other than ESC ( B (or
 * SO) is taken to leave ASCII mode, which only makes the boundaries rarer.
 */
function iso2022JpScanner(): BoundaryScanner {
  let ascii = true;
  let escape: number[] | undefined;
  return {
    feed(b) {
      if (escape !== undefined) {
        escape.push(b);
        if (escape.length === TO_ASCII.length) {
          ascii = escape.every((x, i) => x === TO_ASCII[i]);
          escape = undefined;
        }
        return false;
      }
      if (b === ESC) {
        escape = [b];
        return false;
      }
      if (b === SO) ascii = false;
      return ascii && b < 0x80;
    },
  };
}

const SCANNERS: ReadonlyMap<string, () => BoundaryScanner> = new Map([
  ['euc-jp', eucJpScanner],
  ['gb18030', gb18030Scanner],
  // ICU's gbk takes gb18030's four-byte sequences too (Node 22 and 24 throw on them split; 20 does not):
  // the same boundaries hold, as WHATWG's GBK decoder is the gb18030 decoder.
  ['gbk', gb18030Scanner],
  ['iso-2022-jp', iso2022JpScanner],
]);

/**
 * Most bytes held waiting for a boundary. Only malformed iso-2022-jp (this
 * much text without a return to ASCII: RFC 1468 wants one before each line
 * end) reaches it; the held bytes are then decoded at once, and the
 * decoder's mode starts afresh.
 */
export const MAX_HELD_BYTES = 64 * 1024;

/** Whether {@link boundaryDecoder} is needed for this canonical encoding name. */
export function needsBoundaryDecoder(encoding: string): boolean {
  return SCANNERS.has(encoding);
}

/**
 * A chunk decoder for `encoding` (one of those {@link needsBoundaryDecoder}
 * accepts) that gives the same text as decoding all the bytes at once.
 */
export function boundaryDecoder(encoding: string): { write(chunk: Uint8Array): string; end(): string } {
  const newScanner = SCANNERS.get(encoding)!;
  let scanner = newScanner();
  const decoder = new TextDecoder(encoding, { ignoreBOM: true });
  let held: Uint8Array = new Uint8Array(0);
  return {
    write(chunk) {
      let cut = -1;
      for (let i = 0; i < chunk.length; i++) if (scanner.feed(chunk[i]!)) cut = i + 1;
      const heldBefore = held.length;
      if (cut < 0 && heldBefore + chunk.length <= MAX_HELD_BYTES) {
        held = Buffer.concat([held, chunk]);
        return '';
      }
      const end = cut < 0 ? chunk.length : cut;
      const text = decoder.decode(Buffer.concat([held, chunk.subarray(0, end)]));
      held = new Uint8Array(chunk.subarray(end)); // a copy: do not keep the whole chunk alive
      if (cut < 0) scanner = newScanner(); // cut without a boundary: the next bytes start afresh
      return text;
    },
    end() {
      const text = held.length > 0 ? decoder.decode(held) : '';
      held = new Uint8Array(0);
      return text;
    },
  };
}
