/**
 * `gemfetch survey --from-crawl STATE_DIR|FILE`: the close_notify census of a
 * crawl's records (src/bulk/census.ts), read from a crawl's state directory
 * (its journal) or from an NDJSON file of records (`crawl --output`).
 * Writes one NDJSON line per group (stdout or `--output`), then a table on
 * stderr, with a bar chart when stderr is a terminal.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CensusCounter, formatCensusChart, formatCensusTable, type CensusInput } from '../../bulk/census.js';
import { JOURNAL_FILE, journalRecords } from '../../bulk/crawl-state.js';
import { StorageError } from '../../errors.js';
import { boundedLines, LineTooLongError } from '../bounded-lines.js';
import { ExitCode } from '../exit-codes.js';
import { UsageError } from '../usage-error.js';
import { BulkSession } from './bulk-cli.js';

/** Options of {@link runCensus} (from the survey command line). */
export interface CensusArgs {
  output?: string;
  quiet?: boolean;
}

/**
 * Runs the census of `source`; resolves with the exit code (0, or 1 when the
 * output failed).
 * @throws UsageError when `source` is neither a crawl state directory (with
 *   a journal) nor a readable file, or a line of it is not a JSON record.
 */
export async function runCensus(source: string, args: CensusArgs): Promise<number> {
  const records = recordsOf(source);
  if (args.output !== undefined && args.output !== '-' && sameFile(args.output, source)) {
    throw new UsageError(`--output ${args.output} is the --from-crawl file: the census would be appended to the records it reads; write it to another file`);
  }
  const counter = new CensusCounter();
  try {
    for await (const record of records) counter.add(record);
  } catch (err) {
    if (err instanceof LineTooLongError) throw new UsageError(`--from-crawl ${source}: ${err.message}`);
    throw err;
  }
  const result = counter.result();
  const session = new BulkSession(args);
  try {
    for (const line of result.lines) await session.output.write({ census: 'close_notify', ...line });
  } catch (err) {
    return session.outputFailure('survey', err);
  } finally {
    session.close();
  }
  if (!args.quiet) {
    process.stderr.write(`${formatCensusTable(result)}\n`);
    if (process.stderr.isTTY) process.stderr.write(`${formatCensusChart(result)}\n`);
  }
  return ExitCode.Ok;
}

function sameFile(a: string, b: string): boolean {
  try {
    const x = fs.statSync(a);
    const y = fs.statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

function recordsOf(source: string): AsyncIterable<CensusInput> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch (err) {
    throw new UsageError(`--from-crawl ${source}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a crawl's --state directory or its --output file`);
  }
  if (stat.isDirectory()) {
    if (!fs.existsSync(path.join(source, JOURNAL_FILE))) throw new UsageError(`--from-crawl ${source}: no ${JOURNAL_FILE} in this directory; give a crawl's --state directory or its --output file`);
    return journalRecords<CensusInput>(source);
  }
  return fileRecords(source);
}

async function* fileRecords(file: string): AsyncGenerator<CensusInput> {
  let n = 0;
  let stream: fs.ReadStream;
  try {
    stream = fs.createReadStream(file);
  } catch (err) {
    throw new StorageError(`--from-crawl ${file}: cannot read the file (${(err as Error).message})`, file, err);
  }
  for await (const raw of boundedLines(stream)) {
    n++;
    const line = raw.trim();
    if (line === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      throw new UsageError(`--from-crawl ${file}: line ${n} is not JSON (expected the NDJSON records of gemfetch crawl)`);
    }
    if (typeof record !== 'object' || record === null || typeof (record as CensusInput).url !== 'string' || !('status' in record) || !('termination' in record)) {
      throw new UsageError(`--from-crawl ${file}: line ${n} is not a gemfetch record (no url, status and termination)`);
    }
    yield record as CensusInput;
  }
}
