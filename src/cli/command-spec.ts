/**
 * The command table: every command gemfetch has, with every option each one
 * accepts, read from the very yargs parsers that parse them. `--help` is
 * those parsers; shell completion (./completion.ts) and the man page
 * (./man-page.ts) are generated from this table, so none of the three can
 * list an option a command does not have, or miss one it has.
 *
 * A command is found in the registry of ./main.ts: the yargs commands of the
 * main parser (fetch, tofu, demo, completion) and the external commands,
 * whose module must export `parser(argv): Argv` (the configured parser, not
 * run) besides `run(argv)`. A command registered there is covered here
 * without further work.
 */
import yargs, { type Argv } from 'yargs';
import { EXTERNAL_COMMANDS, inspectionParser } from './main.js';

/** One option of a command, as its parser declares it. */
export interface OptionInfo {
  /** Long name (`max-size`). */
  readonly name: string;
  /** Other names, short ones first (`o` for `--output`). */
  readonly aliases: readonly string[];
  /** Value type; booleans take no value (and accept `--no-NAME`). */
  readonly type: 'boolean' | 'string' | 'number';
  /** The line shown by `--help`. */
  readonly describe: string;
  /** The default as `--help` shows it, or undefined when it shows none. */
  readonly defaultText: string | undefined;
  /** The only values accepted, when restricted. */
  readonly choices: readonly string[] | undefined;
}

/** A positional argument of a command (`<action>` of `tofu`). */
export interface PositionalInfo {
  readonly name: string;
  /** Whether it must be given (`<name>`) or may be left out (`[name]`). */
  readonly required: boolean;
  readonly choices: readonly string[] | undefined;
  readonly describe: string;
}

/** One command and everything it accepts. */
export interface CommandInfo {
  /** The word that selects it (`fetch` is also the default: `gemfetch URL`). */
  readonly name: string;
  /** One line, as in `gemfetch --help`. */
  readonly summary: string;
  readonly positionals: readonly PositionalInfo[];
  /** Every option, `--help` included, in declaration order. */
  readonly options: readonly OptionInfo[];
  /**
   * False for an external command whose module exports no `parser(argv)`:
   * its options cannot be read, so only `--help` is listed (a test requires
   * every registered command to have them listed).
   */
  readonly optionsListed: boolean;
}

/** The table of every command, and the options of `gemfetch` with no command word. */
export interface CommandTable {
  readonly commands: readonly CommandInfo[];
  /** Options valid before any command word: the fetch command's and `--version`. */
  readonly topLevel: readonly OptionInfo[];
}

/** The parts of yargs' internals read here (stable across yargs 17 and 18). */
interface CommandHandler {
  original: string;
  description: string | false;
  builder: ((y: Argv) => Argv | void) | Record<string, unknown>;
}
interface YargsInternals {
  getOptions(): YargsOptions;
  getInternalMethods(): {
    getCommandInstance(): { getCommandHandlers(): Record<string, CommandHandler> };
    getUsageInstance(): { getDescriptions(): Record<string, string | undefined> };
  };
}

/** What yargs' `getOptions()` gives (the parts used here). */
interface YargsOptions {
  key: Record<string, boolean>;
  alias: Record<string, string[]>;
  boolean: string[];
  number: string[];
  string: string[];
  choices: Record<string, string[]>;
  default: Record<string, unknown>;
  defaultDescription: Record<string, string>;
  hiddenOptions: string[];
}

/**
 * The options `parser` declares, hidden ones left out, with their
 * descriptions, defaults and choices. Names in `positionals` are left out
 * (yargs stores positionals as options outside a command context).
 */
export function optionsOf(parser: Argv, positionals: readonly string[] = []): OptionInfo[] {
  const raw = (parser as unknown as YargsInternals).getOptions();
  const descriptions = (parser as unknown as YargsInternals).getInternalMethods().getUsageInstance().getDescriptions();
  const aliasOf = new Set(Object.values(raw.alias).flat());
  const hidden = new Set(raw.hiddenOptions);
  const out: OptionInfo[] = [];
  for (const key of Object.keys(raw.key)) {
    if (aliasOf.has(key) && descriptions[key] === undefined) continue;
    if (hidden.has(key) || positionals.includes(key)) continue;
    const aliases = [...(raw.alias[key] ?? [])].sort((a, b) => a.length - b.length);
    // `.option('f', { alias: 'file' })`: the long name is the alias.
    const long = key.length === 1 && aliases.some((a) => a.length > 1) ? aliases.find((a) => a.length > 1)! : key;
    const names = [key, ...aliases].filter((n) => n !== long);
    const type = raw.boolean.includes(key) ? 'boolean' : raw.number.includes(key) ? 'number' : 'string';
    const value = raw.default[key];
    const defaultText = raw.defaultDescription[key] ?? (value === undefined ? undefined : String(value));
    out.push({
      name: long,
      aliases: names.sort((a, b) => a.length - b.length),
      type,
      describe: (descriptions[key] ?? '').replace(/^__yargsString__:/, ''),
      defaultText,
      choices: raw.choices[key],
    });
  }
  return out;
}

/** Positional names of a yargs command string (`tofu <action> [host]`). */
function positionalsOf(command: string): Array<{ name: string; required: boolean }> {
  return [...command.matchAll(/([<[])([^>\]]+)[>\]]/g)].map((m) => ({ name: m[2]!.replace(/\.\.$/, ''), required: m[1] === '<' }));
}

/**
 * Builds the command table from the registered commands (see the module
 * comment). Loads yargs and every command module: for `--help`-like uses
 * (completion script, man page, tests), never on a fetch. A module without
 * `parser(argv)` gives a command with `optionsListed: false`.
 */
export async function commandTable(): Promise<CommandTable> {
  const main = await inspectionParser();
  const handlers = (main as unknown as YargsInternals).getInternalMethods().getCommandInstance().getCommandHandlers();
  const commands: CommandInfo[] = [];
  let fetchOptions: OptionInfo[] = [];
  for (const [name, handler] of Object.entries(handlers)) {
    const summary = typeof handler.description === 'string' ? handler.description : '';
    let parser: Argv;
    let listed = true;
    if (Object.hasOwn(EXTERNAL_COMMANDS, name)) {
      const modulePath = `./commands/${name}.js`;
      const mod = (await import(modulePath)) as { parser?: (argv: string[]) => Argv };
      // Without parser(argv) the command still completes and has a man section, with --help only.
      parser = typeof mod.parser === 'function' ? mod.parser([]) : yargs([]).help();
      listed = typeof mod.parser === 'function';
    } else {
      parser = yargs([]).help();
      if (typeof handler.builder === 'function') parser = handler.builder(parser) ?? parser;
    }
    // An external command's stub takes `[args..]`: its own parser reads them.
    const positionals = Object.hasOwn(EXTERNAL_COMMANDS, name) ? [] : positionalsOf(handler.original);
    const options = optionsOf(parser, positionals.map((p) => p.name));
    const positionalInfo = (parser as unknown as YargsInternals).getOptions().choices;
    const descriptions = (parser as unknown as YargsInternals).getInternalMethods().getUsageInstance().getDescriptions();
    commands.push({
      name,
      summary: summary.replace(/ \(see gemfetch \w+ --help\)$/, ''),
      positionals: positionals.map((p) => ({ ...p, choices: positionalInfo[p.name], describe: descriptions[p.name] ?? '' })),
      options,
      optionsListed: listed,
    });
    if (name === 'fetch') fetchOptions = options;
  }
  const globals = optionsOf(main).filter((o) => !fetchOptions.some((f) => f.name === o.name));
  return { commands, topLevel: [...fetchOptions, ...globals] };
}
