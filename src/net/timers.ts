/**
 * Time limits as gemfetch's options express them: milliseconds, where 0, a
 * negative number, NaN or Infinity mean "no limit". Node's own timers turn
 * any delay over 2^31-1 ms (Infinity included) into 1 ms; these helpers keep
 * a disabled limit from ever firing.
 */

/** Longest delay Node timers accept. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The limit in milliseconds, or Infinity when `ms` means "no limit". */
export function limitMs(ms: number): number {
  return ms > 0 && Number.isFinite(ms) ? ms : Infinity;
}

/** A delay safe to pass to setTimeout: at least 1 ms, at most 2^31-1 ms. */
export function timerDelay(ms: number): number {
  return Math.max(1, Math.min(ms, MAX_TIMER_MS));
}

/** A timer for the limit `ms`; none at all when `ms` means "no limit". */
export function startLimitTimer(ms: number, onTimeout: () => void): NodeJS.Timeout | undefined {
  const limit = limitMs(ms);
  return limit === Infinity ? undefined : setTimeout(onTimeout, timerDelay(limit));
}
