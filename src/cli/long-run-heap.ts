/**
 * How far V8 lets the JavaScript heap grow between two full collections,
 * for `gemfetch crawl`, a run that lasts hours.
 *
 * Why: V8 sets the next full collection at the live heap times a factor it
 * picks from the machine's memory, up to 4x where that memory is large. A
 * crawl's live heap is small (its seen-set, frontier and duplicate index are
 * outside it), but it makes garbage fast, and much of that garbage holds
 * native memory (sockets, TLS state, buffers) freed only by a full
 * collection. Measured (bench case 8's capsules, a 40,000-page crawl, 24 GB
 * machine, two runs each): peak RSS 337-342 MB with V8's own choice,
 * 200-203 MB with the factor held at 1.3, for 17-34% more CPU (collector
 * time). 1.2 / 1.5 / 2.0 gave 206 / 226 / 239 MB for about the same CPU.
 *
 * The library never does this: an embedding program owns its process and
 * chooses its own heap flags (`node --heap-growing-percent=N`).
 */
import v8 from 'node:v8';

/**
 * The heap may grow by this percentage of the live heap before the next full
 * collection (V8's `--heap-growing-percent`).
 */
export const LONG_RUN_HEAP_GROWING_PERCENT = 30;

/**
 * Holds V8's heap growth at {@link LONG_RUN_HEAP_GROWING_PERCENT}, unless
 * the process was started with its own `--heap-growing-percent` (which then
 * stays as given). Returns whether the setting was applied. The flag is read
 * by V8 at each full collection, so it takes effect from the next one.
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  // V8 takes its flags with one dash or two, and - or _ between words.
  if (execArgv.some((arg) => /^--?heap[-_]growing[-_]percent(=|$)/.test(arg))) return false;
  v8.setFlagsFromString(`--heap-growing-percent=${LONG_RUN_HEAP_GROWING_PERCENT}`);
  return true;
}
