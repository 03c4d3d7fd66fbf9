/**
 * The record of a URL a bulk run (`batch`, `crawl`, `survey`) was interrupted
 * on: every URL it had taken in still gets one, so nothing read is lost, and
 * its `error.code` is `ERR_ABORTED` so it never passes for a real outcome.
 */
import { AbortError } from '../errors.js';
import { errorRecord, type FetchRecord } from '../net/record.js';

/**
 * Turns the outcome of a URL cut short by the run's abort into its record, in
 * place when `last` is given (a record the run owns, not yet handed out):
 * - no attempt made (`last` undefined): an `ERR_ABORTED` record, 0 bytes;
 * - an attempt the abort ended (`termination: 'aborted'`, or no header yet):
 *   its fields (status, meta, `bytes` received, hash of those bytes) are kept
 *   and `error` says `ERR_ABORTED` and how many bytes arrived;
 * - `waitingToRetry`: the last attempt was a failure to be retried: its fields
 *   are kept, `error` becomes `ERR_ABORTED` naming what it was.
 * A record that reached its own end (complete, or cut by the server, a
 * timeout or a limit) is returned as is: that is its true outcome.
 */
export function interruptedRecord(url: string, last: FetchRecord | undefined, waitingToRetry = false): FetchRecord {
  if (last === undefined) {
    const record = errorRecord(url, new AbortError({ url }));
    record.error = { code: 'ERR_ABORTED', message: `interrupted before ${url} was requested` };
    return record;
  }
  if (waitingToRetry) {
    const was = last.error ? last.error.message : `status ${last.status ?? '?'}`;
    last.error = { code: 'ERR_ABORTED', message: `interrupted while waiting to retry ${url} (last attempt: ${was})` };
    return last;
  }
  if (last.termination === 'aborted' || last.error?.code === 'ERR_ABORTED') {
    const received = last.status === null ? 'before its response header' : `after ${last.bytes} body bytes, incomplete`;
    last.complete = false;
    last.error = { code: 'ERR_ABORTED', message: `interrupted ${received}: ${url}` };
  }
  return last;
}

/** Whether the run's abort is what ended this attempt (rather than its own outcome). */
export function cutByAbort(record: FetchRecord): boolean {
  return !record.complete && (record.termination === 'aborted' || record.error?.code === 'ERR_ABORTED');
}
