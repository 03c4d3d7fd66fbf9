/**
 * gemfetch(1): generated from the command table by the build step
 * (`node dist/cli/man-page.js dist/gemfetch.1`), rendered by a real `man -l`
 * (or groff), listing every option of every command; listed in
 * package.json's `man` and shipped by `npm pack`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { commandTable, type CommandTable } from '../src/cli/command-spec.js';
import { roffEscape } from '../src/cli/man-page.js';
import { requireBuild, ROOT, scratchDirs } from './support/cli.js';

const scratch = scratchDirs();
let page = '';
let roff = '';
let table: CommandTable;

const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** The page as a reader sees it: `man -l` when installed, else groff, else undefined. */
function render(file: string): string | undefined {
  const env = { ...process.env, MANWIDTH: '100', MANPAGER: 'cat', PAGER: 'cat', LANG: 'C.UTF-8' };
  if (has('man')) return execFileSync('man', ['-l', file], { env, encoding: 'utf8' });
  if (has('groff')) return execFileSync('groff', ['-man', '-Tutf8', '-rLL=100n', file], { env, encoding: 'utf8' });
  return undefined;
}

beforeAll(async () => {
  requireBuild();
  page = path.join(scratch('gemfetch-man-'), 'gemfetch.1');
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  // The build's own command, so this test checks what `npm run build` ships.
  const step = /node (dist\/cli\/man-page\.js) dist\/gemfetch\.1/.exec(pkg.scripts.build ?? '');
  expect(step, 'package.json build script generates dist/gemfetch.1').not.toBeNull();
  execFileSync(process.execPath, [path.join(ROOT, step![1]!), page], { cwd: ROOT, timeout: 60_000 });
  roff = fs.readFileSync(page, 'utf8');
  table = await commandTable();
}, 90_000);

describe('gemfetch.1', () => {
  it('renders, and lists every option of every command in that command\'s section', () => {
    const text = render(page);
    const source = text ?? roff.replace(/\\-/g, '-').replace(/\\f[BIR]/g, '');
    if (text !== undefined) expect(text).toMatch(/^GEMFETCH\(1\)/m);
    const sections = source.split(/^ *\.?SS "?gemfetch |^ {3}gemfetch /m);
    for (const command of table.commands) {
      const section = sections.find((s) => s.startsWith(`${command.name} `) || s.startsWith(`${command.name}\n`) || s.startsWith(`${command.name}"`));
      expect(section, `section of ${command.name}`).toBeDefined();
      for (const option of command.options) {
        expect(section, `${command.name} --${option.name}`).toMatch(new RegExp(`--${option.name}\\b`));
        if (option.type !== 'boolean' && option.defaultText !== undefined) expect(section!.replace(/\s+/g, ' '), `${command.name} --${option.name} default`).toContain(`(default: ${option.defaultText.replace(/\s+/g, ' ')})`);
      }
    }
    expect(source).toContain('EXIT STATUS');
    expect(source.replace(/\s+/g, ' ')).toContain('the crawl ran to its end');
  });

  it('has no roff warnings (groff -ww)', () => {
    if (!has('groff')) return expect(roff).toMatch(/^\.TH GEMFETCH 1 /);
    const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', page], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('escapes roff: backslashes, hyphens, and lines starting with a dot or quote', () => {
    expect(roffEscape('a\\b --x\n.TH\n\'q')).toBe('a\\eb \\-\\-x\n\\&.TH\n\\&\'q');
  });

  it('is package.json\'s man page and npm pack ships it', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { man: string[]; scripts: Record<string, string> };
    expect(pkg.man).toEqual(['./dist/gemfetch.1']);
    expect(pkg.scripts.prepare).toBe('npm run build');
    // What `npm run build` does after tsc; then the file list npm pack would ship.
    execFileSync(process.execPath, [path.join(ROOT, 'dist/cli/man-page.js'), path.join(ROOT, 'dist/gemfetch.1')], { cwd: ROOT });
    const out = execFileSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: ROOT, encoding: 'utf8' });
    const files = (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/gemfetch.1');
  }, 120_000);
});
