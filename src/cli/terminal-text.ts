/**
 * Text helpers for showing untrusted server text on a terminal: stripping
 * control sequences, measuring columns, word wrapping. All of them take time
 * linear in the length of the text, however long its words.
 */

import { forEachGrapheme } from './graphemes.js';

export { graphemes } from './graphemes.js';

/**
 * Escape sequences, stripped whole (the `u` flag makes each code point one unit):
 * - CSI: `ESC [` or C1 `U+009B`, parameter bytes, intermediate bytes, a final byte;
 * - OSC, DCS, SOS, PM, APC strings (`ESC ]`, `ESC P`, `ESC X`, `ESC ^`, `ESC _` or
 *   their C1 forms) up to BEL or ST (`ESC \` or `U+009C`), or to the end of the
 *   string when unterminated;
 * - other escapes: `ESC`, intermediate bytes, one final byte (`ESC c`, `ESC ( B`).
 */
const ESCAPE_SEQUENCE = new RegExp(
  [
    '(?:\\x1b\\[|\\x9b)[\\x30-\\x3f]*[\\x20-\\x2f]*[\\x40-\\x7e]?',
    '(?:\\x1b[\\]PX^_]|[\\x90\\x98\\x9d\\x9e\\x9f])[\\s\\S]*?(?:\\x07|\\x1b\\\\|\\x9c|$)',
    '\\x1b[\\x20-\\x2f]*[\\x30-\\x7e]?',
  ].join('|'),
  'gu',
);

/**
 * Single characters removed: C0 controls except TAB (LF and CR included), DEL,
 * C1 controls, and the bidi embedding/override/isolate controls U+202A–U+202E and
 * U+2066–U+2069. The bidi controls are removed because they reorder what is
 * displayed: a label or URL could read `gemini://bank.example/` on screen while
 * its characters say something else. (Plain LRM/RLM marks are kept: they only
 * nudge neutral characters and are needed by right-to-left text.)
 */
const UNSAFE_CHARACTER = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/gu;

/**
 * Returns `s` without anything a server could use to control a terminal: whole
 * ESC/CSI/OSC/DCS/SOS/PM/APC sequences (7-bit and C1 forms), every other C0
 * control except TAB, DEL, C1 controls and bidi override/isolate characters.
 * Printable text, TAB and other Unicode (including zero-width joiners and
 * combining marks) are kept. Idempotent. Meant for one line at a time: LF and CR
 * are removed too.
 */
export function sanitizeForTerminal(s: string): string {
  return s.replace(ESCAPE_SEQUENCE, '').replace(UNSAFE_CHARACTER, '');
}

/**
 * East Asian Wide and Fullwidth ranges (Unicode 15 EastAsianWidth W/F), compacted.
 * Emoji with default emoji presentation are handled by `\p{Emoji_Presentation}`.
 */
const WIDE_RANGES: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f], // Hangul Jamo leading consonants
  [0x2329, 0x232a], // angle brackets
  [0x2e80, 0x303e], // CJK radicals, Kangxi, CJK symbols and punctuation
  [0x3041, 0x33ff], // Hiragana, Katakana, Bopomofo, Hangul compatibility jamo, CJK compatibility
  [0x3400, 0x4dbf], // CJK extension A
  [0x4e00, 0x9fff], // CJK unified ideographs
  [0xa000, 0xa4cf], // Yi
  [0xa960, 0xa97f], // Hangul Jamo extended A
  [0xac00, 0xd7a3], // Hangul syllables
  [0xf900, 0xfaff], // CJK compatibility ideographs
  [0xfe10, 0xfe19], // vertical forms
  [0xfe30, 0xfe6f], // CJK compatibility forms, small form variants
  [0xff00, 0xff60], // fullwidth forms
  [0xffe0, 0xffe6], // fullwidth signs
  [0x16fe0, 0x16fe4], // ideographic symbols
  [0x17000, 0x18cff], // Tangut, Khitan
  [0x1aff0, 0x1b2ff], // Kana supplement and extensions, Nushu
  [0x1f200, 0x1f2ff], // enclosed ideographic supplement
  [0x20000, 0x3fffd], // CJK extensions B and later
];

const ZERO_WIDTH = /^[\p{M}\p{Cc}\p{Cf}\u1160-\u11ff\u200b]$/u;
const EMOJI_PRESENTATION = /^\p{Emoji_Presentation}$/u;
const EMOJI = /^\p{Emoji}$/u;
const VS16 = '\ufe0f';

function isWideCodePoint(cp: number): boolean {
  for (const [low, high] of WIDE_RANGES) {
    if (cp < low) return false;
    if (cp <= high) return true;
  }
  return false;
}

function codePointWidth(char: string): 0 | 1 | 2 {
  if (ZERO_WIDTH.test(char)) return 0;
  if (EMOJI_PRESENTATION.test(char) || isWideCodePoint(char.codePointAt(0)!)) return 2;
  return 1;
}

/**
 * Terminal columns of one grapheme cluster: the width of its first code point,
 * except that an emoji made emoji-style by U+FE0F (e.g. `❤️`, keycaps) is 2.
 * ZWJ sequences and flags therefore count 2, `e` + combining accent counts 1.
 */
export function graphemeWidth(grapheme: string): number {
  if (grapheme.length === 1 && grapheme >= ' ' && grapheme <= '~') return 1;
  const first = String.fromCodePoint(grapheme.codePointAt(0) ?? 0x20);
  if (grapheme.includes(VS16) && EMOJI.test(first)) return 2;
  return codePointWidth(first);
}

/**
 * Number of terminal columns `s` occupies: East Asian Wide/Fullwidth characters
 * and emoji 2, combining marks, format and control characters (TAB included:
 * expand tabs first) 0, everything else 1. An approximation of what common
 * terminals do (like wcwidth); ambiguous-width characters count 1.
 */
export function displayWidth(s: string): number {
  let width = 0;
  forEachGrapheme(s, (grapheme) => {
    width += graphemeWidth(grapheme);
  });
  return width;
}

/** Options of {@link wrapText}. */
export interface WrapOptions {
  /** Put before the first line (plain text, no escape codes); its width counts. Default `''`. */
  firstPrefix?: string;
  /** Put before every following line (plain text); its width counts. Default `''`. */
  restPrefix?: string;
}

/** A wrapped line as a `[start, end)` slice of the (tab-expanded) input text. */
export interface LineSpan {
  start: number;
  end: number;
}

interface Segment extends LineSpan {
  width: number;
  /** Never broken, even when wider than a line (a URL). */
  whole: boolean;
}

/**
 * Word-wraps one logical line to `width` columns and returns the physical lines
 * (without line endings), prefixes included.
 *
 * Breaks at spaces (runs of spaces at a break are dropped, inside a line they are
 * kept; TABs count as spaces) and after a hyphen inside a word (`well-` / `known`).
 * A word wider than the line is broken between grapheme clusters: a grapheme is
 * never split, and no line exceeds `width` columns unless a single grapheme
 * (e.g. a wide character in a 1-column space) cannot fit. Leading spaces are kept
 * on the first line, trailing spaces dropped. Empty or all-space text gives one
 * line holding only `firstPrefix`. At least one column of text is allowed per
 * line even when the prefixes are wider than `width`.
 */
export function wrapText(text: string, width: number, options: WrapOptions = {}): string[] {
  const firstPrefix = options.firstPrefix ?? '';
  const restPrefix = options.restPrefix ?? '';
  const expanded = text.replace(/\t/g, ' ');
  const spans = wrapSpans(expanded, width - displayWidth(firstPrefix), width - displayWidth(restPrefix));
  return spans.map((span, i) => (i === 0 ? firstPrefix : restPrefix) + expanded.slice(span.start, span.end));
}

/**
 * The line-breaking core of {@link wrapText}: where to cut `text` (which must not
 * contain TABs or line endings) so that the first line fits `firstWidth` columns
 * and the others `restWidth` (each at least 1). Always returns at least one span.
 * Exposed so callers can style parts of the text after wrapping.
 *
 * The words from `unbreakableFrom` on (a URL) are never broken, not even after
 * a hyphen: one that does not fit after what precedes it starts a new line, and
 * one wider than a line overflows it, so a URL can be copied whole. Every other
 * line fits.
 */
export function wrapSpans(text: string, firstWidth: number, restWidth: number, unbreakableFrom = text.length): LineSpan[] {
  const lines: LineSpan[] = [];
  const avail = (): number => Math.max(1, lines.length === 0 ? firstWidth : restWidth);
  let current: Segment | undefined;
  for (const segment of segmentWords(text, unbreakableFrom)) {
    if (current !== undefined) {
      const joined = current.width + (segment.start - current.end) + segment.width;
      if (joined <= avail()) {
        current = { start: current.start, end: segment.end, width: joined, whole: false };
        continue;
      }
      lines.push(current);
      current = undefined;
    }
    current = segment.whole || segment.width <= avail() ? segment : breakLongSegment(text, segment, lines, avail);
  }
  if (current !== undefined) lines.push(current);
  if (lines.length === 0) lines.push({ start: 0, end: 0 });
  return lines.map(({ start, end }) => ({ start, end }));
}

/** Pushes full-width chunks of a too-wide segment to `lines`; returns the last, partial chunk. */
function breakLongSegment(text: string, segment: Segment, lines: LineSpan[], avail: () => number): Segment {
  let chunk: Segment = { start: segment.start, end: segment.start, width: 0, whole: false };
  forEachGrapheme(text.slice(segment.start, segment.end), (grapheme) => {
    const w = graphemeWidth(grapheme);
    if (chunk.width > 0 && chunk.width + w > avail()) {
      lines.push(chunk);
      chunk = { start: chunk.end, end: chunk.end, width: 0, whole: false };
    }
    chunk = { start: chunk.start, end: chunk.end + grapheme.length, width: chunk.width + w, whole: false };
  });
  return chunk;
}

/**
 * Words of `text` as segments, each hyphenated word before `unbreakableFrom`
 * split after its inner hyphens (`a-b` → `a-`, `b`; `--x` and `a--b` are not
 * split); words from `unbreakableFrom` on are whole. Leading spaces belong to
 * the first segment so indentation survives on the first line.
 */
function segmentWords(text: string, unbreakableFrom: number): Segment[] {
  const segments: Segment[] = [];
  for (const word of text.matchAll(/[^ ]+/g)) {
    const wordStart = word.index;
    const wordEnd = wordStart + word[0].length;
    let pieceStart = segments.length === 0 ? 0 : wordStart;
    const whole = wordStart >= unbreakableFrom;
    if (!whole) {
      for (const hyphen of word[0].matchAll(/(?<=[^-])-(?=[^-])/g)) {
        const pieceEnd = wordStart + hyphen.index + 1;
        segments.push(makeSegment(text, pieceStart, pieceEnd, false));
        pieceStart = pieceEnd;
      }
    }
    segments.push(makeSegment(text, pieceStart, wordEnd, whole));
  }
  return segments;
}

function makeSegment(text: string, start: number, end: number, whole: boolean): Segment {
  return { start, end, width: displayWidth(text.slice(start, end)), whole };
}
