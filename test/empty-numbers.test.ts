/**
 * An empty value for a number option (`--max-failures ""`, `--retries=`) is a
 * usage error naming the option, never read as 0 (which turns most guards
 * off): the pure check, then the real CLI for every command with such options.
 */
import { describe, expect, it } from 'vitest';
import { rejectEmptyNumbers } from '../src/cli/empty-numbers.js';
import { requireBuild, runCli, scratchDirs } from './support/cli.js';

const NUMBERS = new Set(['retries', 'concurrency', 'j']);
const negatedScratch = scratchDirs();
const negatedHome = (): string => negatedScratch('gemfetch-negated-number-');

describe('rejectEmptyNumbers', () => {
  it('refuses --name "", --name=, -x "" and blank values; accepts numbers, other options and words after --', () => {
    for (const argv of [['--retries', ''], ['--retries='], ['-j', ''], ['--concurrency', '  '], ['x', '--retries=', 'y']]) {
      expect(() => rejectEmptyNumbers(argv, NUMBERS), argv.join(' ')).toThrow(/needs a number, not an empty value/);
    }
    for (const argv of [['--retries', '0'], ['--retries=3'], ['-j', '2'], ['--output', ''], ['--', '--retries', ''], ['--retries']]) {
      expect(() => rejectEmptyNumbers(argv, NUMBERS), argv.join(' ')).not.toThrow();
    }
  });

  it('knows the spellings yargs also takes: --camelCase, and the last of a short-option cluster', () => {
    const numbers = new Set(['max-failures', 'concurrency', 'j']);
    for (const [argv, shown] of [[['--maxFailures', ''], '--maxFailures'], [['--maxFailures='], '--maxFailures'], [['-qj', ''], '-j'], [['-qj='], '-j'], [['-qj', ' '], '-j']] as const) {
      expect(() => rejectEmptyNumbers(argv, numbers), argv.join(' ')).toThrow(`${shown} needs a number, not an empty value`);
    }
    for (const argv of [['-jq', ''], ['-qj', '2'], ['--maxfailures', ''], ['--', '-qj', ''], ['--', '--maxFailures', '']]) {
      expect(() => rejectEmptyNumbers(argv, numbers), argv.join(' ')).not.toThrow();
    }
  });
});

describe('a negated number option', () => {
  it('is refused (yargs reads --no-retries as 0), in both spellings; --no- of other options is left alone', () => {
    for (const argv of [['--no-retries'], ['--noRetries'], ['x', '--no-concurrency']]) {
      expect(() => rejectEmptyNumbers(argv, NUMBERS), argv.join(' ')).toThrow(/takes a number \(this would be read as 0\)/);
    }
    for (const argv of [['--no-location'], ['--no-color'], ['--', '--no-retries'], ['-no-retries']]) {
      expect(() => rejectEmptyNumbers(argv, NUMBERS), argv.join(' ')).not.toThrow();
    }
  });

  it.each([
    ['crawl --no-max-pages', ['crawl', '--no-max-pages', 'gemini://127.0.0.1:1/'], '--no-max-pages', '--max-pages'],
    ['batch --no-max-failures', ['batch', '--no-max-failures', 'gemini://127.0.0.1:1/'], '--no-max-failures', '--max-failures'],
    ['fetch --no-max-redirects', ['--no-max-redirects', 'gemini://127.0.0.1:1/'], '--no-max-redirects', '--max-redirects'],
  ])('%s: exit 2 naming it, nothing fetched', async (_name, args, given, option) => {
    requireBuild();
    const res = await runCli(negatedHome(), args);
    expect(res.stderr).toContain(`gemfetch: negated number option (${given}): ${option} takes a number (this would be read as 0)`);
    expect(res.code).toBe(2);
    expect(res.stdout.length).toBe(0);
  });
});

describe('gemfetch with an empty number', () => {
  const scratch = scratchDirs();
  const cases: Array<[string, string[], string]> = [
    ['batch --max-failures ""', ['batch', '--max-failures', '', 'gemini://127.0.0.1:1/'], '--max-failures'],
    ['crawl --max-slow-downs=', ['crawl', '--max-slow-downs=', 'gemini://127.0.0.1:1/'], '--max-slow-downs'],
    ['crawl -j ""', ['crawl', '-j', '', 'gemini://127.0.0.1:1/'], '-j'],
    ['survey --retries ""', ['survey', '--retries', '', '127.0.0.1:1'], '--retries'],
    ['fetch --max-redirects ""', ['--max-redirects', '', 'gemini://127.0.0.1:1/'], '--max-redirects'],
    ['batch --maxFailures ""', ['batch', '--maxFailures', '', 'gemini://127.0.0.1:1/'], '--maxFailures'],
    ['crawl --maxPagesPerHost=', ['crawl', '--maxPagesPerHost=', 'gemini://127.0.0.1:1/'], '--maxPagesPerHost'],
    ['crawl -qj ""', ['crawl', '-qj', '', 'gemini://127.0.0.1:1/'], '-j'],
    ['fetch --maxRedirects ""', ['--maxRedirects', '', 'gemini://127.0.0.1:1/'], '--maxRedirects'],
  ];
  it.each(cases)('%s: exit 2 naming the option, nothing fetched', async (_name, args, option) => {
    requireBuild();
    const res = await runCli(scratch('gemfetch-empty-number-'), args);
    expect(res.stderr).toContain(`gemfetch: invalid value (${option}): needs a number, not an empty value.`);
    expect(res.code).toBe(2);
    expect(res.stdout.length).toBe(0); // no record: the run never started
  });
});
