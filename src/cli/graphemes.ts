/**
 * Grapheme clusters of arbitrarily long text in linear time.
 *
 * `Intl.Segmenter` (Node 20's ICU) takes time quadratic in the length of the
 * string it is given: one 64 KB word took seconds to wrap, a 1 MB word minutes.
 * So it is only ever given slices of at most {@link MAX_SEGMENTER_INPUT} code
 * units, each starting on a cluster boundary, and runs of characters that never
 * join each other (most letters, digits, punctuation) skip it altogether.
 */

/**
 * Longest string ever passed to `Intl.Segmenter.prototype.segment`, in UTF-16
 * code units. Clusters shorter than this are never split; a longer one (only
 * seen in abuse such as thousands of stacked combining marks) is cut into
 * pieces of at most this length, between code points.
 */
export const MAX_SEGMENTER_INPUT = 512;

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/**
 * Characters that never join a neighbour of this class into one cluster: BMP
 * letters, digits, punctuation, symbols and spaces, except the few of them that
 * UAX #29 gives a joining property (Hangul jamo and syllables, Prepend U+0D4E,
 * SpacingMark U+0E33 and U+0EB3, Extend U+FF9E and U+FF9F). Between two of them
 * there is always a cluster boundary (no rule of UAX #29 keeps them together),
 * so a run of them is cut into single characters without the segmenter.
 * test/render.test.ts checks every BMP character against Intl.Segmenter.
 */
const SIMPLE = String.raw`(?![\u0d4e\u0e33\u0eb3\u1100-\u11ff\ua960-\ua97f\uac00-\ud7ff\uff9e\uff9f\u{10000}-\u{10ffff}])[\p{L}\p{N}\p{P}\p{S}\p{Zs}]`;
const SIMPLE_RUN = new RegExp(`(?:${SIMPLE})+`, 'uy');
/** Sixteen simple characters: where the segmenter hands over to {@link SIMPLE_RUN} again (one call per cluster would cost more). */
const SIMPLE_STRETCH = new RegExp(`(?:${SIMPLE}){16}`, 'u');

/**
 * Calls `visit` with each extended grapheme cluster of `s`, in order; the
 * clusters concatenate to `s`. Same clusters as segmenting `s` whole with
 * `Intl.Segmenter` (except a cluster of {@link MAX_SEGMENTER_INPUT} code units
 * or more, which comes in pieces), in time linear in `s.length`.
 */
export function forEachGrapheme(s: string, visit: (grapheme: string) => void): void {
  let start = 0; // always on a cluster boundary, except after cutting an oversized cluster
  while (start < s.length) {
    start = visitSimpleRun(s, start, visit);
    if (start < s.length) start = visitSlice(s, start, visit);
  }
}

/** Splits `s` into extended grapheme clusters (see {@link forEachGrapheme}). */
export function graphemes(s: string): string[] {
  const out: string[] = [];
  forEachGrapheme(s, (grapheme) => out.push(grapheme));
  return out;
}

/**
 * Visits the run of simple characters (see {@link SIMPLE_RUN}) from `start` on,
 * one cluster each, except the run's last one when more text follows (a
 * combining mark may join it). Returns where the rest begins.
 */
function visitSimpleRun(s: string, start: number, visit: (grapheme: string) => void): number {
  SIMPLE_RUN.lastIndex = start;
  if (!SIMPLE_RUN.test(s)) return start;
  const runEnd = SIMPLE_RUN.lastIndex;
  const end = runEnd === s.length ? runEnd : runEnd - 1;
  for (let i = start; i < end; i++) visit(s[i]!);
  return end;
}

/**
 * Segments the text at `start` (a cluster boundary) with Intl.Segmenter, up to
 * the next run of simple characters if there is one close by, else for
 * {@link MAX_SEGMENTER_INPUT} code units. Returns where to go on.
 */
function visitSlice(s: string, start: number, visit: (grapheme: string) => void): number {
  const ahead = s.slice(start + 1, start + MAX_SEGMENTER_INPUT).search(SIMPLE_STRETCH);
  if (ahead !== -1) {
    const next = visitAllButLast(s, start, start + 1 + ahead + 1, visit, false);
    if (next > start) return next;
  }
  return visitAllButLast(s, start, Math.min(s.length, start + MAX_SEGMENTER_INPUT), visit, true);
}

/**
 * Segments `s[start, end)` and visits every cluster in it but the last, which
 * may continue past `end`: returns where that one starts (`start` when it is
 * the only one, unless `cutOversized`: then the slice is visited as a piece of
 * an oversized cluster). Visits everything when `end` is the end of `s`.
 *
 * Every boundary before the last cluster is right, since the rules (UAX #29)
 * decide a boundary from the code points on either side of it and those before it.
 */
function visitAllButLast(s: string, start: number, end: number, visit: (grapheme: string) => void, cutOversized: boolean): number {
  // Never end inside a surrogate pair: the segmenter would see a lone
  // surrogate, a control, and end the cluster before it.
  if (end < s.length && isHighSurrogate(s.charCodeAt(end - 1))) end--;
  const slice = s.slice(start, end);
  let last = '';
  for (const { segment } of segmenter.segment(slice)) {
    if (last !== '') visit(last);
    last = segment;
  }
  if (end === s.length) {
    visit(last);
    return end;
  }
  if (last.length < slice.length) return end - last.length;
  if (!cutOversized) return start;
  visit(slice); // one cluster fills a whole slice: too long to keep whole, give it out in pieces
  return end;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
