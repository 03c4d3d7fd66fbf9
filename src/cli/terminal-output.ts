/**
 * Showing a body on a terminal as it streams: decode it with its charset,
 * then render text/gemini or sanitize other text line by line. Loaded only
 * when stdout is a terminal (it pulls in the renderer).
 */
import { decodeBody } from '../charset.js';
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

/** Decodes one body incrementally. */
export interface StreamDecoder {
  /** Canonical encoding used (`utf-8`, `windows-1252`, `utf-16le`...). */
  readonly encoding: string;
  /** False when the declared charset is unknown (the body is then decoded as UTF-8). */
  readonly known: boolean;
  write(chunk: Uint8Array): string;
  end(): string;
}

/** Encodings decoded from the whole body at the end (BOM and mislabelling checks, or no TextDecoder support). */
const BUFFERED_ENCODINGS = new Set(['utf-16le', 'utf-16be', 'utf-32le', 'utf-32be', 'ibm437']);

/**
 * A decoder for `charset`. UTF-8 and single-byte charsets stream through
 * TextDecoder; UTF-16/32 and code page 437 are decoded by `decodeBody` once
 * the body has ended (so its BOM and "really UTF-8" checks apply).
 * Undecodable bytes become U+FFFD; an unknown charset decodes as UTF-8.
 */
export function createStreamDecoder(charset: string | undefined): StreamDecoder {
  const probe = decodeBody(new Uint8Array(0), charset);
  if (probe.known && BUFFERED_ENCODINGS.has(probe.charset)) {
    const chunks: Uint8Array[] = [];
    return {
      encoding: probe.charset,
      known: true,
      write: (chunk) => {
        chunks.push(chunk);
        return '';
      },
      end: () => decodeBody(Buffer.concat(chunks), charset).text,
    };
  }
  const decoder = new TextDecoder(probe.known ? probe.charset : 'utf-8');
  return {
    encoding: probe.known ? probe.charset : 'utf-8',
    known: probe.known,
    write: (chunk) => decoder.decode(chunk, { stream: true }),
    end: () => decoder.decode(),
  };
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
