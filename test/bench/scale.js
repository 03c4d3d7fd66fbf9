/**
 * Bench case 8 (issue 12, scale): a crawl of a simulated Geminispace (servers/geminispace-sim.js,
 * 4,000 capsules and 1.6 million URLs at full size) with a page budget, killed with SIGKILL once
 * its frontier has passed a size, then resumed from its journal to the end of the budget.
 *
 * `runScale(config)` returns the figures (and the facts the resume test checks); run.js prints them
 * as case 8 rows; test/frontier-scale.test.ts runs a small version. Everything runs on loopback.
 *
 * Figures:
 * - peak RSS: the larger of the killed run's VmHWM (read from /proc just before the kill) and the
 *   resumed run's maxRSS;
 * - RSS per 100k queued URLs: (peak RSS of the run - its RSS at the first sample) / its largest
 *   frontier x 100,000: everything the process grew by, charged to the queued URLs (an upper bound);
 * - pages/s of the first run against the politeness-bound ideal min(concurrency / latency,
 *   capsules / (latency + delay)), latency being the median of sequential fetches;
 * - client CPU per page of the first run (from /proc at the kill, start-up included) against the
 *   native Node TLS loop on the same server (drivers/scale-crawl.js);
 * - resume: journal entries when killed, and the time from the resumed process's start to its
 *   first connection (its first lookup answered).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FULL } from './servers/geminispace-graph.js';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const NODE = process.execPath;

/** Full size: 4,000 capsules, 1.6M URLs, a 200,000-page budget, killed past 1,000,000 queued URLs. */
export const FULL_SCALE = Object.freeze({
  shape: FULL, addresses: ['127.0.0.20', '127.0.0.21', '127.0.0.22', '127.0.0.23'],
  maxPages: 200_000, killAtFrontier: 1_000_000, killAtRecords: Infinity, concurrency: 16, delay: 1000,
  nativeCount: 10_000, latencyCount: 200, sampleMs: 2000, heap: 'cli',
});

function startSim(config) {
  const child = spawn(NODE, [path.join(BENCH, 'servers/geminispace-sim.js'), JSON.stringify({ ...config.shape, addresses: config.addresses })], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buffered = '';
  const waiting = [];
  child.stdout.on('data', (d) => {
    buffered += d;
    let i;
    while ((i = buffered.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
      waiting.shift()?.resolve(line);
    }
  });
  child.on('exit', () => {
    for (const w of waiting.splice(0)) w.reject(new Error('the simulated Geminispace exited'));
  });
  const next = () => new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  return {
    ready: next(),
    stats: (reset = false) => {
      const line = next();
      child.kill(reset ? 'SIGUSR2' : 'SIGUSR1');
      return line;
    },
    stop: () => {
      if (child.exitCode !== null) return Promise.resolve(null);
      const line = next().catch(() => null);
      child.kill('SIGTERM');
      return line;
    },
  };
}

/** Runs the driver; `onSample(sample, child)` sees each progress line. Resolves {result, killed, hwmKiB, spill}. */
function driver(options, onSample) {
  return new Promise((resolve, reject) => {
    const child = spawn('nice', ['-n', '5', NODE, path.join(BENCH, 'drivers/scale-crawl.js'), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    const out = { killed: false, hwmKiB: null, spill: null, samples: [] };
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      pending += d;
      let i;
      while ((i = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, i);
        pending = pending.slice(i + 1);
        if (line.startsWith('P ')) {
          const sample = JSON.parse(line.slice(2));
          out.samples.push(sample);
          onSample?.(sample, child, out);
        } else stderr += `${line}\n`;
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (out.killed) return resolve(out);
      const last = stdout.trim().split('\n').pop();
      if (code !== 0) return reject(new Error(`scale driver (${options.mode}) exit ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`));
      out.result = JSON.parse(last);
      resolve(out);
    });
  });
}

/** The driver's node process (child of `nice`): its pid, read from /proc. */
function nodePid(child) {
  try {
    const kids = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
    return kids ? Number(kids.split(' ')[0]) : child.pid;
  } catch {
    return child.pid;
  }
}

/** Clock ticks per second of /proc/PID/stat times (USER_HZ: 100 on Linux everywhere in practice). */
const CLOCK_TICKS = 100;

/** CPU ms so far (user + system), peak RSS (KiB) and the frontier spill file (size, if open) of a running process, from /proc. */
function inspect(pid) {
  const out = { hwmKiB: null, spill: null, cpuMs: null };
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS; // utime + stime

    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) out.hwmKiB = Number(m[1]);
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (/frontier-\d+-[0-9a-f]+\.spill/.test(link)) out.spill = { path: link, bytes: fs.statSync(`/proc/${pid}/fd/${fd}`).size };
      } catch {
        // that descriptor (a socket, mostly) closed since the listing: the others are still looked at
      }
    }
  } catch {
    // the process ended meanwhile
  }
  return out;
}

/** Counts lines of a file, and its `{"r"` lines' URLs (distinct and total), `{"r"` lines with attempts > 0. */
function journalFacts(file) {
  const text = fs.readFileSync(file);
  let entries = 0;
  for (let i = text.indexOf(10); i >= 0; i = text.indexOf(10, i + 1)) entries++;
  return { entries, bytes: text.length };
}

function recordFacts(file) {
  const urls = new Set();
  let records = 0;
  let fetched = 0;
  let incomplete = 0;
  const data = fs.readFileSync(file, 'utf8');
  let start = 0;
  for (;;) {
    const nl = data.indexOf('\n', start);
    if (nl < 0) break;
    if (data.startsWith('{"r"', start)) {
      const r = JSON.parse(data.slice(start, nl)).r;
      records++;
      urls.add(r.url);
      if (r.attempts > 0) fetched++;
      if (r.attempts > 0 && !r.complete) incomplete++;
    }
    start = nl + 1;
  }
  return { records, distinctRecords: urls.size, fetched, incomplete };
}

/**
 * Runs case 8 with `config` (FULL_SCALE by default, any field overridable); `log` gets progress.
 * The state directory is removed at the end unless `keepState`.
 */
export async function runScale(overrides = {}, log = () => {}) {
  const config = { ...FULL_SCALE, ...overrides, shape: { ...FULL_SCALE.shape, ...overrides.shape } };
  const stateDir = config.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gemfetch-scale-'));
  const sim = startSim(config);
  try {
    const { port } = await sim.ready;
    const base = { shape: config.shape, addresses: config.addresses, port };
    log(`simulated Geminispace: ${config.shape.hosts} capsules x ${config.shape.pages + 1} URLs on ${config.addresses.join(', ')}:${port}`);
    const latency = (await driver({ ...base, mode: 'latency', count: config.latencyCount })).result.medianMs;
    const native = (await driver({ ...base, mode: 'native', count: config.nativeCount, concurrency: config.concurrency })).result;
    log(`latency ${latency.toFixed(2)} ms; native loop ${(native.count / native.seconds).toFixed(0)} pages/s`);
    const crawlOptions = { ...base, mode: 'crawl', stateDir, maxPages: config.maxPages, concurrency: config.concurrency, delay: config.delay, sampleMs: config.sampleMs, heap: config.heap };
    const before = await sim.stats(true); // the latency and native runs' requests are forgotten
    // Run 1: until the frontier passes killAtFrontier (or killAtRecords records), then SIGKILL.
    const first = await driver(crawlOptions, (sample, child, out) => {
      if (out.killed || (sample.frontier < config.killAtFrontier && sample.records < config.killAtRecords)) return;
      const pid = nodePid(child);
      Object.assign(out, inspect(pid), { killedAt: sample });
      out.killed = true;
      process.kill(pid, 'SIGKILL');
      log(`killed at ${sample.records} records, frontier ${sample.frontier}`);
    });
    if (!first.killed) throw new Error(`the first run ended before its frontier reached ${config.killAtFrontier} (largest: ${Math.max(...first.samples.map((s) => s.frontier))})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const atKill = await sim.stats();
    const journal = journalFacts(path.join(stateDir, 'journal.ndjson'));
    log(`journal: ${journal.entries} entries, ${(journal.bytes / 2 ** 20).toFixed(0)} MiB`);
    // Run 2: resume to the end of the budget.
    const second = await driver({ ...crawlOptions, resume: true }, (sample, child, out) => {
      if (out.spill === null) out.spill = inspect(nodePid(child)).spill;
    });
    const after = await sim.stop();
    const records = recordFacts(path.join(stateDir, 'journal.ndjson'));
    const s1 = first.samples;
    const firstSeconds = (first.killedAt.t - s1[0].t) / 1000;
    const firstRate = (first.killedAt.records - s1[0].records) / firstSeconds;
    const maxFrontier = (samples) => Math.max(...samples.map((s) => s.frontier));
    const grownPer100k = (peakKiB, samples) => ((peakKiB * 1024 - samples[0].rss) / maxFrontier(samples)) * 100_000;
    return {
      config: { ...config, stateDir: undefined },
      latencyMs: latency,
      native: { pagesPerSecond: native.count / native.seconds, cpuMsPerPage: (native.cpu.user + native.cpu.system) / 1000 / native.count },
      first: { killedAt: first.killedAt, hwmKiB: first.hwmKiB, cpuMsPerPage: first.cpuMs / first.killedAt.records, spill: first.spill, pagesPerSecond: firstRate, maxFrontier: maxFrontier(s1), rssPer100k: grownPer100k(first.hwmKiB ?? 0, s1), samples: s1.length },
      journal,
      resume: {
        firstFetchMs: second.result.firstFetchMs,
        resumedRecords: second.result.resumedRecords,
        records: second.result.records,
        fetched: second.result.fetched,
        seconds: second.result.seconds,
        pagesPerSecond: second.result.fetched / second.result.seconds,
        cpuMsPerPage: (second.result.cpu.user + second.result.cpu.system) / 1000 / Math.max(1, second.result.records),
        maxRssKiB: second.result.maxRSS,
        maxFrontier: maxFrontier(second.samples),
        rssPer100k: grownPer100k(second.result.maxRSS, second.samples),
        spill: second.spill,
      },
      idealPagesPerSecond: Math.min(config.concurrency / (latency / 1000), config.shape.hosts / ((latency + config.delay) / 1000)),
      peakRssKiB: Math.max(first.hwmKiB ?? 0, second.result.maxRSS),
      server: { before, atKill, after, duplicates: after.duplicates - before.duplicates, duplicatesAtKill: atKill.duplicates - before.duplicates, distinct: after.distinct - before.distinct, sniMismatch: after.sniMismatch, unknown: after.unknown },
      records,
    };
  } finally {
    await sim.stop();
    if (!config.keepState && !config.stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  }
}
