/**
 * Number options given an empty value (`--max-failures ""`, `--retries=`) or
 * negated (`--no-max-failures`): yargs reads them as 0, and 0 turns most of
 * them into "none" or "never" (`--max-failures 0`: never set a host aside). A script's unset variable
 * (`--max-failures "$N"`) must not switch a guard off: such a value is
 * refused with a usage error naming the option.
 */
import type { Argv } from 'yargs';
import { UsageError } from './usage-error.js';

/** What yargs' getOptions() reports that is used here. */
interface DeclaredOptions {
  alias: Record<string, string[]>;
  number: string[];
}

/**
 * Throws a {@link UsageError} for the first of `numberOptions` (names and
 * aliases, without dashes) that `argv` gives an empty value, as `--name ""`,
 * `--name=`, `-x ""` or `-x=`, spelt as yargs also takes them: `--nameInCamelCase`,
 * and `-x` last in a cluster of short options (`-qx ""`, `-qx=`: the last one
 * takes the value). A number option negated (`--no-max-pages`, which yargs
 * reads as 0: no page at all) is refused too. Words after `--` are operands,
 * never looked at.
 */
export function rejectEmptyNumbers(argv: readonly string[], numberOptions: ReadonlySet<string>): void {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') return;
    const option = /^-(-?)([^=]+)(?:=(.*))?$/s.exec(word);
    if (!option) continue;
    // `--maxFailures` is yargs' camelCase spelling of --max-failures; `-qj` gives its value to -j.
    const name = option[1] === '-' ? option[2]! : option[2]!.slice(-1);
    const negated = option[1] === '-' ? /^no-?(.+)$/.exec(name)?.[1] : undefined;
    if (negated !== undefined && isNumberOption(numberOptions, negated.replace(/^[A-Z]/, (c) => c.toLowerCase()))) {
      throw new UsageError(`--${negated} takes a number (this would be read as 0): give one, or leave the option out for its default`, { what: 'negated number option', which: `--${name}` });
    }
    if (!isNumberOption(numberOptions, name)) continue;
    const value = option[3] ?? argv[i + 1];
    if (value !== undefined && value.trim() === '') {
      const shown = name.length === 1 ? `-${name}` : `--${name}`;
      throw new UsageError(`${shown} needs a number, not an empty value`);
    }
  }
}

/** Whether `name` (dashed, or in yargs' camelCase spelling) is one of `numberOptions`. */
function isNumberOption(numberOptions: ReadonlySet<string>, name: string): boolean {
  return numberOptions.has(name) || numberOptions.has(name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
}

/** The number options declared on `parser`, with their aliases. */
function numberOptionsOf(parser: Argv): Set<string> {
  // getOptions() is public in yargs but missing from its type definitions.
  const declared = (parser as unknown as { getOptions(): DeclaredOptions }).getOptions();
  const names = new Set<string>();
  for (const name of declared.number) {
    names.add(name);
    for (const alias of declared.alias[name] ?? []) names.add(alias);
  }
  return names;
}

/** Makes `parser` refuse an empty value of any of its number options in `argv` (checked when the arguments are parsed). */
export function refuseEmptyNumbers<T>(parser: Argv<T>, argv: readonly string[]): Argv<T> {
  return parser.middleware(() => rejectEmptyNumbers(argv, numberOptionsOf(parser as unknown as Argv)), true);
}
