/**
 * `gemfetch completion`: the generated bash script, run in a real bash with
 * COMP_WORDS/COMP_CWORD as bash sets them on Tab, completes every option of
 * every command (read from the command table, the parsers themselves) and
 * never an option a command does not have; `completion --help` is help.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { commandTable, type CommandTable } from '../src/cli/command-spec.js';
import { optionWords } from '../src/cli/completion.js';
import { requireBuild, runCli, scratchDirs } from './support/cli.js';

const scratch = scratchDirs();
let script = '';
let table: CommandTable;
let home = '';

beforeAll(async () => {
  requireBuild();
  home = scratch('gemfetch-completion-');
  const r = await runCli(home, ['completion'], { timeoutMs: 60_000 });
  expect(r.code, r.stderr).toBe(0);
  script = path.join(home, 'gemfetch.bash');
  fs.writeFileSync(script, r.stdout);
  table = await commandTable();
}, 90_000);

/**
 * What the script completes for each command line (the last word being the
 * one under the cursor), all in one bash process.
 */
function complete(lines: string[][]): string[][] {
  const calls = lines
    .map((words) => `COMP_WORDS=(${words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ')}); COMP_CWORD=${words.length - 1}; COMPREPLY=(); _gemfetch; printf '%s\\n' "\${COMPREPLY[*]}"`)
    .join('\n');
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', `source '${script}' || exit 9\n${calls}`], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  const out = r.stdout.split('\n').slice(0, lines.length);
  return out.map((line) => (line === '' ? [] : line.split(' ')));
}

describe('the bash completion script', () => {
  it('is valid bash and registers itself for gemfetch', () => {
    const r = spawnSync('bash', ['--norc', '-c', `source '${script}' && complete -p gemfetch`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('-F _gemfetch gemfetch');
  });

  it('completes options of the default command (gemfetch --max-<Tab>) and of a command (crawl --ma<Tab>)', () => {
    const [top, crawl, commands] = complete([
      ['gemfetch', '--max-'],
      ['gemfetch', 'crawl', '--ma'],
      ['gemfetch', ''],
    ]);
    expect(top!.sort()).toEqual(['--max-redirects', '--max-size', '--max-time']);
    expect(crawl).toEqual(expect.arrayContaining(['--max-depth', '--max-failures', '--max-pages', '--max-size', '--max-time', '--max-pages-per-host']));
    expect(crawl).not.toContain('--max-redirects'); // a crawl refuses it
    expect(commands).toEqual(expect.arrayContaining(['fetch', 'batch', 'crawl', 'survey', 'tofu', 'demo', 'put', 'completion']));
  });

  it('lists the options of every registered command (each external command module exports parser(argv))', () => {
    expect(table.commands.filter((c) => !c.optionsListed).map((c) => c.name)).toEqual([]);
    expect(table.commands.map((c) => c.name)).toEqual(expect.arrayContaining(['fetch', 'tofu', 'demo', 'completion', 'batch', 'crawl', 'survey', 'put']));
  });

  it('offers exactly the options of each command, from the same table as --help', () => {
    const lines = table.commands.map((command) => ['gemfetch', command.name, '-']);
    const got = complete(lines);
    table.commands.forEach((command, i) => {
      const expected = command.options.flatMap(optionWords);
      expect(got[i]!.sort(), command.name).toEqual([...expected].sort());
    });
  });

  it('never offers an option a command does not have: no --4/--6 anywhere, no fetch options for tofu', () => {
    const [tofu, demo, batch] = complete([
      ['gemfetch', 'tofu', '-'],
      ['gemfetch', 'demo', '-'],
      ['gemfetch', 'batch', '-'],
    ]);
    for (const words of [tofu!, demo!, batch!]) {
      expect(words).not.toContain('--4');
      expect(words).not.toContain('--6');
    }
    expect(tofu).not.toContain('--max-size');
    expect(tofu).not.toContain('--json');
    expect(demo).not.toContain('--ipv4');
    expect(batch).not.toContain('--output-dir'); // a fetch-only option
    expect(batch).toContain('--slow-down-retries');
  });

  it('completes choices of options and positionals, and leaves other values to file names', () => {
    const [tofuMode, surveyMode, scope, actions, afterAction, knownHosts] = complete([
      ['gemfetch', '--tofu', ''],
      ['gemfetch', 'survey', '--tofu', 'in'],
      ['gemfetch', 'crawl', '--scope', ''],
      ['gemfetch', 'tofu', '--known-hosts', 'pins', ''],
      ['gemfetch', 'tofu', 'list', ''],
      ['gemfetch', 'tofu', '--known-hosts', ''],
    ]);
    expect(tofuMode).toEqual(['tofu', 'ca', 'insecure']);
    expect(surveyMode).toEqual(['insecure']);
    expect(scope).toEqual(['host', 'prefix', 'all']);
    expect(actions).toEqual(expect.arrayContaining(['list', 'check', 'forget', 'trust']));
    expect(afterAction).toEqual([]);
    expect(knownHosts).toEqual([]); // -o default: bash completes a file name
  });
});

describe('gemfetch completion --help', () => {
  it('prints help, not the script, and exits 0', async () => {
    const r = await runCli(home, ['completion', '--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const out = r.stdout.toString();
    expect(out).toContain('Usage: gemfetch completion');
    expect(out).not.toContain('_gemfetch');
    expect(out).not.toContain('Unknown argument');
  });
});
