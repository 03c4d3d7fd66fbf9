/**
 * `gemfetch batch [URL...] [-f FILE]`: fetch a list of URLs politely, one
 * NDJSON record per input URL (stdout or --output FILE), in completion order.
 */
import type { Argv } from 'yargs';
import { batch, DEFAULT_BATCH_RETRIES } from '../../bulk/batch.js';
import { fromUserInput } from '../../protocol/url.js';
import { combineExitCodes, ExitCode, exitCodeForRecord } from '../exit-codes.js';
import { addFetchOptions, type FetchArgs } from '../fetch-options.js';
import { StorageError } from '../../errors.js';
import { formatDuration } from '../units.js';
import { UsageError } from '../usage-error.js';
import { addPolitenessOptions, askedForHelp, bulkOptionsFromArgs, BulkSession, commandParser, inputLines, rate, type PolitenessArgs } from './bulk-cli.js';

/** The batch command's parser, configured but not run (its options are listed by ../command-spec.ts). */
export function parser(argv: string[]): Argv {
  return addFetchOptions(
    addPolitenessOptions(
      commandParser(
        argv,
        'Usage: gemfetch batch [options] [URL...]\n\nFetches every URL (arguments, -f FILE, or stdin) with per-host politeness and writes one JSON record per URL, in completion order. Every input line yields exactly one record. No URL at all is a usage error (exit 2), as for survey.',
      ),
      { delay: '0', retries: DEFAULT_BATCH_RETRIES },
    ),
  );
}

/** `gemfetch batch ...`; resolves with the exit code. */
export async function run(argv: string[]): Promise<number> {
  const args = (await parser(argv).parseAsync()) as unknown as PolitenessArgs & FetchArgs & { _: Array<string | number> };
  if (askedForHelp(argv)) return ExitCode.Ok;
  const options = await bulkOptionsFromArgs(args, '0');
  const session = new BulkSession(args);
  const started = Date.now();
  const codes = new Set<number>();
  let count = 0;
  let errors = 0;
  let incomplete = 0;
  // An input that fails midway (unreadable, a line too long) ends the input: the URLs read before it still get their records, then it is reported.
  let inputFailure: unknown;
  try {
    const urls = (async function* () {
      try {
        for await (const line of inputLines(args._.map(String), args.file, args.output)) yield fromUserInput(line);
      } catch (err) {
        if (!(err instanceof UsageError || err instanceof StorageError)) throw err;
        inputFailure = err;
      }
    })();
    for await (const record of batch(urls, { ...options, signal: session.signal, onSlowDown: session.onSlowDown })) {
      await session.output.write(record);
      session.noticeRecord(record);
      count++;
      if (record.error) errors++;
      else if (!record.complete) incomplete++;
      codes.add(exitCodeForRecord(record));
      session.status.update(() => `batch: ${count} done, ${errors} errors, ${incomplete} incomplete, ${rate(count, started)}`);
    }
  } catch (err) {
    return session.outputFailure('batch', err);
  } finally {
    session.close();
  }
  if (count === 0 && inputFailure === undefined && !session.interrupted) throw new UsageError('batch needs at least one URL (arguments, -f FILE or stdin)');
  if (!args.quiet) {
    process.stderr.write(`gemfetch batch: ${count} URLs in ${formatDuration(Date.now() - started)}: ${count - errors - incomplete} answered in full, ${incomplete} incomplete, ${errors} without a response\n`);
  }
  if (session.interrupted) return ExitCode.Interrupted;
  if (inputFailure !== undefined) throw inputFailure;
  return combineExitCodes([...codes]);
}
