/**
 * A host that answers 44 (slow down) to everything, forever: the run must
 * still end within a bound that does not grow with the number of its URLs.
 * Each URL is retried `slowDownRetries` times; after `maxSlowDowns` 44s in a
 * row the host is set aside (its other URLs get ERR_HOST_SET_ASIDE records,
 * no request). Short `maxDelay` so the waits are short; nothing here times
 * the machine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawl, type CrawlRecord } from '../src/bulk/crawl.js';
import { DEFAULT_MAX_SLOW_DOWNS, ERR_HOST_SET_ASIDE, HostScheduler, type AttemptOutcome } from '../src/bulk/host-scheduler.js';
import { startGeminispace, type Geminispace } from './support/geminispace.js';

const slowDown: AttemptOutcome = { contacted: true, health: 'slow-down', retry: true };

/** Submits `jobs` jobs of one host whose every attempt answers `answer(attempt)`; resolves with the attempts run and the set-aside reasons. */
function runJobs(policy: ConstructorParameters<typeof HostScheduler>[0], jobs: number, answer: (attempt: number, run: number) => AttemptOutcome): Promise<{ runs: number; reasons: string[]; finished: number }> {
  const scheduler = new HostScheduler(policy);
  let runs = 0;
  let finished = 0;
  const reasons: string[] = [];
  for (let i = 0; i < jobs; i++) {
    scheduler.submit({
      hostKey: 'h',
      run: async (attempt) => {
        const outcome = answer(attempt, ++runs);
        const retry = outcome.retry && attempt <= 5; // slowDownRetries 5
        if (!retry) finished++;
        return { ...outcome, retry };
      },
      setAside: (reason) => void reasons.push(reason),
    });
  }
  return scheduler.idle().then(() => ({ runs, reasons, finished }));
}

describe('a host answering 44 forever', () => {
  it('is set aside after maxSlowDowns 44s in a row: the rest of its jobs are set aside, not run', async () => {
    expect(DEFAULT_MAX_SLOW_DOWNS).toBe(12);
    const r = await runJobs({ delay: 0, maxDelay: 5 }, 10, () => slowDown);
    expect(r.runs).toBe(12); // two jobs of 6 attempts (1 + slowDownRetries)
    expect(r.finished).toBe(2);
    expect(r.reasons).toHaveLength(8);
    expect(r.reasons[0]).toBe('host h set aside after 12 consecutive 44 (slow down) answers');
  }, 60_000);

  it('counts only 44s in a row: an answer between them starts the count again', async () => {
    // every 6th request is answered: never 12 44s in a row, so every job runs
    const r = await runJobs({ delay: 0, maxDelay: 5, maxSlowDowns: 12 }, 10, (_a, run) => (run % 6 === 0 ? { contacted: true, health: 'ok', retry: false } : slowDown));
    expect(r.reasons).toEqual([]);
    expect(r.finished).toBe(10);
  }, 60_000);

  it('maxSlowDowns 0 never sets a host aside for 44s', async () => {
    const r = await runJobs({ delay: 0, maxDelay: 2, maxSlowDowns: 0 }, 4, () => slowDown);
    expect(r.runs).toBe(24);
    expect(r.reasons).toEqual([]);
  }, 60_000);

  describe('in a crawl', () => {
    let space: Geminispace;
    const LINKS = 20;
    beforeAll(async () => {
      const answer44 = { header: '44 go away' };
      const slowPages = Object.fromEntries(['/robots.txt', ...Array.from({ length: LINKS }, (_, i) => `/p${i}`)].map((p) => [p, answer44]));
      space = await startGeminispace([
        { name: 'slow', pages: slowPages }, // robots.txt included: every path answers 44
        { name: 'hub', pages: { '/': { body: Array.from({ length: LINKS }, (_, i) => `=> {{slow}}/p${i}\n`).join('') } } },
      ]);
    });
    afterAll(async () => {
      await space?.close();
    });

    it('ends: the slow host gets at most maxSlowDowns requests, every URL of it a record', async () => {
      const slow = space.get('slow');
      const records: CrawlRecord[] = [];
      for await (const r of crawl([space.get('hub').url('/')], { scope: 'all', delay: 0, maxDelay: 5, requestOptions: { trust: 'insecure', idleTimeout: 5000, totalTimeout: 20_000 } })) records.push(r);
      const slowRecords = records.filter((r) => r.url.startsWith(slow.url('')));
      expect(slowRecords).toHaveLength(LINKS);
      expect(slow.log.length).toBeLessThanOrEqual(DEFAULT_MAX_SLOW_DOWNS);
      expect(slow.log.length).toBeGreaterThanOrEqual(6);
      const setAside = slowRecords.filter((r) => r.error?.code === ERR_HOST_SET_ASIDE);
      expect(setAside.length).toBeGreaterThanOrEqual(LINKS - 2);
      expect(setAside[0]!.attempts).toBe(0);
      expect(setAside[0]!.error!.message).toContain('consecutive 44 (slow down) answers');
    }, 120_000);
  });
});
