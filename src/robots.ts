/**
 * robots.txt for Gemini (the "robots.txt for Gemini" companion specification).
 *
 * Bots obey the `*` group and the groups of the virtual agents matching their
 * purpose (`archiver`, `indexer`, `researcher`, `webproxy`) and may obey their own
 * name. The companion spec defines only `User-agent:` and `Disallow:`; this parser
 * also understands `Allow:` as an extension (see {@link parseRobots}).
 */

/** One group: consecutive `User-agent:` lines followed by their rules. */
export interface RobotsGroup {
  /** Agent names of the group, lower-cased, as written otherwise. */
  readonly agents: readonly string[];
  /** Non-empty `Disallow:` values, in order. */
  readonly disallow: readonly string[];
  /** Non-empty `Allow:` values, in order (extension to the companion spec). */
  readonly allow: readonly string[];
}

/** Access rules for one bot, built by {@link parseRobots}. */
export interface RobotsRules {
  /**
   * Whether the bot may fetch `path` (the URL path, optionally with `?query`,
   * percent-encoded as it appears in the URL; `''` means `/`).
   */
  isAllowed(path: string): boolean;
  /** Every group of the file, whether or not it applies to this bot. */
  readonly groups: readonly RobotsGroup[];
  /** The groups that apply to this bot (`*` and the requested agents). */
  readonly applicableGroups: readonly RobotsGroup[];
}

interface MutableGroup {
  agents: string[];
  disallow: string[];
  allow: string[];
}

const FIELD_LINE = /^([A-Za-z-]+)[ \t]*:[ \t]*(.*)$/;

/**
 * Parses a robots.txt body for a bot that answers to `agents` (e.g.
 * `['researcher', 'mybot']`); `*` always applies too. Agent names compare
 * case-insensitively.
 *
 * Parsing is lenient: a BOM, CRLF or LF line endings, `#` comments (whole-line
 * or trailing), blank lines and junk lines (anything that is not a known field,
 * e.g. gemtext headings or links when the file is served as text/gemini) are
 * ignored. Consecutive `User-agent:` lines form one group; a `User-agent:` after
 * a rule starts a new group; rules before any `User-agent:` are ignored. An empty
 * `Disallow:` disallows nothing.
 *
 * Decision, as the companion spec asks: rules of all applicable groups are
 * combined (union), not "most specific group wins" as on the web. A path is
 * disallowed when it starts with a `Disallow` value. `Allow:` (an extension) is
 * honoured by longest match: when an `Allow` value that is a prefix of the path is
 * at least as long as the longest matching `Disallow` value, the path is allowed.
 * Without `Allow:` lines this is exactly the companion spec's prefix rule.
 *
 * Paths compare as raw strings (no wildcards, no `$`), except that the hex digits
 * of percent escapes are upper-cased on both sides, so `%7e` matches `%7E`.
 */
export function parseRobots(text: string, agents: string[]): RobotsRules {
  const groups = parseGroups(text);
  const wanted = new Set(['*', ...agents.map((a) => a.trim().toLowerCase())]);
  const applicable = groups.filter((g) => g.agents.some((a) => wanted.has(a)));
  const disallow = applicable.flatMap((g) => g.disallow).map(normalizePath);
  const allow = applicable.flatMap((g) => g.allow).map(normalizePath);
  return {
    groups,
    applicableGroups: applicable,
    isAllowed(path: string): boolean {
      const target = normalizePath(path === '' ? '/' : path);
      const denied = longestPrefix(disallow, target);
      if (denied < 0) return true;
      return longestPrefix(allow, target) >= denied;
    },
  };
}

function parseGroups(text: string): RobotsGroup[] {
  const groups: MutableGroup[] = [];
  let current: MutableGroup | undefined;
  let collectingAgents = false;
  for (const rawLine of text.replace(/^\uFEFF/, '').split(/\r?\n|\r/)) {
    const field = parseField(rawLine);
    if (field === undefined) continue;
    const [name, value] = field;
    if (name === 'user-agent') {
      if (!collectingAgents || current === undefined) {
        current = { agents: [], disallow: [], allow: [] };
        groups.push(current);
        collectingAgents = true;
      }
      if (value !== '') current.agents.push(value.toLowerCase());
    } else if (name === 'disallow' || name === 'allow') {
      collectingAgents = false;
      if (current !== undefined && value !== '') current[name].push(value);
    }
  }
  return groups;
}

/** `[lower-cased field name, value]` of a field line, or undefined for comments, blanks and junk. */
function parseField(line: string): [string, string] | undefined {
  const hash = line.indexOf('#');
  const content = (hash >= 0 ? line.slice(0, hash) : line).trim();
  const match = FIELD_LINE.exec(content);
  if (match === null) return undefined;
  return [match[1]!.toLowerCase(), match[2]!.trim()];
}

function normalizePath(path: string): string {
  return path.replace(/%[0-9a-fA-F]{2}/g, (escape) => escape.toUpperCase());
}

/** Length of the longest entry of `prefixes` that starts `path`, or -1. */
function longestPrefix(prefixes: readonly string[], path: string): number {
  let best = -1;
  for (const prefix of prefixes) {
    if (prefix.length > best && path.startsWith(prefix)) best = prefix.length;
  }
  return best;
}
