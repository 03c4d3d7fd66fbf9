/**
 * Options that take one value, given more than once (`-o a -o b`): yargs
 * collects the values into an array, which no command expects. They are
 * refused with a usage error naming the option, never guessed at.
 */
import type { Argv } from 'yargs';
import { UsageError } from './usage-error.js';

/**
 * Throws a {@link UsageError} naming the first option of `singleValued`
 * (long names, kebab-case) that `args` holds several values for.
 */
export function rejectRepeatedOptions(args: Readonly<Record<string, unknown>>, singleValued: Iterable<string>): void {
  for (const name of singleValued) {
    const value = args[name];
    if (!Array.isArray(value)) continue;
    // `--id a --no-id`: yargs gives ['a', false]; that is two options contradicting each other, not a repetition.
    if (value.includes(false)) throw new UsageError(`--${name} and --no-${name} contradict each other`, { what: 'conflicting options', which: `--${name}, --no-${name}` });
    const shown = value.map((v) => JSON.stringify(String(v))).join(', ');
    throw new UsageError(`--${name} may be given only once (got ${value.length} values: ${shown})`);
  }
}

/** What yargs' getOptions() reports that is used here. */
interface DeclaredOptions {
  alias: Record<string, string[]>;
  array: string[];
  string: string[];
  number: string[];
}

/** The long names of the string and number options declared on `parser` that are not arrays (aliases left out). */
export function singleValuedOptions(parser: Argv): string[] {
  // getOptions() is public in yargs but missing from its type definitions.
  const declared = (parser as unknown as { getOptions(): DeclaredOptions }).getOptions();
  const aliases = new Set(Object.values(declared.alias).flat());
  const arrays = new Set(declared.array);
  return [...declared.string, ...declared.number].filter((name) => !arrays.has(name) && !aliases.has(name));
}

/** Makes `parser` refuse a repeated single-value option (checked once the arguments are parsed). */
export function refuseRepeatedOptions<T>(parser: Argv<T>): Argv<T> {
  return parser.middleware((args) => rejectRepeatedOptions(args as Record<string, unknown>, singleValuedOptions(parser as unknown as Argv)));
}
