/**
 * A one-line progress display on stderr (bytes, rate, elapsed) for long
 * downloads. The caller decides whether to show it at all (only when stderr
 * is a terminal, not with -q); this class only draws, throttles and clears.
 */
import { formatBytes, formatDuration } from './units.js';

/** A terminal-like stream: what the progress line needs from stderr. */
export interface ProgressStream {
  write(text: string): unknown;
  columns?: number;
}

/** Options of {@link ProgressLine}. */
export interface ProgressOptions {
  /** Nothing is drawn before this many ms (short downloads show no progress). Default 500. */
  delayMs?: number;
  /** Minimum ms between redraws. Default 200. */
  intervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * Draws `label  12.3 MiB  1.20 MiB/s  10.2s` on one line, rewritten in place
 * with `\r` and erased with `ESC [ K`. `clear()` removes it and must be
 * called before anything else is written to the same stream.
 */
export class ProgressLine {
  readonly #stream: ProgressStream;
  readonly #label: string;
  readonly #delayMs: number;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #started: number;
  #lastDraw = -Infinity;
  #drawn = false;
  #bytes = 0;

  constructor(stream: ProgressStream, label: string, options: ProgressOptions = {}) {
    this.#stream = stream;
    this.#label = label;
    this.#delayMs = options.delayMs ?? 500;
    this.#intervalMs = options.intervalMs ?? 200;
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
  }

  /** Records that `bytes` more arrived, redrawing if it is time. */
  add(bytes: number): void {
    this.#bytes += bytes;
    const now = this.#now();
    if (now - this.#started < this.#delayMs || now - this.#lastDraw < this.#intervalMs) return;
    this.#lastDraw = now;
    this.#draw(now);
  }

  /** Erases the line if it was drawn. Idempotent. */
  clear(): void {
    if (!this.#drawn) return;
    this.#stream.write('\r\x1b[K');
    this.#drawn = false;
  }

  /** The text of the line at time `now` (without control characters). */
  text(now: number = this.#now()): string {
    const elapsed = Math.max(now - this.#started, 1);
    const rate = (this.#bytes / elapsed) * 1000;
    const line = `${this.#label}  ${formatBytes(this.#bytes)}  ${formatBytes(Math.round(rate))}/s  ${formatDuration(elapsed)}`;
    const width = (this.#stream.columns ?? 80) - 1;
    return line.length > width ? `…${line.slice(line.length - width + 1)}` : line;
  }

  #draw(now: number): void {
    this.#stream.write(`\r\x1b[K${this.text(now)}`);
    this.#drawn = true;
  }
}
