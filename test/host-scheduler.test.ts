/**
 * The 44 SLOW DOWN policy of the host scheduler: every 44 doubles the host's
 * delay up to `maxDelay`, and an integer META is only a lower bound of the
 * wait. Pure arithmetic first, then the scheduler itself with jobs that
 * report 44s (the scheduler knows nothing of sockets: the crawl and batch
 * tests cover 44 from real capsules).
 */
import { describe, expect, it } from 'vitest';
import { HostScheduler, SLOW_DOWN_FLOOR_MS, slowDownDelay, slowDownWait, type AttemptOutcome } from '../src/bulk/host-scheduler.js';

describe('slow-down arithmetic', () => {
  it('doubles the delay from a 1 s floor up to the cap', () => {
    expect(slowDownDelay(0, 60_000)).toBe(SLOW_DOWN_FLOOR_MS);
    expect(slowDownDelay(1000, 60_000)).toBe(2000);
    expect(slowDownDelay(2000, 60_000)).toBe(4000);
    expect(slowDownDelay(40_000, 60_000)).toBe(60_000);
    expect(slowDownDelay(60_000, 60_000)).toBe(60_000);
  });

  it('uses an integer META only as a lower bound of the wait', () => {
    expect(slowDownWait(4000, 1, 60_000)).toBe(4000); // META shorter than the doubled delay: the delay wins
    expect(slowDownWait(1000, 5, 60_000)).toBe(5000); // META longer: it is honoured
    expect(slowDownWait(1000, 86_400, 60_000)).toBe(60_000); // but capped
    expect(slowDownWait(2000, undefined, 60_000)).toBe(2000);
  });
});

/** Runs jobs of one host that answer `outcomes` in turn; resolves with each attempt's start time. */
async function runHost(policy: ConstructorParameters<typeof HostScheduler>[0], outcomes: AttemptOutcome[]): Promise<{ starts: number[]; ends: number[]; delays: number[] }> {
  const scheduler = new HostScheduler(policy);
  const starts: number[] = [];
  const ends: number[] = [];
  const delays: number[] = [];
  await new Promise<void>((resolve, reject) => {
    scheduler.submit({
      hostKey: 'h',
      run: async (attempt) => {
        starts.push(Date.now());
        delays.push(scheduler.hostStatus('h')!.delay);
        const outcome = outcomes[attempt - 1]!;
        ends.push(Date.now());
        if (!outcome.retry) setImmediate(resolve);
        return outcome;
      },
      setAside: () => reject(new Error('set aside')),
    });
  });
  delays.push(scheduler.hostStatus('h')!.delay);
  return { starts, ends, delays };
}

const slowDown = (seconds?: number): AttemptOutcome => ({ contacted: true, health: 'slow-down', retry: true, ...(seconds !== undefined ? { slowDownSeconds: seconds } : {}) });
const ok: AttemptOutcome = { contacted: true, health: 'ok', retry: false };

describe('HostScheduler and 44', () => {
  it('doubles the host delay at each 44 (1 s, 2 s, then the 2.5 s cap) and waits that long', async () => {
    const { starts, ends, delays } = await runHost({ delay: 0, maxDelay: 2500 }, [slowDown(), slowDown(), slowDown(), ok]);
    expect(delays).toEqual([0, 1000, 2000, 2500, 2500]);
    // timers may fire a little late on a loaded machine, never early (5 ms of clock granularity allowed)
    expect(starts[1]! - ends[0]!).toBeGreaterThanOrEqual(995);
    expect(starts[2]! - ends[1]!).toBeGreaterThanOrEqual(1995);
    expect(starts[3]! - ends[2]!).toBeGreaterThanOrEqual(2495);
  }, 30_000);

  it('does not let a short integer META cut the doubled delay', async () => {
    // delay 800 ms: a 44 with META 1 doubles it to 1600 ms; waiting only the 1 s of META would be too soon
    const { starts, ends, delays } = await runHost({ delay: 800 }, [slowDown(1), ok]);
    expect(delays).toEqual([800, 1600, 1600]);
    expect(starts[1]! - ends[0]!).toBeGreaterThanOrEqual(1595);
  }, 30_000);

  it('waits for a longer integer META, and still doubles the delay', async () => {
    const { starts, ends, delays } = await runHost({ delay: 0 }, [slowDown(2), ok]);
    expect(delays).toEqual([0, 1000, 1000]);
    expect(starts[1]! - ends[0]!).toBeGreaterThanOrEqual(1995);
  }, 30_000);
});

describe('HostScheduler with a delay past the timer range', () => {
  it('waits: no TimeoutOverflowWarning, no timer firing at once over and over, the next job not started', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.name);
    };
    process.on('warning', onWarning);
    const scheduler = new HostScheduler({ delay: 30 * 24 * 3600 * 1000 }); // 30 days: more than 2^31-1 ms
    let runs = 0;
    let pumps = 0;
    const pump = scheduler.pump.bind(scheduler);
    scheduler.pump = () => {
      pumps++;
      pump();
    };
    try {
      for (let i = 0; i < 2; i++) scheduler.submit({ hostKey: 'h', run: async () => (runs++, ok), setAside: () => {} });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(runs).toBe(1);
      expect(warnings).not.toContain('TimeoutOverflowWarning');
      expect(pumps).toBeLessThan(10); // a 1 ms timer would have pumped about 300 times
    } finally {
      scheduler.stop();
      process.off('warning', onWarning);
    }
  });
});
