/**
 * Showing a body on a terminal as it streams: decode it with its charset
 * (incrementally, whatever the charset: see createStreamDecoder in
 * ../charset.ts), then render text/gemini or sanitize other text line by
 * line, each line as soon as it is whole. Loaded only when stdout is a
 * terminal (it pulls in the renderer).
 */
import { createStreamDecoder, type StreamDecoder } from '../protocol/charset.js';
import { GemtextRenderer } from './render.js';
import { sanitizeForTerminal } from './terminal-text.js';

/** Options of {@link TerminalBodyWriter}. */
export interface TerminalBodyOptions {
  /** Declared charset (undefined = UTF-8). */
  charset: string | undefined;
  /** Render as text/gemini (true) or show as sanitized plain text (false). */
  gemtext: boolean;
  width: number;
  color: boolean;
  /** URL of the document, to show link targets absolute. */
  baseUrl?: string;
}

/** Longest partial line held back waiting for its end, in UTF-16 units; longer ones are shown in pieces. */
const MAX_PENDING_LINE = 64 * 1024;

/**
 * Turns body chunks into terminal text. `write` and `end` return the text to
 * print (possibly empty). Nothing from the server reaches the output without
 * going through the renderer or {@link sanitizeForTerminal}: no control
 * character or escape sequence of the body is ever passed through.
 */
export class TerminalBodyWriter {
  readonly decoder: StreamDecoder;
  readonly #renderer: GemtextRenderer | undefined;
  #pending = '';

  constructor(options: TerminalBodyOptions) {
    this.decoder = createStreamDecoder(options.charset);
    this.#renderer = options.gemtext
      ? new GemtextRenderer({ width: options.width, color: options.color, ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}) })
      : undefined;
  }

  /** Link targets seen so far (gemtext only), as written. */
  get links(): string[] {
    return this.#renderer?.links ?? [];
  }

  write(chunk: Uint8Array): string {
    return this.#lines(this.decoder.write(chunk), false);
  }

  end(): string {
    const out = this.#lines(this.decoder.end(), true);
    return out + (this.#renderer?.finish() ?? '');
  }

  #lines(text: string, final: boolean): string {
    this.#pending += text;
    const parts = this.#pending.split('\n');
    this.#pending = parts.pop() ?? '';
    if (this.#pending.length > MAX_PENDING_LINE || (final && this.#pending !== '')) {
      parts.push(this.#pending);
      this.#pending = '';
    }
    let out = '';
    for (const line of parts) out += this.#line(line);
    return out;
  }

  #line(line: string): string {
    if (this.#renderer) return this.#renderer.renderLine(line);
    return `${sanitizeForTerminal(line)}\n`;
  }
}
