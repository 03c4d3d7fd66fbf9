/**
 * What the library's batch() and survey() accept as their list of URLs: an
 * iterable or async iterable of strings. A string itself (iterable one
 * character at a time) and non-iterables are refused with ERR_INVALID_OPTION;
 * an element that is not a string gets a record with ERR_INVALID_URL. No
 * network: nothing here is a URL that could be fetched.
 */
import { describe, expect, it } from 'vitest';
import { batch } from '../src/bulk/batch.js';
import { survey } from '../src/bulk/survey.js';
import { InvalidOptionError } from '../src/errors.js';

async function drain<T>(records: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const record of records) out.push(record);
  return out;
}

describe('the URL list of batch() and survey()', () => {
  // Without the check, batch('gemini://host/') gave one record per character ("g", "e", ...); survey(5) threw a bare TypeError.
  it.each([
    ['batch', (urls: unknown): AsyncIterable<unknown> => batch(urls as string[])],
    ['survey', (urls: unknown): AsyncIterable<unknown> => survey(urls as string[])],
  ])('%s refuses a string, null and a number with ERR_INVALID_OPTION', async (name, run) => {
    const what = name === 'batch' ? 'batch urls' : 'survey hosts';
    for (const [urls, got] of [
      // NUL characters: without the check, each becomes a URL that is refused before any lookup (no traffic)
      ['\0\0\0', 'a string: put one URL in an array'],
      [null, 'null'],
      [5, 'a number'],
    ] as const) {
      const err = await drain(run(urls)).catch((e: unknown) => e);
      expect(err, String(urls)).toBeInstanceOf(InvalidOptionError);
      expect((err as InvalidOptionError).code).toBe('ERR_INVALID_OPTION');
      expect((err as Error).message).toBe(`${what} must be an iterable or async iterable of URL strings (got ${got})`);
    }
  });

  // Without the fix: batch records said ERR_INTERNAL "input.startsWith is not a function"; survey threw "raw.trim is not a function".
  it('an element that is not a string gets its record with ERR_INVALID_URL, in batch and survey', async () => {
    const records = await drain(batch([5, null] as unknown as string[]));
    expect(records.map((r) => [r.url, r.error?.code, r.error?.message])).toEqual([
      [5, 'ERR_INVALID_URL', 'invalid gemini URL 5: not a string (a number)'],
      [null, 'ERR_INVALID_URL', 'invalid gemini URL null: not a string (a null)'],
    ]);
    const surveyed = await drain(survey([5] as unknown as string[]));
    expect(surveyed).toHaveLength(1);
    expect(surveyed[0]!.root.error).toEqual({ code: 'ERR_INVALID_URL', message: 'invalid gemini URL 5: not a string (a number)' });
  });
});
