/**
 * A small parser for the common command lines of the fetch command
 * (`gemfetch [fetch] [options] URL...`), so a plain fetch starts without
 * loading yargs (which costs more start-up time than the whole library).
 *
 * It reads the same option tables as the yargs configuration
 * (./option-spec.ts) and accepts only what it can parse exactly as yargs
 * would. Anything else — an unknown option, a missing value, a bad choice,
 * a repeated option, an unusual form such as `-k4` or `--json=false` —
 * makes it answer `undefined`, and the caller falls back to yargs, whose
 * messages and behaviour then apply unchanged.
 */
import type { FetchCommandArgs } from './commands/fetch.js';
import { camelCaseKey, FETCH_OPTION_GROUP, OUTPUT_OPTION_GROUP, type OptionGroup, type OptionSpec } from './option-spec.js';

/** Tokens that make yargs do something other than parse options: always left to it. */
const YARGS_ONLY_TOKENS: ReadonlySet<string> = new Set(['--help', '-h', '--version']);

/**
 * Parses `argv` (the arguments after the program name) as the fetch command
 * with the fetch and output options, or returns `undefined` when yargs must
 * decide. `commandWords` are the subcommand names (`fetch`, `tofu`, ...):
 * `fetch` may come first; any other use of a command word falls back.
 *
 * Guaranteed: a non-undefined result deep-equals what the yargs parser gives
 * the fetch command handler (camelCase keys of the options given, defaults,
 * `urls` including those after `--`), and holds at least one URL. Values are
 * not validated beyond their choices and `--max-redirects` being a whole number:
 * requestOptionsFromArgs does that for both paths.
 */
export function fastFetchArgs(argv: readonly string[], commandWords: ReadonlySet<string>): FetchCommandArgs | undefined {
  return parseFast(argv, [FETCH_OPTION_GROUP, OUTPUT_OPTION_GROUP], commandWords) as FetchCommandArgs | undefined;
}

/** The parse of `argv` against `groups`, as `{ camelCaseKey: value, urls }`, or undefined to fall back. */
function parseFast(argv: readonly string[], groups: readonly OptionGroup[], commandWords: ReadonlySet<string>): Record<string, unknown> | undefined {
  if (argv.some((token) => YARGS_ONLY_TOKENS.has(token))) return undefined;
  const specs = groups.flatMap((group) => group.options);
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const byAlias = new Map(specs.filter((spec) => spec.alias !== undefined).map((spec) => [spec.alias!, spec]));
  const given = new Values();
  const urls: string[] = [];

  let i = argv[0] === 'fetch' ? 1 : 0;
  /** Consumes the value token after an option; false when yargs would not take it as one. */
  const nextValue = (spec: OptionSpec): boolean => {
    const value = argv[++i];
    return value !== undefined && (value === '-' || !value.startsWith('-')) && given.setValue(spec, value);
  };
  for (; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      const rest = argv.slice(i + 1);
      if (!rest.every((url) => isPlainExtra(url) && !commandWords.has(url))) return undefined;
      urls.push(...rest);
      break;
    }
    // yargs may take these as the value of a preceding boolean (`--json false`).
    if (token === 'true' || token === 'false') return undefined;
    if (token.startsWith('--')) {
      if (!parseLong(token, byName, given, nextValue)) return undefined;
    } else if (token.startsWith('-') && token !== '-') {
      if (!parseShortGroup(token.slice(1), byAlias, given, nextValue)) return undefined;
    } else {
      // A lone `-` is dropped by yargs; command words are yargs' business.
      if (token === '-' || commandWords.has(token)) return undefined;
      urls.push(token);
    }
  }
  if (urls.length === 0 || given.hasConflict()) return undefined;
  return { ...given.result(specs), urls };
}

/** `--name`, `--no-name`, `--name value` or `--name=value`. */
function parseLong(token: string, byName: Map<string, OptionSpec>, given: Values, nextValue: (spec: OptionSpec) => boolean): boolean {
  const eq = token.indexOf('=');
  const name = eq < 0 ? token.slice(2) : token.slice(2, eq);
  const spec = byName.get(name);
  if (spec === undefined) {
    const negated = name.startsWith('no-') ? byName.get(name.slice(3)) : undefined;
    return eq < 0 && negated?.type === 'boolean' && given.set(negated, false);
  }
  if (spec.type === 'boolean') return eq < 0 && given.set(spec, true);
  return eq < 0 ? nextValue(spec) : given.setValue(spec, token.slice(eq + 1));
}

/** `-k`, `-qv`, or booleans ending with one value option (`-qo FILE`). Digits only alone (`-4`): yargs reads `-k4` its own way. */
function parseShortGroup(letters: string, byAlias: Map<string, OptionSpec>, given: Values, nextValue: (spec: OptionSpec) => boolean): boolean {
  if (letters.length > 1 && /[^A-Za-z]/.test(letters)) return false;
  for (let j = 0; j < letters.length; j++) {
    const spec = byAlias.get(letters[j]!);
    if (spec === undefined) return false;
    if (spec.type === 'boolean') {
      if (!given.set(spec, true)) return false;
    } else if (j !== letters.length - 1 || !nextValue(spec)) {
      return false;
    }
  }
  return true;
}

/**
 * After `--`, yargs turns number-like words into numbers (`0x10` → 16),
 * which would change the URL text: those are left to it.
 */
function isPlainExtra(word: string): boolean {
  return word.trim() !== '' && Number.isNaN(Number(word));
}

/** The options seen so far. */
class Values {
  readonly #values = new Map<OptionSpec, unknown>();

  /** Records a value; false for a repeat of an option that is not repeatable (yargs would make it an array). */
  set(spec: OptionSpec, value: unknown): boolean {
    const previous = this.#values.get(spec);
    if (previous === undefined) {
      this.#values.set(spec, value);
      return true;
    }
    if (!spec.repeatable) return false;
    this.#values.set(spec, [previous, value].flat());
    return true;
  }

  /** Records the text value of a string or number option; false when yargs could read it differently or reject it. */
  setValue(spec: OptionSpec, text: string): boolean {
    if (spec.choices !== undefined && !spec.choices.includes(text)) return false;
    if (spec.type === 'number') return /^\d+$/.test(text) && this.set(spec, Number(text));
    return this.set(spec, text);
  }

  hasConflict(): boolean {
    for (const spec of this.#values.keys()) {
      if (spec.conflicts !== undefined && [...this.#values.keys()].some((other) => other.name === spec.conflicts)) return true;
    }
    return false;
  }

  /** `{ camelCaseKey: value }` for every option given, and the defaults of the others. */
  result(specs: readonly OptionSpec[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const spec of specs) {
      const value = this.#values.has(spec) ? this.#values.get(spec) : spec.default;
      if (value !== undefined) out[camelCaseKey(spec.name)] = value;
    }
    return out;
  }
}
