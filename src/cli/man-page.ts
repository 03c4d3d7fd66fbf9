/**
 * The man page, gemfetch(1), generated from the command table
 * (./command-spec.ts): every command with every option it accepts, its
 * default and its choices, then the exit codes. `npm run build` writes it to
 * dist/gemfetch.1 (package.json's `man`) by running this module:
 * `node dist/cli/man-page.js FILE`.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { commandTable, type CommandInfo, type CommandTable, type OptionInfo } from './command-spec.js';
import { CRAWL_EXIT_CODE_TABLE, EXIT_CODE_TABLE, SURVEY_EXIT_CODE_TABLE } from './exit-codes.js';

/**
 * Text made safe for roff: backslashes as `\e`, hyphens as `\-` (so they
 * stay minus signs, copyable into a shell), and a line starting with `.` or
 * `'` (a request to roff) prefixed with `\&`.
 */
export function roffEscape(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

/** `\fB\-o\fR, \fB\-\-output\fR \fIVALUE\fR` for an option's tag line. */
function optionTag(option: OptionInfo): string {
  const names = [...option.aliases.map((a) => (a.length === 1 ? `-${a}` : `--${a}`)), `--${option.name}`];
  const value = option.type === 'boolean' ? '' : ` \\fI${option.choices ? option.choices.join('|') : option.type === 'number' ? 'N' : 'VALUE'}\\fR`;
  return `${names.map((n) => `\\fB${roffEscape(n)}\\fR`).join(', ')}${value}`;
}

function optionEntry(option: OptionInfo): string {
  let text = option.describe;
  if (option.type !== 'boolean' && option.defaultText !== undefined) text += ` (default: ${option.defaultText})`;
  else if (option.type === 'boolean' && option.defaultText === 'true') text += ' (on by default)';
  return `.TP\n${optionTag(option)}\n${roffEscape(text)}`;
}

function commandSection(command: CommandInfo): string {
  const positionals = command.positionals.map((p) => (p.required ? `<${p.name}>` : `[${p.name}]`)).join(' ');
  return [
    `.SS "gemfetch ${roffEscape(command.name)}${positionals ? ` ${roffEscape(positionals)}` : ''}"`,
    roffEscape(command.summary),
    ...command.positionals.filter((p) => p.choices).map((p) => `.br\n${roffEscape(`${p.name}: ${p.choices!.join(', ')}`)}`),
    ...command.options.map(optionEntry),
  ].join('\n');
}

function exitCodes(table: string): string {
  const lines = table.split('\n').slice(1);
  const out: string[] = [];
  const prose: string[] = [];
  for (const line of lines) {
    const match = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (match) out.push(`.TP\n.B ${match[1]}\n${roffEscape(match[2]!)}`);
    else prose.push(line.trim());
  }
  if (prose.length > 0) out.push(`.PP\n${roffEscape(prose.join(' '))}`);
  return out.join('\n');
}

/** The man page for `table` (see {@link manPage}). */
export function renderManPage(table: CommandTable, version: string): string {
  return [
    `.TH GEMFETCH 1 "" "gemfetch ${roffEscape(version)}" "User Commands"`,
    '.nh', // no hyphenation: option names, defaults and URLs stay whole
    '.SH NAME',
    'gemfetch \\- Gemini client that tells whether each response arrived whole',
    '.SH SYNOPSIS',
    '.B gemfetch',
    '[\\fIoptions\\fR] \\fIURL\\fR...',
    '.br',
    '.B gemfetch',
    '\\fICOMMAND\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.SH DESCRIPTION',
    roffEscape(
      "Fetches gemini:// URLs and tells whether each response arrived whole: only the server's TLS close_notify proves it. " +
        'The body goes to stdout (raw when piped, rendered on a terminal); everything for humans goes to stderr. ' +
        'Every command below lists every option it accepts, with its default; `gemfetch COMMAND --help` shows the same.',
    ),
    '.SH COMMANDS',
    ...table.commands.map(commandSection),
    '.SH EXIT STATUS',
    roffEscape('gemfetch URL..., batch and put:'),
    exitCodes(EXIT_CODE_TABLE),
    '.PP',
    'crawl:',
    exitCodes(CRAWL_EXIT_CODE_TABLE),
    '.PP',
    'survey:',
    exitCodes(SURVEY_EXIT_CODE_TABLE),
    '.SH ENVIRONMENT',
    '.TP\n.B NO_COLOR\nno colours on a terminal',
    '.TP\n.B XDG_DATA_HOME\nwhere the TOFU pin file lives (gemfetch/known_hosts)',
    '.SH SEE ALSO',
    roffEscape('README.md of the gemfetch package; gemfetch completion (shell completion).'),
    '',
  ].join('\n');
}

/** The man page for every command registered in ./main.ts. */
export async function manPage(): Promise<string> {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return renderManPage(await commandTable(), pkg.version ?? 'unknown');
}

// `node dist/cli/man-page.js FILE`: the build step writing dist/gemfetch.1.
function isMainModule(): boolean {
  try {
    return process.argv[1] !== undefined && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1]);
  } catch {
    return false;
  }
}

if (isMainModule()) {
  const target = process.argv[2];
  if (target === undefined) {
    process.stderr.write('usage: node dist/cli/man-page.js FILE\n');
    process.exitCode = 2;
  } else {
    fs.writeFileSync(target, await manPage());
  }
}
