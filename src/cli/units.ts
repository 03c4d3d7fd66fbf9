/**
 * Human units for sizes and durations on the command line, and their display.
 */
import { UsageError } from './usage-error.js';

const SIZE_SUFFIXES: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

const DURATION_SUFFIXES: Readonly<Record<string, number>> = {
  '': 1000,
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
};

/**
 * Parses a size: a non-negative number with an optional binary suffix
 * (`K`, `M`, `G`, also `KB`/`KiB`..., case-insensitive; `B` or none = bytes).
 * `10M` is 10 485 760. Fractions are allowed (`1.5K` = 1536) and rounded down
 * to whole bytes.
 * @throws UsageError naming the value (and `option`, when given) when it does not parse.
 */
export function parseSize(text: string, option?: string): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text);
  const factor = match ? SIZE_SUFFIXES[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    const why = `${JSON.stringify(text)} is not a number of bytes with an optional K, M or G suffix (e.g. 500K, 10M)`;
    throw option === undefined ? new UsageError(`invalid size ${why}`) : new UsageError(why, { what: 'invalid size', which: option });
  }
  return Math.floor(Number(match[1]) * factor);
}

/**
 * Parses a duration into milliseconds: a non-negative number with an optional
 * unit `ms`, `s`, `m` (or `min`), `h`; a plain number means seconds
 * (`1.5` = 1500 ms, `500ms` = 500, `2m` = 120 000).
 * @throws UsageError naming the value (and `option`, when given) when it does not parse.
 */
export function parseDuration(text: string, option?: string): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text);
  const factor = match ? DURATION_SUFFIXES[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    if (option !== undefined) {
      throw new UsageError(`${JSON.stringify(text)} is not a number of seconds or a number with ms, s, m or h (e.g. 30s, 500ms, 2m)`, { what: 'invalid duration', which: option });
    }
    throw new UsageError(`invalid duration ${JSON.stringify(text)}: expected a number of seconds or a number with ms, s, m or h (e.g. 30s, 500ms, 2m)`);
  }
  return Number(match[1]) * factor;
}

/** Formats a byte count for humans: `512 B`, `1.5 KiB`, `10.0 MiB`, `2.00 GiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/**
 * Formats a size the way the user can type it back: whole multiples of a unit
 * as `10M`, `500K`, `2G`, anything else in bytes (`1000`).
 */
export function formatSizeOption(bytes: number): string {
  for (const [suffix, factor] of [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${suffix}`;
  }
  return String(bytes);
}

/** Formats milliseconds for humans the way options take them: `850ms`, `1.5s`, `30s`, `2m05s`, `1h05m`; `unlimited` for Infinity. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return 'unlimited';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) {
    const seconds = ms / 1000;
    return Number.isInteger(seconds) ? `${seconds}s` : `${seconds.toFixed(1)}s`;
  }
  const totalSeconds = Math.round(ms / 1000);
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  if (minutes < 60) return `${minutes}m${String(seconds).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
