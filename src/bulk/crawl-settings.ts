/**
 * What a resumable crawl was started with, kept in `DIR/crawl.json` next to
 * its journal: the seeds and every option deciding which URLs are followed
 * (scope, depth, patterns, robots.txt, trap guards).
 * Resuming with other values would merge two different crawls into one
 * journal, so it is refused, saying what differs; values not given on resume
 * are taken from the file (`gemfetch crawl --state DIR` resumes as started).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CrawlStateMismatchError } from '../errors.js';
import { storageError } from './crawl-state.js';
import { parseGeminiUrl } from '../protocol/url.js';

/** Name of the settings file inside the state directory. */
export const SETTINGS_FILE = 'crawl.json';

/** The settings of a crawl, as stored (regular expressions as `/source/flags`). */
export interface CrawlSettings {
  seeds: string[];
  scope: string;
  maxDepth: number;
  include: string[];
  exclude: string[];
  robots: boolean;
  robotsAgent: string;
  /** Trap guards (trap-guards.ts; 0 = no limit). Absent from files written before they existed: the defaults are taken. */
  maxPagesPerHost: number;
  maxUrlLength: number;
  maxPathDepth: number;
  maxSegmentRepeats: number;
  queries: boolean;
  /** How long a robots.txt is obeyed before it is fetched again, ms (robots-cache.ts). */
  robotsTtl: number;
  /** Address classes allowed besides the seeds' (address-guard.ts), sorted. */
  allowAddressClasses: string[];
}

/** Settings as a run gives them: `undefined` where the caller did not say (seeds: empty). */
export type GivenSettings = { [K in keyof CrawlSettings]: CrawlSettings[K] | undefined };

/**
 * The settings of this run of the crawl in `dir` (locked by the caller). At the
 * first run, `given` (with `defaults` where undefined) is stored. On resume,
 * each undefined value (and empty seeds) is taken from the stored settings,
 * and a given one must equal the stored one. Every key of `defaults` is
 * compared; a stored file lacking one (written by an older version) takes its
 * default.
 * @throws CrawlStateMismatchError (`ERR_STATE_MISMATCH`) naming what differs.
 * @throws StorageError when the file cannot be read or written.
 */
export function resolveCrawlSettings(dir: string, given: GivenSettings, defaults: Omit<CrawlSettings, 'seeds'>): CrawlSettings {
  const file = path.join(dir, SETTINGS_FILE);
  const read = readSettings(file);
  // A file written before a setting existed lacks it: that crawl goes on with its default.
  const stored = read === undefined ? undefined : { ...defaults, ...read };
  const seeds = given.seeds?.length ? normaliseSeeds(given.seeds) : undefined;
  if (stored === undefined) {
    const settings: CrawlSettings = { ...defaults, ...definedOf(given), seeds: seeds ?? [] };
    writeSettings(file, settings);
    return settings;
  }
  const differences: string[] = [];
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  if (seeds !== undefined && !same([...seeds].sort(), [...stored.seeds].sort())) differences.push(`seeds ${stored.seeds.join(' ')} (now ${seeds.join(' ')})`);
  for (const key of Object.keys(defaults) as Array<keyof typeof defaults>) {
    const value = given[key];
    if (value !== undefined && !same(value, stored[key])) differences.push(`${key} ${JSON.stringify(stored[key])} (now ${JSON.stringify(value)})`);
  }
  if (differences.length > 0) {
    throw new CrawlStateMismatchError(
      `the crawl in ${dir} was started with ${differences.join(', ')}: resume it with the same settings ` +
        `(seeds and options left out are taken from ${file}), or use another state directory for a different crawl`,
      file,
    );
  }
  return stored;
}

/** Seeds as hrefs (so `host/` and `gemini://host/` are the same seed); an invalid one is kept as given. */
function normaliseSeeds(seeds: readonly string[]): string[] {
  return seeds.map((seed) => {
    try {
      return parseGeminiUrl(seed).href;
    } catch {
      return seed;
    }
  });
}

function definedOf(given: GivenSettings): Partial<CrawlSettings> {
  return Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)) as Partial<CrawlSettings>;
}

function readSettings(file: string): CrawlSettings | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw storageError('cannot read the crawl settings', file, err);
  }
  try {
    return JSON.parse(text) as CrawlSettings;
  } catch (err) {
    throw storageError('cannot read the crawl settings (not JSON; remove the file to keep this run\'s settings)', file, err);
  }
}

/** Written to a temporary file then renamed: a kill never leaves a torn settings file. */
function writeSettings(file: string, settings: CrawlSettings): void {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temporary, `${JSON.stringify(settings, null, 2)}\n`);
    fs.renameSync(temporary, file);
  } catch (err) {
    fs.rmSync(temporary, { force: true });
    throw storageError('cannot write the crawl settings', file, err);
  }
}

/** A regular expression as stored: `/source/flags`. */
export function regexText(re: RegExp): string {
  return String(re);
}

/** The RegExp of a stored `/source/flags`. */
export function regexFromText(text: string): RegExp {
  const end = text.lastIndexOf('/');
  return new RegExp(text.slice(1, end), text.slice(end + 1));
}
