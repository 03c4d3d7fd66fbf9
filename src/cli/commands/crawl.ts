/**
 * `gemfetch crawl SEED...`: crawl politely, one NDJSON record per URL.
 *
 * With `--state DIR` the crawl is resumable: run the same command again after
 * an interruption (even `kill -9`). Records are journaled before they are
 * written out; `--output FILE` is appended to, and on resume it first receives
 * the journaled records it is missing (it holds a prefix of the journal's
 * records, so nothing is lost or written twice). On stdout, records of the
 * previous runs are not written again; a record journaled in the instant
 * before a kill may be missing from stdout (use --output for exactly-once).
 */
import fs from 'node:fs';
import { crawl, DEFAULT_CRAWL_MAX_BYTES, DEFAULT_CRAWL_RETRIES, DEFAULT_CRAWL_TOTAL_TIMEOUT, DEFAULT_MAX_DEPTH, StorageError, type CrawlRecord, type CrawlScope, type CrawlStats } from '../../bulk/crawl.js';
import { endOfLastLine, journalRecords, scanLines, storageError } from '../../bulk/crawl-state.js';
import type { AddressClass } from '../../net/address-class.js';
import { DEFAULT_MAX_PAGES_PER_HOST, DEFAULT_MAX_PATH_DEPTH, DEFAULT_MAX_SEGMENT_REPEATS, DEFAULT_MAX_URL_LENGTH, formatTrapCounts } from '../../bulk/trap-guards.js';
import { DirectoryLock } from '../../bulk/state-lock.js';
import { fromUserInput } from '../../protocol/url.js';
import { CRAWL_EXIT_CODE_TABLE, ExitCode } from '../exit-codes.js';
import { plain } from '../messages.js';
import { prepareDirectory } from '../output-file.js';
import { addFetchOptions, type FetchArgs } from '../fetch-options.js';
import type { Argv } from 'yargs';
import { formatDuration, formatSizeOption, parseDuration } from '../units.js';
import { parseSize } from '../units.js';
import { UsageError } from '../usage-error.js';
import { addPolitenessOptions, askedForHelp, bulkOptionsFromArgs, BulkSession, commandParser, inputLines, rate, type NdjsonOutput, type PolitenessArgs } from './bulk-cli.js';
import { limitHeapGrowth } from '../long-run-heap.js';

interface CrawlArgs extends PolitenessArgs, FetchArgs {
  _: Array<string | number>;
  scope?: CrawlScope;
  maxDepth?: number;
  maxPages?: number;
  include?: string[];
  exclude?: string[];
  robotsAgent?: string;
  ignoreRobots?: boolean;
  state?: string;
  mirror?: string;
  warc?: string;
  warcGzip?: boolean;
  maxPagesPerHost?: number;
  maxUrlLength?: number;
  maxPathDepth?: number;
  maxSegmentRepeats?: number;
  queries?: boolean;
  allowAddressClass?: string[];
  robotsTtl?: string;
}

const DEFAULT_DELAY = '1s';

/** The crawl command's parser, configured but not run (its options are listed by ../command-spec.ts). */
export function parser(argv: string[]): Argv {
  return addFetchOptions(
    addPolitenessOptions(
      commandParser(
        argv,
        'Usage: gemfetch crawl [options] SEED...\n\nFollows links from the seeds politely (robots.txt, one connection per host, a delay) and writes one JSON record per URL. --state DIR makes it resumable.',
        CRAWL_EXIT_CODE_TABLE,
      ),
      { delay: DEFAULT_DELAY, retries: DEFAULT_CRAWL_RETRIES },
    )
      .option('scope', { type: 'string', choices: ['host', 'prefix', 'all'], defaultDescription: 'host', describe: 'which links to follow: same host as a seed, under a seed\'s directory, or all' })
      .option('max-depth', { type: 'number', requiresArg: true, defaultDescription: String(DEFAULT_MAX_DEPTH), describe: 'deepest link depth (seeds are 0)' })
      .option('max-pages', { type: 'number', requiresArg: true, defaultDescription: 'no limit', describe: 'most URLs to request, resumed runs included' })
      .option('include', { type: 'string', array: true, requiresArg: true, defaultDescription: 'all in --scope', describe: 'follow only URLs matching this regular expression (repeatable)' })
      .option('exclude', { type: 'string', array: true, requiresArg: true, defaultDescription: 'none', describe: 'do not follow URLs matching this regular expression (repeatable)' })
      .option('robots-agent', { type: 'string', choices: ['researcher', 'indexer', 'archiver'], defaultDescription: 'researcher', describe: 'robots.txt virtual agent obeyed besides *' })
      .option('ignore-robots', { type: 'boolean', describe: 'do not fetch or obey robots.txt (impolite; says so on stderr)' })
      .option('state', { type: 'string', requiresArg: true, defaultDescription: 'none (not resumable)', describe: 'directory of the resumable journal, locked while the crawl runs; resuming keeps its seeds and scope (no seeds = the stored ones)' })
      .option('mirror', { type: 'string', requiresArg: true, defaultDescription: 'none', describe: 'save bodies into this directory (HOST/PATH; a cut body as NAME.partial; no symbolic links below it)' })
      .option('warc', { type: 'string', requiresArg: true, defaultDescription: 'none', describe: 'append every request and raw response (robots.txt included) to this WARC 1.1 file; FILE.gz: gzipped per record' })
      .option('warc-gzip', { type: 'boolean', describe: 'gzip each WARC record as its own member (the default when the --warc name ends in .gz)' })
      .option('robots-ttl', { type: 'string', requiresArg: true, defaultDescription: '24h', describe: 'obey a host\'s robots.txt this long, then fetch it again (kept in --state DIR, so a resumed crawl reuses it until then)' })
      .option('max-pages-per-host', { type: 'number', requiresArg: true, defaultDescription: String(DEFAULT_MAX_PAGES_PER_HOST), describe: 'trap guard: most URLs queued per host, seeds included (0 = no limit)' })
      .option('max-url-length', { type: 'number', requiresArg: true, defaultDescription: String(DEFAULT_MAX_URL_LENGTH), describe: "trap guard: do not follow links longer than this many bytes (0 = up to the protocol's 1024)" })
      .option('max-path-depth', { type: 'number', requiresArg: true, defaultDescription: String(DEFAULT_MAX_PATH_DEPTH), describe: 'trap guard: do not follow links with more path segments (0 = no limit)' })
      .option('max-segment-repeats', { type: 'number', requiresArg: true, defaultDescription: String(DEFAULT_MAX_SEGMENT_REPEATS), describe: 'trap guard: do not follow links where a run of path segments occurs more times in a row, as /a/b/a/b/a/b (0 = no limit)' })
      .option('allow-address-class', { type: 'string', array: true, requiresArg: true, choices: ['loopback', 'private', 'link-local', 'public'], defaultDescription: "the seeds' classes", describe: 'also reach hosts whose addresses are in this class (repeatable); by default a crawl reaches only the address classes of its seeds, so a public seed never leads to a loopback or private address' })
      .option('queries', { type: 'boolean', describe: 'trap guard: follow links with a query string (default: only when a seed has one; --no-queries never)' }),
    { 'max-time': `${DEFAULT_CRAWL_TOTAL_TIMEOUT / 1000}s` },
  )
    .hide('max-redirects')
    .hide('location')
    .hide('cross-host')
    .option('max-size', { type: 'string', requiresArg: true, defaultDescription: formatSizeOption(DEFAULT_CRAWL_MAX_BYTES), describe: 'stop each body after this many bytes (500K, 10M, 1G; 0 is refused: a crawl reads each body in memory)' });
}
/**
 * `gemfetch crawl ...`; resolves with the exit code: 0 when the crawl ran to
 * its end, 1 when the journal or the WARC file could not be written (the
 * message names the file; the records written out so far are kept), or when
 * a body could not be mirrored (the crawl goes on; stderr counts them and
 * names the first, each record says why in `mirrorError`).
 */
export async function run(argv: string[]): Promise<number> {
  const args = (await parser(argv).parseAsync()) as unknown as CrawlArgs;
  if (askedForHelp(argv)) return ExitCode.Ok;
  // A crawl follows no redirect itself: it queues the target as a link, under --scope.
  for (const [given, name] of [[args.maxRedirects, '--max-redirects'], [args.location, args.location === false ? '--no-location' : '-L/--location'], [args.crossHost, args.crossHost === false ? '--no-cross-host' : '--cross-host']] as const) {
    if (given !== undefined) throw new UsageError("a crawl follows no redirect itself: it queues the target like a link, and --scope decides whether it is fetched", { what: 'option not for crawl', which: name });
  }

  // A crawl holds each body in memory to read its links: it has no "no limit" (see DEFAULT_CRAWL_MAX_BYTES).
  if (args.maxSize !== undefined && parseSize(args.maxSize, '--max-size') === 0) {
    throw new UsageError('--max-size 0: a crawl keeps each body in memory to read its links, so it needs a limit (default 16M)');
  }
  const seeds: string[] = [];
  for await (const line of inputLines(args._.map(String), args.file)) seeds.push(fromUserInput(line));
  if (seeds.length === 0 && !args.state) throw new UsageError('crawl needs at least one seed URL (or --state DIR to resume)');
  const options = await bulkOptionsFromArgs(args, DEFAULT_DELAY);
  const include = (args.include ?? []).map((p) => regex('--include', p));
  const exclude = (args.exclude ?? []).map((p) => regex('--exclude', p));
  const whole = (name: string, value: number | undefined): number | undefined => {
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) throw new UsageError(`--${name} needs a whole number, 0 or more`);
    return value;
  };
  const maxDepth = whole('max-depth', args.maxDepth);
  const maxPages = whole('max-pages', args.maxPages);
  const guards = {
    maxPagesPerHost: whole('max-pages-per-host', args.maxPagesPerHost),
    maxUrlLength: whole('max-url-length', args.maxUrlLength),
    maxPathDepth: whole('max-path-depth', args.maxPathDepth),
    maxSegmentRepeats: whole('max-segment-repeats', args.maxSegmentRepeats),
    queries: args.queries,
  };
  if (args.warcGzip !== undefined && !args.warc) throw new UsageError('--warc-gzip needs --warc FILE');

  if (args.ignoreRobots && !args.quiet) {
    process.stderr.write('gemfetch crawl: WARNING: --ignore-robots: robots.txt is NOT fetched nor obeyed. Capsule owners ask bots to respect it.\n');
  }

  // A mirror directory that cannot be made fails now, not once per page with exit 0.
  if (args.mirror) await prepareDirectory(`--mirror ${args.mirror}`, args.mirror);
  limitHeapGrowth(); // a crawl runs for hours: its garbage must not grow RSS 4x over its live heap

  const session = new BulkSession(args);
  const notMirrored = { count: 0, first: '' };
  let stats: CrawlStats | undefined;
  let storageFailure: StorageError | undefined;
  try {
    if (args.state && args.output && args.output !== '-' && fs.existsSync(args.state)) {
      // Refuse at once when a running crawl owns the directory: catching up its output would duplicate its records.
      DirectoryLock.acquire(args.state).release();
      await catchUpOutput(args.state, args.output, session.output);
    }
    const records = crawl(seeds, {
      ...options,
      signal: session.signal,
      onSlowDown: session.onSlowDown,
      ...(args.scope ? { scope: args.scope } : {}),
      ...(maxDepth !== undefined ? { maxDepth } : {}),
      ...(maxPages !== undefined ? { maxPages } : {}),
      // Given only when the user gave them: a resumed crawl takes the others from its state directory.
      ...(args.include ? { include } : {}),
      ...(args.exclude ? { exclude } : {}),
      ...(args.ignoreRobots ? { robots: false } : {}),
      ...(args.robotsAgent ? { robotsAgent: args.robotsAgent } : {}),
      ...(args.robotsTtl !== undefined ? { robotsTtl: robotsTtl(args.robotsTtl) } : {}),
      ...Object.fromEntries(Object.entries(guards).filter(([, value]) => value !== undefined)),
      ...(args.allowAddressClass ? { allowAddressClasses: args.allowAddressClass as AddressClass[] } : {}),
      ...(args.state ? { stateDir: args.state } : {}),
      ...(args.mirror ? { mirrorDir: args.mirror } : {}),
      ...(args.warc ? { warcFile: args.warc } : {}),
      ...(args.warcGzip !== undefined ? { warcGzip: args.warcGzip } : {}),
      onProgress: (s) => {
        stats = s;
        session.status.update(() => `crawl: ${s.records} done, ${s.frontier} queued, ${s.hosts} hosts, ${rate(s.records, s.startedAt)}, ${s.errors} errors`);
      },
    });
    for await (const record of records) {
      if (record.mirrorError !== null && notMirrored.count++ === 0) notMirrored.first = record.mirrorError;
      await session.output.write(record);
      session.noticeRecord(record);
    }
  } catch (err) {
    if (!(err instanceof StorageError)) return session.outputFailure('crawl', err);
    storageFailure = err;
  } finally {
    session.close();
  }
  if (!args.quiet && stats) process.stderr.write(`${summary(stats, session.interrupted)}\n`);
  if (storageFailure) {
    process.stderr.write(`gemfetch crawl: ${storageFailure.message}\n`);
    return ExitCode.Network;
  }
  if (session.interrupted) return ExitCode.Interrupted;
  if (notMirrored.count > 0) {
    process.stderr.write(`gemfetch crawl: ${notMirrored.count} ${notMirrored.count === 1 ? 'body was' : 'bodies were'} not mirrored (see mirrorError in the records); first: ${plain(notMirrored.first)}\n`);
    return ExitCode.Network;
  }
  return ExitCode.Ok;
}

function robotsTtl(text: string): number {
  const ms = parseDuration(text, '--robots-ttl');
  if (!(ms > 0)) throw new UsageError(`--robots-ttl ${text}: must be more than 0`);
  return Math.round(ms);
}

function regex(option: string, pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new UsageError(`${option} ${JSON.stringify(pattern)}: not a valid regular expression (${(err as Error).message})`);
  }
}

/**
 * Makes the output file hold every journaled record: it holds a prefix of
 * them (records are journaled, then written out), so the ones after its last
 * complete line are appended. A torn last line is cut first. Records of URLs
 * an interrupt cut short (`ERR_ABORTED`) are in the output but not in the
 * journal (their URLs stay in its frontier): they are not counted. An output
 * that is not a regular file (a FIFO, a pipe or terminal as /dev/stdout,
 * /dev/null) holds nothing to count: like stdout, it gets no earlier record.
 */
async function catchUpOutput(stateDir: string, file: string, output: NdjsonOutput): Promise<void> {
  let lines = 0;
  if (fs.existsSync(file)) {
    // Read a line at a time: the output of a long crawl can be larger than memory (or than a Buffer).
    const what = 'cannot read the crawl output to resume it';
    const stat = storage(what, file, () => fs.statSync(file));
    if (!stat.isFile()) return;
    const end = endOfLastLine(file, what);
    if (end !== stat.size) storage('cannot cut the torn last line of the crawl output', file, () => fs.truncateSync(file, end));
    const count = (line: string): void => {
      if (!isInterruptRecord(line)) lines++;
    };
    scanLines(file, end, count, () => lines++, what); // an oversized line is damage, but it was a line written
  }
  let index = 0;
  for await (const record of journalRecords<CrawlRecord>(stateDir)) {
    if (index++ >= lines) await output.write(record);
  }
}

/** The result of `act`; a failure is a StorageError naming `file`, `what` saying what failed. */
function storage<T>(what: string, file: string, act: () => T): T {
  try {
    return act();
  } catch (err) {
    throw storageError(what, file, err);
  }
}

/** Whether an output line is the record of a URL an interrupt cut short (never journaled). */
function isInterruptRecord(line: string): boolean {
  if (!line.includes('"ERR_ABORTED"')) return false;
  try {
    return (JSON.parse(line) as Partial<CrawlRecord>).error?.code === 'ERR_ABORTED';
  } catch {
    return false;
  }
}

function summary(s: CrawlStats, interrupted: boolean): string {
  const elapsed = formatDuration(Date.now() - s.startedAt);
  const parts = [
    `${s.records} URLs in ${elapsed}`,
    `${s.records - s.errors - s.incomplete} answered in full`,
    `${s.incomplete} incomplete`,
    `${s.errors} not fetched or no response`,
    `${s.hosts} hosts (${s.setAside} set aside)`,
  ];
  if (s.resumedRecords > 0) parts.push(`${s.resumedRecords} recorded by earlier runs`);
  if (s.leftOver > 0) parts.push(`${s.leftOver} left in the frontier by --max-pages`);
  if (s.addressRefused > 0) parts.push(`${s.addressRefused} refused: outside the seeds' address classes (see --allow-address-class)`);
  const trapped = formatTrapCounts(s.trapped);
  parts.push(`links not followed by the trap guards: ${trapped === '' ? 'none' : trapped}`);
  return `gemfetch crawl${interrupted ? ' (interrupted)' : ''}: ${parts.join(', ')}`;
}
