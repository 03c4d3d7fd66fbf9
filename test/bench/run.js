#!/usr/bin/env node
/**
 * gemfetch benchmarks (issue 5; case 7: issue 9; case 8: issue 12): `npm run bench [-- --quick] [-- --only 1,2,4] [-- --runs N]`.
 * Case 8 (crawl at scale, several minutes at full size) runs only when named (`--only 8`); its size
 * is `--scale-hosts N --scale-pages N --scale-links N --scale-budget N --scale-kill-at N` (default:
 * 4,000 capsules x 400 pages, 200,000-page budget, killed past 1,000,000 queued URLs; --quick:
 * 400 capsules x 100 pages, 8,000 pages, killed past 20,000); the crawler's heap growth is held as
 * `gemfetch crawl` holds it, or left to V8 with `--scale-heap v8`.
 *
 * Starts its own servers on loopback (molly-brown, and test/bench/servers/fast-server.js in its
 * own process), runs each case several times with gemfetch and its baseline interleaved
 * (A B A B ...: a shared, noisy machine drifts), and prints one table of medians and ratios.
 * The same, with every sample and the machine, goes to .bench-out/results.json.
 *
 * ratio = gemfetch / baseline in the row's unit; the goal says which side of it passes
 * (`>= 0.9` for rates, `<= 1.5` for times). Rows without a goal are context.
 * Requires a built library (`npx tsc -p tsconfig.json` -> dist/).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMolly } from './servers/molly.js';
import { FULL_SCALE, runScale } from './scale.js';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, '../..');
const OUT = path.join(ROOT, '.bench-out');
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const ONLY = optionValue('--only')?.split(',');
const RUNS = Number(optionValue('--runs') ?? (QUICK ? 3 : 5));
/** Sequential runs are short: more of them, even in quick mode (case 2 is the noisiest). */
const SEQ_RUNS = Math.max(RUNS, QUICK ? 5 : 7);
const NODE = process.execPath;
const PYTHON = findPython();
const HYPERFINE = which('hyperfine');
const GEMFETCH_BIN = path.join(ROOT, 'bin/gemfetch.js');
const rows = [];
const cleanups = [];

function optionValue(name) {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The real interpreter (a pyenv shim adds tens of ms of bash to every start). */
function findPython() {
  if (fs.existsSync('/usr/bin/python3')) return '/usr/bin/python3';
  try {
    return execFileSync('pyenv', ['which', 'python3'], { encoding: 'utf8' }).trim();
  } catch {
    return which('python3');
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Runs a command, resolves {stdout, stderr, code}. */
function run(cmd, argv, { timeoutMs = 300_000, env } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? signal });
    });
  });
}

/** Runs a driver that prints one JSON line; rejects with the first line of stderr when it fails. */
async function runJson(cmd, argv, opts) {
  const { stdout, stderr, code } = await run(cmd, argv, opts);
  const line = stdout.trim().split('\n').pop();
  try {
    if (code !== 0) throw new Error();
    return JSON.parse(line);
  } catch {
    const why = stderr.split('\n').find((l) => /Error|error:/.test(l)) ?? stderr.split('\n')[0] ?? '';
    throw new Error(`exit ${code}: ${why.trim().slice(0, 160)}`);
  }
}

const gemfetchDriver = (o) => runJson(NODE, [path.join(BENCH, 'drivers/gemfetch-client.js'), JSON.stringify(o)]);
const nodeBaseline = (o) => runJson(NODE, [path.join(BENCH, 'baselines/node-client.js'), JSON.stringify(o)]);

/** Alternates a and b `runs` times; resolves {a:[...], b:[...]} of measure(result). */
async function interleave(runs, a, b) {
  const out = { a: [], b: [] };
  for (let i = 0; i < runs; i++) {
    out.a.push(await a());
    out.b.push(await b());
  }
  return out;
}

/**
 * Adds a table row. `better` is 'higher' or 'lower' (for the unit); goal is
 * {op:'>='|'<=', value} on the ratio, or {absolute: '<', value} on the gemfetch figure.
 */
function addRow(row) {
  const { gemfetch, baseline, goal, pairs } = row;
  // Interleaved runs are compared pair by pair (A_i / B_i, then the median): load on a shared
  // machine drifts over a case, and a ratio of medians taken at different moments drifts with it.
  const ratio = pairs
    ? median(pairs.a.map((x, i) => x / pairs.b[i]))
    : gemfetch != null && baseline != null && baseline !== 0 ? gemfetch / baseline : null;
  let pass = null;
  if (goal && gemfetch != null) {
    if (goal.absolute) pass = gemfetch < goal.value;
    else if (ratio != null) pass = { '>=': ratio >= goal.value, '<=': ratio <= goal.value, '<': ratio < goal.value }[goal.op];
  }
  const full = { ...row, ratio, pass, goalText: goal ? (goal.absolute ? `< ${goal.value} ${row.unit}` : `${goal.op} ${goal.value}x`) : '' };
  rows.push(full);
  process.stderr.write(`  ${formatRow(full).join('  ')}\n`);
}

function notRun(caseId, name, why, goal) {
  addRow({ case: caseId, name, unit: '', gemfetch: null, baseline: null, goal, note: `not run: ${why}` });
}

const fmt = (x) => (x == null ? '-' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));
function formatRow(r) {
  return [
    `${r.case} ${r.name}`,
    r.gemfetch == null ? '-' : `${fmt(r.gemfetch)} ${r.unit}`,
    r.baseline == null ? '-' : `${fmt(r.baseline)} ${r.unit}${r.baselineName ? ` (${r.baselineName})` : ''}`,
    r.ratio == null ? '-' : `${r.ratio.toFixed(2)}x`,
    r.goalText,
    r.pass == null ? (r.note?.startsWith('not run') ? 'n/a' : '') : r.pass ? 'PASS' : 'FAIL',
    r.note ?? '',
  ];
}

function printTable() {
  const header = ['case', 'gemfetch', 'baseline', 'ratio', 'goal', 'result', 'note'];
  const body = rows.map(formatRow);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (i === 6 ? 0 : r[i].length))));
  const line = (cells) => cells.map((c, i) => (i === 6 ? c : c.padEnd(widths[i]))).join(' | ');
  console.log(line(header));
  console.log(widths.map((w, i) => '-'.repeat(i === 6 ? 4 : w)).join('-|-'));
  for (const r of body) console.log(line(r));
}

/** Starts the fast server in its own process; resolves {port, hosts, stop(): Promise<{cpu, served}>}. */
async function startFastServer(config = {}) {
  const child = spawn(NODE, [path.join(BENCH, 'servers/fast-server.js'), JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buffered = '';
  const lines = [];
  let notify;
  child.stdout.on('data', (d) => {
    buffered += d;
    let i;
    while ((i = buffered.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffered.slice(0, i)));
      buffered = buffered.slice(i + 1);
      notify?.();
    }
  });
  const next = () =>
    new Promise((resolve, reject) => {
      const check = () => (lines.length ? resolve(lines.shift()) : null);
      if (check() === null) {
        notify = check;
        child.once('exit', () => reject(new Error('fast server exited')));
      }
    });
  const ready = await next();
  let stopped;
  const stop = () => {
    stopped ??= (async () => {
      if (child.exitCode !== null) return null;
      const stats = next().catch(() => null);
      child.kill('SIGTERM');
      return stats;
    })();
    return stopped;
  };
  cleanups.push(stop);
  return { ...ready, pid: child.pid, stop };
}

// ---------------------------------------------------------------- cases

/** Case 1: one fetch as a whole process, wall time (hyperfine medians when installed). */
async function case1(molly) {
  const url = molly.url('/index.gmi');
  const [host, port] = ['localhost', String(molly.port)];
  const commands = {
    node: [NODE, path.join(BENCH, 'baselines/node-oneshot.js'), url],
    python: PYTHON ? [PYTHON, path.join(BENCH, 'baselines/python-client.py'), url] : null,
    openssl: ['sh', path.join(BENCH, 'baselines/openssl-oneshot.sh'), host, port, url],
    library: [NODE, path.join(BENCH, 'drivers/gemfetch-oneshot.js'), url],
    cli: fs.existsSync(GEMFETCH_BIN) ? [NODE, GEMFETCH_BIN, '--tofu', 'insecure', url] : null,
  };
  // The CLI must actually work before it is timed.
  let cliProblem = commands.cli ? null : 'bin/gemfetch.js does not exist yet';
  if (commands.cli) {
    const probe = await run(commands.cli[0], commands.cli.slice(1), { timeoutMs: 20_000 });
    if (probe.code !== 0 || !probe.stdout.includes('molly')) cliProblem = `CLI failed (exit ${probe.code}): ${probe.stderr.trim().split('\n')[0]?.slice(0, 120)}`;
  }
  if (cliProblem) commands.cli = null;
  const runs = QUICK ? 15 : 40;
  const times = await wholeProcessMedians(commands, runs);
  const ms = (k) => (times[k] == null ? null : times[k] * 1000);
  if (commands.cli) {
    addRow({ case: '1', name: 'one fetch, CLI (wall ms)', unit: 'ms', gemfetch: ms('cli'), baseline: ms('node'), baselineName: 'node one-shot', goal: { op: '<=', value: 1.5 } });
    if (commands.python) addRow({ case: '1', name: 'one fetch, CLI vs Python (wall ms)', unit: 'ms', gemfetch: ms('cli'), baseline: ms('python'), baselineName: 'python ssl', goal: { op: '<', value: 1 } });
  } else {
    notRun('1', 'one fetch, CLI (wall ms)', cliProblem, { op: '<=', value: 1.5 });
    notRun('1', 'one fetch, CLI vs Python (wall ms)', cliProblem, { op: '<', value: 1 });
  }
  addRow({ case: '1L', name: 'one fetch, library script (wall ms)', unit: 'ms', gemfetch: ms('library'), baseline: ms('node'), baselineName: 'node one-shot', note: 'context: library start-up without the CLI' });
  if (commands.python) addRow({ case: '1L', name: 'one fetch, library vs Python (wall ms)', unit: 'ms', gemfetch: ms('library'), baseline: ms('python'), baselineName: 'python ssl' });
  addRow({ case: '1o', name: 'one fetch, openssl s_client (wall ms)', unit: 'ms', gemfetch: ms('library'), baseline: ms('openssl'), baselineName: 'openssl s_client', note: 'context: a C client' });
  addRow({ case: '1n', name: 'node -e 0 (wall ms)', unit: 'ms', gemfetch: null, baseline: ms('nodeEmpty'), baselineName: 'node start-up alone', note: 'context' });
}

/** Median wall seconds per command key (plus `nodeEmpty`), hyperfine if installed. */
async function wholeProcessMedians(commands, runs) {
  const entries = Object.entries({ ...commands, nodeEmpty: [NODE, '-e', '0'] }).filter(([, c]) => c);
  if (HYPERFINE) {
    // hyperfine runs all of one command before the next: on a shared machine, load drifts between
    // commands. Several short hyperfine rounds interleave them; the median is over every sample.
    fs.mkdirSync(OUT, { recursive: true });
    const exportFile = path.join(OUT, 'hyperfine-case1.json');
    const quote = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
    const rounds = 5;
    const samples = Object.fromEntries(entries.map(([k]) => [k, []]));
    for (let round = 0; round < rounds; round++) {
      const { code, stderr } = await run(HYPERFINE, [
        '-N', '--warmup', '1', '--runs', String(Math.ceil(runs / rounds)), '--export-json', exportFile,
        ...entries.flatMap(([name, c]) => ['-n', name, c.map(quote).join(' ')]),
      ]);
      if (code !== 0) throw new Error(`hyperfine failed: ${stderr.slice(0, 200)}`);
      for (const r of JSON.parse(fs.readFileSync(exportFile, 'utf8')).results) samples[r.command].push(...r.times);
    }
    return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  }
  // Own repeated runs, interleaved, medians.
  const samples = Object.fromEntries(entries.map(([k]) => [k, []]));
  for (let i = 0; i < runs + 2; i++) {
    for (const [k, c] of entries) {
      const t0 = performance.now();
      await run(c[0], c.slice(1));
      if (i >= 2) samples[k].push((performance.now() - t0) / 1000);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

const rate = (r) => r.count / r.seconds;
const cpuPerFetchMs = (r) => (r.cpu.user + r.cpu.system) / 1000 / r.count;
function checkComplete(r, expected) {
  if (r.complete !== expected) throw new Error(`only ${r.complete}/${expected} responses complete (close_notify)`);
  return r;
}

/** Case 2: sequential fetches in one process. */
async function case2(fast, molly) {
  const count = QUICK ? 100 : 400;
  const body = 2048;
  const targets = [
    ['2', 'bench server', `gemini://localhost:${fast.port}/bytes/${body}`],
    ['2m', 'molly-brown', molly?.url('/index.gmi')],
  ];
  for (const [id, server, url] of targets) {
    if (!url) continue;
    const o = { mode: 'seq', url, count, warmup: 20 };
    try {
      const s = await interleave(SEQ_RUNS, async () => rate(checkComplete(await gemfetchDriver(o), count)), async () => rate(await nodeBaseline(o)));
      addRow({ case: id, name: `sequential fetches/s, ${server}`, unit: '/s', gemfetch: median(s.a), baseline: median(s.b), baselineName: 'node tls loop', goal: { op: '>=', value: 0.9 }, samples: s, pairs: s, note: 'no session resumption on either side' });
    } catch (err) {
      notRun(id, `sequential fetches/s, ${server}`, err.message, { op: '>=', value: 0.9 });
    }
  }
  // Session resumption, like for like (gemfetch's default).
  const url = targets[0][2];
  const o = { mode: 'seq', url, count, warmup: 20, resume: true };
  try {
    const s = await interleave(SEQ_RUNS, async () => rate(checkComplete(await gemfetchDriver(o), count)), async () => rate(await nodeBaseline(o)));
    addRow({ case: '2r', name: 'sequential fetches/s, session resumption', unit: '/s', gemfetch: median(s.a), baseline: median(s.b), baselineName: 'node tls loop + session', samples: s, pairs: s, note: 'gemfetch default options' });
  } catch (err) {
    notRun('2r', 'sequential fetches/s, session resumption', `gemfetch ${err.message}`);
  }
  // Context: C and Python clients on the same server.
  const stime = await run('sh', [path.join(BENCH, 'baselines/openssl-stime.sh'), `127.0.0.1:${fast.port}`, QUICK ? '2' : '4', `/bytes/${body}`]);
  const m = /(\d+) connections in ([\d.]+) real seconds/.exec(stime.stdout) ?? /(\d+) connections in ([\d.]+)s/.exec(stime.stdout);
  const nodeRef = rows.find((r) => r.case === '2')?.baseline ?? null;
  if (m) addRow({ case: '2o', name: 'openssl s_time -new conn/s (context)', unit: '/s', gemfetch: null, baseline: Number(m[1]) / Number(m[2]), baselineName: 'openssl s_time', note: `node tls loop: ${fmt(nodeRef)}/s` });
  if (PYTHON) {
    const py = await runJson(PYTHON, [path.join(BENCH, 'baselines/python-client.py'), url, String(count)]).catch(() => null);
    if (py) addRow({ case: '2p', name: 'python sequential fetches/s (context)', unit: '/s', gemfetch: rows.find((r) => r.case === '2')?.gemfetch ?? null, baseline: rate(py), baselineName: 'python ssl', note: `python saw close_notify on ${py.complete}/${py.count}` });
  }
}

/** Case 3: 16 fetches in flight: client CPU per fetch and throughput. */
async function case3(fast) {
  const count = QUICK ? 400 : 2000;
  const url = `gemini://localhost:${fast.port}/bytes/2048`;
  const base = { url, count, concurrency: 16, warmup: 20 };
  const variants = [
    ['3', 'batch()', { ...base, mode: 'batch' }],
    ['3L', 'Client.fetch x16', { ...base, mode: 'conc' }],
  ];
  for (const [id, what, o] of variants) {
    try {
      const s = await interleave(RUNS, async () => checkComplete(await gemfetchDriver(o), count), () => nodeBaseline({ ...o, mode: 'conc' }));
      const goalCpu = id === '3' ? { op: '<=', value: 1.1 } : undefined;
      const goalRate = id === '3' ? { op: '>=', value: 0.9 } : undefined;
      const cpu = { a: s.a.map(cpuPerFetchMs), b: s.b.map(cpuPerFetchMs) };
      const rates = { a: s.a.map(rate), b: s.b.map(rate) };
      addRow({ case: id, name: `16 in flight, ${what}: client CPU ms/fetch`, unit: 'ms', gemfetch: median(cpu.a), baseline: median(cpu.b), baselineName: 'node tls x16', goal: goalCpu, pairs: cpu });
      addRow({ case: id, name: `16 in flight, ${what}: fetches/s`, unit: '/s', gemfetch: median(rates.a), baseline: median(rates.b), baselineName: 'node tls x16', goal: goalRate, pairs: rates, note: 'server shares the 2 cores' });
    } catch (err) {
      notRun(id, `16 in flight, ${what}`, err.message, id === '3' ? { op: '>=', value: 0.9 } : undefined);
    }
  }
}

/** Case 4: one 100 MB body, streamed and discarded. */
async function case4(fast) {
  const size = 100 * 1024 * 1024;
  const o = { mode: 'stream', url: `gemini://localhost:${fast.port}/bytes/${size}`, warmup: 0 };
  const mbps = (r) => r.bytes / 1e6 / r.seconds;
  try {
    const s = await interleave(RUNS, async () => checkComplete(await gemfetchDriver(o), 1), () => nodeBaseline(o));
    const speeds = { a: s.a.map(mbps), b: s.b.map(mbps) };
    addRow({ case: '4', name: '100 MB body: throughput', unit: 'MB/s', gemfetch: median(speeds.a), baseline: median(speeds.b), baselineName: 'node tls', goal: { op: '>=', value: 0.85 }, pairs: speeds });
    addRow({ case: '4', name: '100 MB body: peak RSS', unit: 'MB', gemfetch: median(s.a.map((r) => r.maxRSS / 1024)), baseline: median(s.b.map((r) => r.maxRSS / 1024)), baselineName: 'node tls', note: 'whole process' });
  } catch (err) {
    notRun('4', '100 MB body', err.message, { op: '>=', value: 0.85 });
  }
}

/** Case 5: a 1 GB body streamed to a file: peak RSS. */
async function case5(fast) {
  const size = 1024 * 1024 * 1024;
  const url = `gemini://localhost:${fast.port}/bytes/${size}`;
  const file = path.join(os.tmpdir(), `gemfetch-bench-${process.pid}.bin`);
  cleanups.push(() => fs.rmSync(file, { force: true }));
  const o = { mode: 'file', url, file };
  const runs = QUICK ? 1 : 3;
  try {
    // Quick mode skips the native run: the goal is absolute.
    const s = await interleave(runs, async () => checkComplete(await gemfetchDriver(o), 1), () => (QUICK ? null : nodeBaseline(o)));
    const b = s.b.filter(Boolean);
    const mbps = (r) => r.bytes / 1e6 / r.seconds;
    addRow({
      case: '5', name: '1 GB to a file, library: peak RSS', unit: 'MB', gemfetch: median(s.a.map((r) => r.maxRSS / 1024)),
      baseline: b.length ? median(b.map((r) => r.maxRSS / 1024)) : null, baselineName: 'node tls', goal: { absolute: '<', value: 100 },
      note: `gemfetch ${fmt(median(s.a.map(mbps)))} MB/s${b.length ? `, node ${fmt(median(b.map(mbps)))} MB/s` : ' (quick: no native run)'}`,
    });
  } catch (err) {
    notRun('5', '1 GB to a file, library: peak RSS', err.message, { absolute: '<', value: 100 });
  }
  // The CLI writing to a file through stdout, peak RSS from GNU time.
  const time = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
  if (!fs.existsSync(GEMFETCH_BIN) || !time) {
    notRun('5c', '1 GB to a file, CLI: peak RSS', fs.existsSync(GEMFETCH_BIN) ? '/usr/bin/time missing' : 'bin/gemfetch.js does not exist yet', { absolute: '<', value: 100 });
    return;
  }
  const res = await run(time, ['-f', 'MAXRSS %M', 'sh', '-c', `exec "$0" "$1" --tofu insecure "$2" > "$3"`, NODE, GEMFETCH_BIN, url, file]);
  const rss = /MAXRSS (\d+)/.exec(res.stderr);
  const written = fs.existsSync(file) ? fs.statSync(file).size : 0;
  if (res.code !== 0 || !rss || written < size) notRun('5c', '1 GB to a file, CLI: peak RSS', `CLI exit ${res.code}, ${written} bytes written: ${res.stderr.split('\n')[0]?.slice(0, 100)}`, { absolute: '<', value: 100 });
  else addRow({ case: '5c', name: '1 GB to a file, CLI: peak RSS', unit: 'MB', gemfetch: Number(rss[1]) / 1024, baseline: null, goal: { absolute: '<', value: 100 } });
}

/** Case 6: crawl of 200 capsules x 50 pages, 50 ms server delay, one connection per host. */
async function case6() {
  const capsules = 200;
  const pages = QUICK ? 10 : 50;
  const delay = 50;
  const goal = { op: '>=', value: 0.8 };
  const name = `crawl ${capsules}x${pages} pages, ${delay} ms delay: pages/s`;
  if (!fs.existsSync(path.join(ROOT, 'dist/bulk/crawl.js'))) {
    notRun('6', name, 'crawl() is not built yet (dist/bulk/crawl.js missing)', goal);
    return;
  }
  const hosts = Array.from({ length: capsules }, (_, i) => `127.0.0.${i + 2}`);
  // Latency: a fetch without the delay (same TLS, same page size), median of sequential fetches.
  const quick = await startFastServer({ hosts: [hosts[0]], delay: 0, pages });
  const lat = await gemfetchDriver({ mode: 'seq', url: `gemini://${hosts[0]}:${quick.port}/p/1`, count: 100, warmup: 10 });
  await quick.stop();
  const latency = lat.seconds / lat.count;
  const ideal = capsules / (latency + delay / 1000);
  const cpuShare = (cpu, seconds) => `${fmt(((cpu.user + cpu.system) / 1e6 / seconds) * 100)}%`;

  let server = await startFastServer({ hosts, delay, pages });
  try {
    const seeds = hosts.map((h) => `gemini://${h}:${server.port}/`);
    const r = await gemfetchDriver({ mode: 'crawl', seeds, crawlOptions: { concurrency: capsules, perHost: 1, delay: 0 } });
    const stats = await server.stop();
    addRow({
      case: '6', name: `${name} vs ideal`, unit: 'pages/s', gemfetch: rate(r), baseline: ideal, baselineName: `ideal ${capsules}/(${fmt(latency * 1000)}+${delay} ms)`, goal,
      note: `${r.count} records (robots.txt: +1 delayed request per capsule), ${r.complete} complete; CPU client ${cpuShare(r.cpu, r.seconds)}, server ${stats ? cpuShare(stats.cpu, r.seconds) : '?'}`,
    });
    // Context: native Node, same politeness (one connection per host), no parsing, no robots.txt.
    server = await startFastServer({ hosts, delay, pages });
    const urls = hosts.map((h) => `gemini://${h}:${server.port}/p/1`);
    const n = await nodeBaseline({ mode: 'conc', urls, url: urls[0], concurrency: capsules, count: capsules * pages });
    const nStats = await server.stop();
    addRow({
      case: '6n', name: `${name}, native ceiling`, unit: 'pages/s', gemfetch: rate(r), baseline: rate(n), baselineName: 'node tls, 1 conn/host',
      note: `context: ideal ${fmt(ideal)}/s; native CPU client ${cpuShare(n.cpu, n.seconds)}, server ${nStats ? cpuShare(nStats.cpu, n.seconds) : '?'}`,
    });
  } catch (err) {
    await server.stop();
    notRun('6', name, err.message, goal);
  }
}

/** Case 6, memory: heap per 100k URLs queued in a crawl frontier. */
async function case6Queue(fast) {
  const name = 'crawl frontier: heap per 100k queued URLs';
  if (!fs.existsSync(path.join(ROOT, 'dist/bulk/crawl.js'))) return notRun('6q', name, 'dist/bulk/crawl.js missing');
  try {
    const links = 100_000;
    const r = await runJson(NODE, ['--expose-gc', path.join(BENCH, 'drivers/gemfetch-client.js'), JSON.stringify({ mode: 'queue', url: `gemini://127.0.0.1:${fast.port}/many/${links}` })]);
    const per100k = (bytes) => (bytes / r.queued) * 100_000 / 2 ** 20;
    addRow({ case: '6q', name, unit: 'MB', gemfetch: per100k(r.heapBytes), baseline: null, note: `${r.queued} queued; external +${fmt(per100k(r.externalBytes))} MB, RSS +${fmt(per100k(r.rssBytes))} MB per 100k` });
  } catch (err) {
    notRun('6q', name, err.message);
  }
}

/**
 * Case 7 (issue 9): rendering text/gemini for a terminal, CPU ms, against decoding and splitting
 * the same bytes (context: what any client must do). Long words must cost in proportion to their
 * length: a 1 MB word at most 2x the time of sixteen 64 KB ones (quadratic would be 16x).
 */
async function case7() {
  const name = 'render for a terminal';
  if (!fs.existsSync(path.join(ROOT, 'dist/cli/render.js'))) return notRun('7', name, 'dist/cli/render.js missing');
  try {
    const { pages } = await runJson(NODE, [path.join(BENCH, 'drivers/render.js'), JSON.stringify({ runs: RUNS })]);
    for (const p of pages) {
      addRow({ case: '7', name: `render ${p.name} (CPU ms)`, unit: 'ms', gemfetch: median(p.render), baseline: median(p.baseline), baselineName: 'decode + split lines', pairs: { a: p.render, b: p.baseline }, note: `${fmt(p.bytes / 1e6 / (median(p.render) / 1000))} MB/s` });
    }
    const ms = (label) => median(pages.find((p) => p.name === label).render);
    addRow({ case: '7L', name: 'render: 1 MB word vs 16 x 64 KB word (CPU ms)', unit: 'ms', gemfetch: ms('one 1 MB word'), baseline: 16 * ms('one 64 KB word'), baselineName: '16 x 64 KB word', goal: { op: '<=', value: 2 }, note: 'linear ~1x, quadratic ~16x' });
  } catch (err) {
    notRun('7', name, err.message);
  }
}

/** Case 8 (issue 12): crawl a simulated Geminispace, kill -9 past a frontier size, resume (test/bench/scale.js). */
async function case8() {
  const num = (name, fallback) => (optionValue(name) !== undefined ? Number(optionValue(name)) : fallback);
  const quick = QUICK ? { hosts: 400, pages: 100, budget: 8000, killAt: 20_000, native: 3000 } : {};
  const shape = { ...FULL_SCALE.shape, hosts: num('--scale-hosts', quick.hosts ?? FULL_SCALE.shape.hosts), pages: num('--scale-pages', quick.pages ?? FULL_SCALE.shape.pages), links: num('--scale-links', FULL_SCALE.shape.links) };
  const config = { shape, maxPages: num('--scale-budget', quick.budget ?? FULL_SCALE.maxPages), killAtFrontier: num('--scale-kill-at', quick.killAt ?? FULL_SCALE.killAtFrontier), nativeCount: quick.native ?? FULL_SCALE.nativeCount, heap: optionValue('--scale-heap') ?? FULL_SCALE.heap };
  const size = `${shape.hosts} capsules x ${shape.pages + 1} URLs, budget ${config.maxPages}${config.heap === 'v8' ? ", V8's own heap growth" : ''}`;
  let r;
  try {
    r = await runScale(config, (m) => process.stderr.write(`  8: ${m}\n`));
  } catch (err) {
    return notRun('8', `crawl at scale (${size})`, err.message, { absolute: '<', value: 300 });
  }
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, 'scale.json'), JSON.stringify(r, null, 2) + '\n');
  const MB = (kib) => kib / 1024;
  addRow({ case: '8', name: `crawl at scale (${size}): peak RSS`, unit: 'MB', gemfetch: MB(r.peakRssKiB), baseline: null, goal: { absolute: '<', value: 300 }, note: `killed run ${fmt(MB(r.first.hwmKiB))} MB at frontier ${r.first.killedAt.frontier}; resumed run ${fmt(MB(r.resume.maxRssKiB))} MB, frontier up to ${r.resume.maxFrontier}` });
  addRow({ case: '8m', name: 'crawl at scale: RSS growth per 100k queued URLs', unit: 'MB', gemfetch: r.first.rssPer100k / 2 ** 20, baseline: null, note: `upper bound: all growth of the process charged to the frontier; resumed run ${fmt(r.resume.rssPer100k / 2 ** 20)} MB` });
  addRow({ case: '8r', name: 'crawl at scale: pages/s vs politeness-bound ideal', unit: 'pages/s', gemfetch: r.first.pagesPerSecond, baseline: r.idealPagesPerSecond, baselineName: `min(${r.config.concurrency}/${fmt(r.latencyMs)} ms, ${shape.hosts}/(${fmt(r.latencyMs)}+${r.config.delay} ms))`, note: `native TLS loop, same concurrency, no delay: ${fmt(r.native.pagesPerSecond)} pages/s` });
  addRow({ case: '8c', name: 'crawl at scale: client CPU ms/page', unit: 'ms', gemfetch: r.first.cpuMsPerPage, baseline: r.native.cpuMsPerPage, baselineName: 'node tls loop', note: 'crawl: robots.txt, parsing, journal, frontier; native: connect, request, read' });
  addRow({ case: '8s', name: `crawl at scale: resume of ${r.journal.entries} journal entries, to first fetch`, unit: 'ms', gemfetch: r.resume.firstFetchMs, baseline: null, goal: { absolute: '<', value: 10_000 }, note: `process start to first connection; ${r.resume.resumedRecords} records, ${fmt(r.journal.bytes / 2 ** 20)} MiB journal` });
  const ok = r.server.duplicates <= r.config.concurrency && r.server.duplicatesAtKill === 0 && r.records.distinctRecords === r.records.records && r.server.distinct === r.records.fetched;
  addRow({ case: '8k', name: 'crawl at scale: kill -9 + resume, pages fetched twice', unit: 'pages', gemfetch: r.server.duplicates, baseline: null, goal: { absolute: '<', value: r.config.concurrency + 1 }, note: `${ok ? 'consistent' : 'INCONSISTENT'}: ${r.records.records} records (${r.records.distinctRecords} distinct), server served ${r.server.distinct} distinct pages` });
}

// ---------------------------------------------------------------- main

async function main() {
  if (!fs.existsSync(path.join(ROOT, 'dist/index.js'))) throw new Error('dist/ is missing: run `npx tsc -p tsconfig.json` first');
  const started = Date.now();
  const want = (id) => !ONLY || ONLY.includes(id);
  process.stderr.write(`gemfetch bench${QUICK ? ' (quick)' : ''}: ${RUNS} runs per case, node ${process.version}, ${os.cpus().length} CPUs, hyperfine ${HYPERFINE ? 'yes' : 'no'}\n`);
  if (ONLY?.length === 1 && ONLY[0] === '8') {
    // case 8 brings its own servers
    await case8();
    return finishRun(started);
  }
  const fast = await startFastServer({ hosts: ['127.0.0.1'] });
  const molly = await startMolly({ 'index.gmi': `# molly bench page\n${'=> /x a link line of a typical gemtext page\n'.repeat(40)}` });
  if (molly) cleanups.push(molly.close);
  else process.stderr.write('molly-brown not found: cases against it are skipped\n');

  if (want('1')) {
    if (molly) await case1(molly);
    else notRun('1', 'one fetch, CLI (wall ms)', 'molly-brown missing');
  }
  if (want('2')) await case2(fast, molly);
  if (want('3')) await case3(fast);
  if (want('4')) await case4(fast);
  if (want('5')) await case5(fast);
  if (want('6')) {
    await case6();
    await case6Queue(fast);
  }
  if (want('7')) await case7();
  if (ONLY?.includes('8')) await case8();
  finishRun(started);
}

function finishRun(started) {
  const seconds = (Date.now() - started) / 1000;
  printTable();
  console.log(`\n${rows.length} rows in ${seconds.toFixed(0)} s; figures are medians of ${RUNS} interleaved runs (case 2: ${SEQ_RUNS}; case 1: ${HYPERFINE ? 'hyperfine' : 'own'} medians); ratio = gemfetch / baseline, for interleaved cases the median of the run-by-run ratios.`);
  fs.mkdirSync(OUT, { recursive: true });
  const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGB: Math.round(os.totalmem() / 2 ** 30), os: `${os.type()} ${os.release()}`, node: process.version, loadavg: os.loadavg() };
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify({ date: new Date().toISOString(), quick: QUICK, runs: RUNS, seconds, machine, rows }, null, 2) + '\n');
  console.log(`results: ${path.relative(process.cwd(), path.join(OUT, 'results.json'))}`);
}

try {
  await main();
} finally {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
}
