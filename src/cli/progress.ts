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

/**
 * The hosts of a bulk run (batch, crawl, survey) waiting after a 44 (slow
 * down), for the status line: without it, a run held up by 44 answers shows
 * a falling rate and no reason. Holds one entry per host still waiting;
 * entries whose wait is over are dropped on every call.
 */
export class SlowDownWaits {
  readonly #until = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** `hostKey` answered 44 and may not be asked again for `waitMs` ms (the HostPolicy `onSlowDown` callback). */
  note(hostKey: string, waitMs: number): void {
    this.#prune();
    this.#until.set(hostKey, this.#now() + Math.max(0, waitMs));
  }

  /** Hosts still waiting. */
  get waiting(): number {
    this.#prune();
    return this.#until.size;
  }

  /**
   * `44: 1 host waiting 12s` or `44: 3 hosts waiting, longest 40s` (seconds
   * rounded up); empty when no host waits.
   */
  text(): string {
    this.#prune();
    if (this.#until.size === 0) return '';
    const now = this.#now();
    const longest = Math.max(...this.#until.values()) - now;
    const seconds = `${Math.ceil(longest / 1000)}s`;
    return this.#until.size === 1 ? `44: 1 host waiting ${seconds}` : `44: ${this.#until.size} hosts waiting, longest ${seconds}`;
  }

  #prune(): void {
    const now = this.#now();
    for (const [host, until] of this.#until) if (until <= now) this.#until.delete(host);
  }
}
