/**
 * The README is part of the contract: its exit-code table must say what
 * `--help` says (EXIT_CODE_TABLE) and what ExitCode means.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXIT_CODE_TABLE, ExitCode } from '../src/cli/exit-codes.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** Rows `code -> meaning` of the README's exit-code table (backticks dropped). */
function readmeExitCodes(): Map<number, string> {
  const section = readme.slice(readme.indexOf('### Exit codes'));
  const rows = new Map<number, string>();
  for (const match of section.matchAll(/^\| (\d+) \| (.+) \|$/gm)) rows.set(Number(match[1]), match[2]!.replaceAll('`', ''));
  return rows;
}

/** Rows `code -> meaning` of the `--help` exit-code text. */
function helpExitCodes(): Map<number, string> {
  const rows = new Map<number, string>();
  for (const match of EXIT_CODE_TABLE.matchAll(/^\s+(\d+)\s+(.+)$/gm)) rows.set(Number(match[1]), match[2]!.replaceAll('`', ''));
  return rows;
}

describe('README', () => {
  it('lists the same exit codes, with the same meanings, as --help', () => {
    const fromReadme = readmeExitCodes();
    expect(fromReadme.size).toBeGreaterThan(10);
    expect(fromReadme).toEqual(helpExitCodes());
  });

  it('lists every ExitCode value', () => {
    expect([...readmeExitCodes().keys()].sort((a, b) => a - b)).toEqual(Object.values(ExitCode).sort((a, b) => a - b));
  });

  it('states the same priority order for several URLs as --help', () => {
    const order = /in this order: ([\d, ]+)\./;
    expect(readme.replace(/\s+/g, ' ').match(order)?.[1]).toBe(EXIT_CODE_TABLE.replace(/\s+/g, ' ').match(order)?.[1]);
  });
});
