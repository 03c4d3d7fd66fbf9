/**
 * Terminal rendering of text/gemini documents, one source line at a time so
 * streamed (even endless) responses can be shown as they arrive.
 */

import { GemtextParser, splitLines, type GemtextLine } from '../protocol/gemtext.js';
import { displayWidth, sanitizeForTerminal, wrapSpans, type LineSpan } from './terminal-text.js';

/** Options of {@link GemtextRenderer} and {@link renderGemtext}. */
export interface RenderOptions {
  /** Terminal width in columns that wrapped lines must fit (preformatted lines are never wrapped). */
  width: number;
  /** Emit ANSI SGR styling (bold headings, coloured link numbers...). No escape codes at all when false. */
  color: boolean;
  /** URL of the document: when given, link targets are shown absolute (WHATWG resolution). */
  baseUrl?: string;
}

const SGR_RESET = '\x1b[0m';
const STYLE = {
  heading1: '\x1b[1;4;36m',
  heading2: '\x1b[1;36m',
  heading3: '\x1b[1m',
  linkNumber: '\x1b[1;36m',
  linkTarget: '\x1b[2m',
  quotePrefix: '\x1b[2m',
  altText: '\x1b[2;3m',
} as const;

const LINK_ARROW = '⟶';
const BULLET = '•';

/** A style applied to `[start, end)` of a block's text. */
interface StyleSpan extends LineSpan {
  sgr: string;
}

/** How one logical line is laid out: its text, prefixes and styles. */
interface Block {
  text: string;
  firstPrefix: string;
  restPrefix: string;
  prefixStyle?: string;
  spans: StyleSpan[];
  /** Where the text that must never be broken (a link target) begins; none when absent. */
  unbreakableFrom?: number;
}

/**
 * Streaming renderer of text/gemini for a terminal.
 *
 * Guarantees:
 * - every piece of server text (text, headings, list items, quotes, link labels
 *   and URLs, preformatted lines, alt text) goes through
 *   {@link sanitizeForTerminal} before output, so the only escape codes in the
 *   output are the renderer's own SGR codes, and only when `color` is true;
 *   every styled run is reset before its line ends;
 * - each source line renders on its own (short lines are never joined); wrapped
 *   lines fit `width` columns (see `wrapText` for the one exception), except a
 *   link target wider than the line, which overflows it;
 * - rendering takes time linear in the length of the line, however long its
 *   words (see ./graphemes.ts);
 * - headings are bold when `color` (level 1 also underlined, levels 1–2 cyan),
 *   otherwise keep their `#` markers; list items get a `•` bullet and hanging
 *   indent; quotes get `> ` on every wrapped line; preformatted lines are printed
 *   verbatim (not wrapped) and toggle lines print nothing, except the alt text,
 *   dimmed, when `color`;
 * - links are numbered from 1 in document order as `[N] label ⟶ target` or
 *   `[N] target` (a no-break space after the arrow keeps it with the target);
 *   the label wraps, the target is never broken, not even after a hyphen: it
 *   starts a new line when it does not fit after the label, and overflows a
 *   line it is wider than, so it can be copied whole;
 *   `target` is the URL as written, or resolved against `baseUrl` when given (so
 *   another scheme such as `https://` is always visible). The renderer never
 *   fetches anything.
 */
export class GemtextRenderer {
  readonly #options: RenderOptions;
  readonly #parser = new GemtextParser();
  readonly #links: string[] = [];

  constructor(options: RenderOptions) {
    this.#options = options;
  }

  /** Link targets in order, exactly as written in the document; `links[N - 1]` is link `[N]`. */
  get links(): string[] {
    return this.#links.slice();
  }

  /**
   * Output for one source line (without its line ending; a trailing CR is
   * ignored): zero or more physical lines, each ending with `"\n"`. An empty
   * source line gives `"\n"`.
   */
  renderLine(line: string): string {
    return this.#render(this.#parser.parseLine(line));
  }

  /**
   * Output to write after the last line. Every line is self-contained (styles are
   * reset per line, toggles print nothing), so this is currently always `""`,
   * even for an unterminated preformatted block; call it anyway.
   */
  finish(): string {
    return '';
  }

  #render(line: GemtextLine): string {
    switch (line.type) {
      case 'text':
        return this.#layout({ text: clean(line.text), firstPrefix: '', restPrefix: '', spans: [] });
      case 'heading':
        return this.#layout(this.#headingBlock(line.level, clean(line.text)));
      case 'list':
        return this.#layout({ text: clean(line.text), firstPrefix: `${BULLET} `, restPrefix: '  ', spans: [] });
      case 'quote':
        return this.#layout({
          text: clean(line.text),
          firstPrefix: '> ',
          restPrefix: '> ',
          prefixStyle: STYLE.quotePrefix,
          spans: [],
        });
      case 'link':
        return this.#layout(this.#linkBlock(line.url, line.label));
      case 'preformat-start': {
        const alt = clean(line.alt);
        return this.#options.color && alt !== '' ? `${styled(alt, STYLE.altText)}\n` : '';
      }
      case 'preformatted':
        return `${sanitizeForTerminal(line.text)}\n`;
      case 'preformat-end':
        return '';
    }
  }

  #headingBlock(level: 1 | 2 | 3, text: string): Block {
    if (!this.#options.color) {
      const marker = `${'#'.repeat(level)} `;
      return { text, firstPrefix: marker, restPrefix: ' '.repeat(marker.length), spans: [] };
    }
    const sgr = level === 1 ? STYLE.heading1 : level === 2 ? STYLE.heading2 : STYLE.heading3;
    return { text, firstPrefix: '', restPrefix: '', spans: [{ start: 0, end: text.length, sgr }] };
  }

  #linkBlock(url: string, rawLabel: string): Block {
    this.#links.push(url);
    const number = `[${this.#links.length}] `;
    const target = clean(this.#displayTarget(url));
    const label = clean(rawLabel).trim();
    // The no-break space keeps the arrow on the same line as the target.
    const text = label === '' ? target : `${label} ${LINK_ARROW}\u00a0${target}`;
    const targetStart = label === '' ? 0 : label.length + 1;
    return {
      text,
      firstPrefix: number,
      restPrefix: ' '.repeat(number.length),
      prefixStyle: STYLE.linkNumber,
      spans: [{ start: targetStart, end: text.length, sgr: STYLE.linkTarget }],
      unbreakableFrom: targetStart,
    };
  }

  #displayTarget(url: string): string {
    if (this.#options.baseUrl === undefined) return url;
    try {
      return new URL(url, this.#options.baseUrl).href;
    } catch {
      return url;
    }
  }

  #layout(block: Block): string {
    const { width, color } = this.#options;
    const lines = wrapSpans(
      block.text,
      width - displayWidth(block.firstPrefix),
      width - displayWidth(block.restPrefix),
      block.unbreakableFrom,
    );
    let out = '';
    lines.forEach((span, i) => {
      const prefix = i === 0 ? block.firstPrefix : block.restPrefix;
      const shownPrefix = color && block.prefixStyle !== undefined && prefix.trim() !== ''
        ? styled(prefix, block.prefixStyle)
        : prefix;
      const body = color ? styleRange(block.text, span, block.spans) : block.text.slice(span.start, span.end);
      out += `${shownPrefix}${body}\n`;
    });
    return out;
  }
}

/** Sanitized for the terminal, TABs turned into spaces (wrapping needs one column per space). */
function clean(text: string): string {
  return sanitizeForTerminal(text).replace(/\t/g, ' ');
}

function styled(text: string, sgr: string): string {
  return text === '' ? '' : `${sgr}${text}${SGR_RESET}`;
}

/** `text[range]` with the parts covered by `spans` wrapped in their SGR codes (spans must not overlap). */
function styleRange(text: string, range: LineSpan, spans: readonly StyleSpan[]): string {
  let out = '';
  let pos = range.start;
  for (const span of [...spans].sort((a, b) => a.start - b.start)) {
    const start = Math.max(span.start, pos);
    const end = Math.min(span.end, range.end);
    if (start >= end) continue;
    out += text.slice(pos, start) + styled(text.slice(start, end), span.sgr);
    pos = end;
  }
  return out + text.slice(pos, range.end);
}

/**
 * Renders a whole text/gemini document (lines split on CRLF or LF) with a fresh
 * {@link GemtextRenderer}; same guarantees. Returns `""` for an empty document.
 */
export function renderGemtext(text: string, options: RenderOptions): string {
  const renderer = new GemtextRenderer(options);
  return splitLines(text).map((line) => renderer.renderLine(line)).join('') + renderer.finish();
}
