/**
 * The options of the fetch command, declared once as plain data. Both the
 * yargs configuration (`--help`, completion, the batch/crawl/survey
 * subcommands) and the fast start-up parser (./fast-args.ts) are built from
 * these tables, so they cannot drift apart.
 *
 * This module imports nothing at run time: it is on the start-up path of
 * every plain fetch.
 */
import type { Argv, Options } from 'yargs';

/** One command-line option. */
export interface OptionSpec {
  /** Long name, kebab-case (`max-size` for `--max-size`); parsed values use its camelCase form. */
  readonly name: string;
  /** One-character short alias (`L` for `-L`). */
  readonly alias?: string;
  /** Value type; every string or number option requires a value. */
  readonly type: 'string' | 'boolean' | 'number';
  /** May be given several times, giving an array when it is (yargs' duplicate-arguments-array). */
  readonly repeatable?: boolean;
  /** The only values accepted. */
  readonly choices?: readonly string[];
  /** Value when the option is not given (only booleans have one). */
  readonly default?: boolean;
  /**
   * The default as shown to people (`--help`'s `[default: 15s]`, the man
   * page) when the value is left unset so the library's default applies.
   * Every option taking a value has one (or a `default`).
   */
  readonly defaultText?: string;
  /** Long name of an option that cannot be given together with this one. */
  readonly conflicts?: string;
  /** One line for `--help`. */
  readonly describe: string;
}

/** A titled group of options, listed together in `--help`. */
export interface OptionGroup {
  /** Heading in `--help` (`Fetch options:`). */
  readonly heading: string;
  readonly options: readonly OptionSpec[];
}

/**
 * Limits, trust, client certificate and network: shared by every command
 * that fetches. Values are kept as typed; fetch-options.ts converts them.
 */
export const FETCH_OPTION_GROUP: OptionGroup = {
  heading: 'Fetch options:',
  options: [
    { name: 'max-size', type: 'string', defaultText: '0 (no limit)', describe: 'stop after this many body bytes (500K, 10M, 1G; 0 = no limit)' },
    { name: 'max-time', type: 'string', defaultText: '0 (none)', describe: 'time limit per request (30s, 2m, 500ms; plain number = seconds; 0 = none)' },
    { name: 'connect-timeout', type: 'string', defaultText: '15s', describe: 'time limit to connect, and for the TLS handshake' },
    { name: 'idle-timeout', type: 'string', defaultText: '60s', describe: 'longest silence while the body streams' },
    { name: 'header-timeout', type: 'string', defaultText: '30s', describe: 'time limit for the response header' },
    {
      name: 'tofu',
      type: 'string',
      choices: ['tofu', 'ca', 'insecure'],
      defaultText: 'tofu',
      describe: "trust mode: tofu = pin each host's key on first use, ca = require a CA-signed certificate, insecure = accept any",
    },
    { name: 'known-hosts', type: 'string', defaultText: '$XDG_DATA_HOME/gemfetch/known_hosts', describe: 'TOFU pin file' },
    { name: 'ca', type: 'string', repeatable: true, defaultText: "the system's CAs", describe: 'extra certificate authority file (PEM); repeatable' },
    { name: 'insecure', alias: 'k', type: 'boolean', describe: 'accept any server certificate (same as --tofu insecure)' },
    { name: 'cert', type: 'string', defaultText: 'none', describe: 'client certificate file (PEM; may also hold the key)' },
    { name: 'key', type: 'string', defaultText: 'the key in --cert', describe: 'private key file of --cert (PEM)' },
    { name: 'id', type: 'string', defaultText: 'the identity scoped to each URL, if any', describe: 'send identity NAME (see gemfetch id) with every request (fetch, put: to the host:ports of the URLs given, never to a redirect to another); --no-id: send none, even where one is in scope' },
    { name: 'ipv4', alias: '4', type: 'boolean', describe: 'use IPv4 only' },
    { name: 'ipv6', alias: '6', type: 'boolean', describe: 'use IPv6 only' },
    { name: 'proxy', type: 'string', defaultText: 'none', describe: 'send requests to this Gemini proxy, HOST[:PORT] (port 1965 by default)' },
    { name: 'location', alias: 'L', type: 'boolean', describe: 'follow redirects (the default, as curl -L; --no-location follows none; the count is --max-redirects)' },
    { name: 'max-redirects', type: 'number', defaultText: '5', describe: 'redirects to follow (0 = none)' },
    { name: 'cross-host', type: 'boolean', describe: 'follow redirects to another host (the default; --no-cross-host stops at them, exit 8)' },
    { name: 'input', type: 'string', conflicts: 'input-file', defaultText: 'none', describe: 'answer to an input prompt (status 10/11), sent as the query (visible in ps: prefer --input-file for secrets)' },
    { name: 'input-file', type: 'string', defaultText: 'none', describe: 'read the answer to an input prompt (10/11) from FILE (- = stdin), one trailing newline removed; keeps secrets out of argv' },
  ],
};

/** Where the body goes and what is printed: the fetch command only. */
export const OUTPUT_OPTION_GROUP: OptionGroup = {
  heading: 'Output options:',
  options: [
    { name: 'output', alias: 'o', type: 'string', conflicts: 'remote-name', defaultText: 'stdout', describe: 'write the body to FILE (- = stdout; an existing FILE is replaced); an incomplete body stays in FILE.partial' },
    { name: 'remote-name', alias: 'O', type: 'boolean', describe: 'write the body to a file named after the URL (index.gmi for /), made shell-safe; never overwrites: NAME.1, NAME.2...' },
    { name: 'output-dir', type: 'string', defaultText: 'the current directory', describe: 'directory for -o/-O files (implies -O); URL names never escape it' },
    { name: 'include', alias: 'i', type: 'boolean', conflicts: 'json', describe: 'print the response header line before the body' },
    { name: 'head', alias: 'I', type: 'boolean', describe: 'print the response header line only, close after it' },
    { name: 'json', type: 'boolean', describe: 'print one JSON record per URL on stdout instead of the body' },
    { name: 'raw', type: 'boolean', describe: 'do not render text/gemini on a terminal (control characters are still removed); show a body in an unknown charset as UTF-8' },
    { name: 'allow-incomplete', type: 'boolean', describe: 'exit 0 for a response that is incomplete but otherwise successful (a saved body still stays in NAME.partial)' },
    { name: 'quiet', alias: 'q', type: 'boolean', describe: 'no warnings, status lines or progress on stderr (errors still shown)' },
    { name: 'verbose', alias: 'v', type: 'boolean', describe: 'show TLS version, cipher, fingerprint, trust decision, redirects, timings' },
    { name: 'color', type: 'boolean', default: true, describe: 'colours on a terminal (--no-color or NO_COLOR=1 to turn off)' },
  ],
};

/** `max-redirects` → `maxRedirects`: the key under which parsers report an option. */
export function camelCaseKey(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Declares every option of `group` on a yargs instance, with its heading in
 * `--help`. Strings and numbers require a value (`requiresArg`); repeatable
 * options are not yargs arrays (an array would swallow the URLs after
 * `--ca FILE`): yargs collects repeated values into an array by itself.
 * `defaults` replaces the shown default (`defaultText`) of the options it
 * names, for a command whose defaults differ (a crawl's 16M `--max-size`).
 * Uses yargs only through the instance given, so importing this module never
 * loads yargs.
 */
export function addOptionGroup<T>(y: Argv<T>, group: OptionGroup, defaults: Readonly<Record<string, string>> = {}): Argv<T> {
  let parser = y;
  for (const spec of group.options) {
    const config: Options = { type: spec.type, describe: spec.describe };
    const defaultText = defaults[spec.name] ?? spec.defaultText;
    if (defaultText !== undefined) config.defaultDescription = defaultText;
    if (spec.alias !== undefined) config.alias = spec.alias;
    if (spec.type !== 'boolean') config.requiresArg = true;
    if (spec.choices !== undefined) config.choices = [...spec.choices];
    if (spec.default !== undefined) config.default = spec.default;
    parser = parser.option(spec.name, config) as unknown as Argv<T>;
  }
  for (const spec of group.options) {
    if (spec.conflicts !== undefined) parser = parser.conflicts(spec.name, spec.conflicts);
  }
  return parser.group(
    group.options.map((spec) => spec.name),
    group.heading,
  );
}
