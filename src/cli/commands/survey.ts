/**
 * `gemfetch survey HOST...`: does each capsule end its responses with TLS
 * close_notify? One NDJSON record per host, then a summary table on stderr.
 */
import { addToSurveySummary, emptySurveySummary, formatSurveySummary, survey, DEFAULT_SURVEY_RETRIES } from '../../bulk/survey.js';
import type { Argv } from 'yargs';
import { ExitCode, SURVEY_EXIT_CODE_TABLE } from '../exit-codes.js';
import { addFetchOptions, type FetchArgs } from '../fetch-options.js';
import { UsageError } from '../usage-error.js';
import { runCensus } from './census.js';
import { addPolitenessOptions, askedForHelp, bulkOptionsFromArgs, BulkSession, commandParser, inputLines, type PolitenessArgs } from './bulk-cli.js';

interface SurveyArgs extends PolitenessArgs, FetchArgs {
  _: Array<string | number>;
  missing?: boolean;
  fromCrawl?: string;
}

/** The survey command's parser, configured but not run (its options are listed by ../command-spec.ts). */
export function parser(argv: string[]): Argv {
  return addFetchOptions(
    addPolitenessOptions(
      commandParser(
        argv,
        'Usage: gemfetch survey [options] HOST...\n\nRequests each capsule\'s root (and with --missing a page that does not exist) and reports whether it ends responses with TLS close_notify, its TLS version, cipher and certificate. Certificates are not pinned (trust mode insecure) unless --tofu or --ca is given. No host at all is a usage error (exit 2), as for batch.',
        SURVEY_EXIT_CODE_TABLE,
      ),
      { delay: '0', retries: DEFAULT_SURVEY_RETRIES },
    )
      .option('missing', { type: 'boolean', describe: 'also request a missing page, to see how error pages end' })
      .option('from-crawl', { type: 'string', requiresArg: true, defaultDescription: 'none (survey the hosts given)', describe: 'request nothing: the close_notify census of a crawl\'s records (its --state DIR or --output FILE), by URI and by capsule, split by status class, TLS version and certificate issuer (NDJSON, then a table)' }),
    { tofu: 'insecure', 'max-size': '1M', 'max-time': '30s' },
  );
}

/** `gemfetch survey ...`; resolves with 0 once every host was surveyed. */
export async function run(argv: string[]): Promise<number> {
  const args = (await parser(argv).parseAsync()) as unknown as SurveyArgs;
  if (askedForHelp(argv)) return ExitCode.Ok;
  if (args.fromCrawl !== undefined) {
    if (args._.length > 0 || args.file) throw new UsageError('--from-crawl reads a crawl\'s records: give no hosts with it');
    return runCensus(args.fromCrawl, args);
  }
  const options = await bulkOptionsFromArgs(args, '0');
  const session = new BulkSession(args);
  const summary = emptySurveySummary(); // counted as records arrive: no list of them is kept
  try {
    const hosts = inputLines(args._.map(String), args.file, args.output);
    for await (const record of survey(hosts, { ...options, signal: session.signal, onSlowDown: session.onSlowDown, missing: args.missing === true })) {
      addToSurveySummary(summary, record);
      await session.output.write(record);
      session.status.update(() => `survey: ${summary.capsules} capsules`);
    }
  } catch (err) {
    return session.outputFailure('survey', err);
  } finally {
    session.close();
  }
  if (summary.capsules === 0 && !session.interrupted) throw new UsageError('survey needs at least one host (arguments, -f FILE or stdin)');
  if (!args.quiet) process.stderr.write(`${formatSurveySummary(summary)}\n`);
  return session.interrupted ? ExitCode.Interrupted : ExitCode.Ok;
}
