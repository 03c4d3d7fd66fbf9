/**
 * text/gemini ("gemtext") line classification and link extraction.
 *
 * Pure functions, no I/O. Line types follow the Gemini specification: the type of
 * a line is known from its first characters; a line starting with ```` ``` ````
 * toggles preformatted mode, inside which every line is verbatim.
 */

/** One classified gemtext line. Text is as written (not sanitized for display). */
export type GemtextLine =
  | { type: 'text'; text: string }
  | { type: 'link'; url: string; label: string }
  | { type: 'heading'; level: 1 | 2 | 3; text: string }
  | { type: 'list'; text: string }
  | { type: 'quote'; text: string }
  | { type: 'preformat-start'; alt: string }
  | { type: 'preformatted'; text: string }
  | { type: 'preformat-end' };

const PREFORMAT_TOGGLE = '```';
/** `=>`, optional spaces/tabs, the URL (no space or tab), then optional whitespace and the label. */
const LINK_LINE = /^=>[ \t]*([^ \t]*)(?:[ \t]+(.*))?$/;
const LEADING_WS = /^[ \t]+/;

/**
 * Stateful gemtext line classifier: it tracks preformatted mode across calls.
 *
 * Feed lines in document order, without their line ending (a single trailing CR
 * is tolerated and removed). Guarantees:
 * - a link's `url` is exactly as written (not resolved, angle brackets kept) and
 *   its `label` is trimmed, `''` when absent;
 * - a link line with no URL (`=>` alone or followed by whitespace) is returned as
 *   `{ type: 'text' }` holding the raw line, since it links nowhere;
 * - heading, quote and alt texts have leading whitespace removed; list text is
 *   what follows `* ` (the space is required: `*foo` is text);
 * - inside a preformatted block every line, even one starting with `=>` or `#`,
 *   is `preformatted` with its text untouched, until a line starting with
 *   ```` ``` ```` (anything after it on the closing line is ignored).
 */
export class GemtextParser {
  #preformatted = false;

  /** True between an opening and a closing preformat toggle line. */
  get inPreformatted(): boolean {
    return this.#preformatted;
  }

  /** Classifies one line and updates preformatted mode. */
  parseLine(line: string): GemtextLine {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.startsWith(PREFORMAT_TOGGLE)) {
      this.#preformatted = !this.#preformatted;
      return this.#preformatted
        ? { type: 'preformat-start', alt: line.slice(PREFORMAT_TOGGLE.length).trim() }
        : { type: 'preformat-end' };
    }
    if (this.#preformatted) return { type: 'preformatted', text: line };
    return classifyNormalLine(line);
  }
}

function classifyNormalLine(line: string): GemtextLine {
  if (line.startsWith('=>')) return parseLinkLine(line);
  if (line.startsWith('###')) return heading(3, line.slice(3));
  if (line.startsWith('##')) return heading(2, line.slice(2));
  if (line.startsWith('#')) return heading(1, line.slice(1));
  if (line.startsWith('* ')) return { type: 'list', text: line.slice(2) };
  if (line.startsWith('>')) return { type: 'quote', text: line.slice(1).replace(LEADING_WS, '') };
  return { type: 'text', text: line };
}

function heading(level: 1 | 2 | 3, rest: string): GemtextLine {
  return { type: 'heading', level, text: rest.replace(LEADING_WS, '') };
}

function parseLinkLine(line: string): GemtextLine {
  const match = LINK_LINE.exec(line);
  const url = match?.[1] ?? '';
  if (url === '') return { type: 'text', text: line };
  return { type: 'link', url, label: (match?.[2] ?? '').trim() };
}

/**
 * Splits a document into lines (CRLF or LF) and classifies them in order.
 * A final line ending does not produce an extra empty line; an empty document
 * gives `[]`.
 */
export function parseGemtext(text: string): GemtextLine[] {
  const parser = new GemtextParser();
  return splitLines(text).map((line) => parser.parseLine(line));
}

/**
 * Splits text on CRLF or LF. A trailing line ending does not start an extra
 * empty line, so `"a\n"` gives `["a"]` and `""` gives `[]`.
 */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * The links of a text/gemini document, in order, with URLs resolved against
 * `baseUrl` by the supplied `resolve(base, ref)`. Links of every scheme are kept
 * (gopher, http, mailto...): callers decide what to follow. A link whose
 * resolution throws is skipped. Lines inside preformatted blocks are not links.
 * Labels are as written (trimmed), not sanitized.
 */
export function extractLinks(
  text: string,
  baseUrl: string,
  resolve: (base: string, ref: string) => string,
): { url: string; label: string }[] {
  const links: { url: string; label: string }[] = [];
  for (const line of parseGemtext(text)) {
    if (line.type !== 'link') continue;
    let url: string;
    try {
      url = resolve(baseUrl, line.url);
    } catch {
      continue;
    }
    links.push({ url, label: line.label });
  }
  return links;
}
