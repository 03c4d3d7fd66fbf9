/**
 * robots.txt for Gemini (the "robots.txt for Gemini" companion specification).
 *
 * Bots obey the `*` group and the groups of the virtual agents matching their
 * purpose (`archiver`, `indexer`, `researcher`, `webproxy`) and may obey their own
 * name. The companion spec defines only `User-agent:` and `Disallow:`; this parser
 * also understands `Allow:` and the `*` / `$` patterns of the web's robots.txt,
 * which capsules use (see {@link parseRobots}).
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
  /** The groups that apply to this bot (its names and `*`), most specific first. */
  readonly applicableGroups: readonly RobotsGroup[];
}

interface MutableGroup {
  agents: string[];
  disallow: string[];
  allow: string[];
}

/** One `Allow:` or `Disallow:` value, ready to match. */
interface Rule {
  readonly allow: boolean;
  /** Length of the pattern as written (normalised): the longest match wins. */
  readonly length: number;
  matches(path: string): boolean;
}

const FIELD_LINE = /^([A-Za-z-]+)[ \t]*:[ \t]*(.*)$/;

/** Patterns longer than this are ignored (no real path is that long; it bounds the matching work). */
export const MAX_ROBOTS_PATTERN_LENGTH = 2048;

/**
 * Parses a robots.txt body for a bot that answers to `agents`, most specific
 * first (its own name, then its virtual agent: `['gemfetch', 'researcher']`);
 * `*` always applies, as the least specific. Agent names compare
 * case-insensitively.
 *
 * Parsing is lenient: a BOM, CRLF or LF line endings, `#` comments (whole-line
 * or trailing), blank lines and junk lines (anything that is not a known field,
 * e.g. gemtext headings or links when the file is served as text/gemini; also
 * fields such as `Crawl-delay:` that have no meaning here) are ignored.
 * Consecutive `User-agent:` lines form one group; a `User-agent:` after a rule
 * starts a new group; rules before any `User-agent:` are ignored. An empty
 * `Disallow:` disallows nothing.
 *
 * Decision: the applicable groups are consulted from the most specific agent
 * to `*`. Within one agent's groups the longest matching rule decides, `Allow`
 * winning a tie (as RFC 9309 does on the web); when no rule of that agent
 * matches the path, the next agent's groups are asked, and a path no rule
 * matches is allowed. So the companion spec's union of `*` and the virtual agent
 * holds for every path the more specific group does not mention, and a
 * specific group can still `Allow` what `*` disallows.
 *
 * Patterns: a value matches a path it is a prefix of; `*` matches any run of
 * characters and a final `$` anchors the end (both are used in Geminispace).
 * Paths compare as raw strings otherwise (no decoding), except that the hex
 * digits of percent escapes are upper-cased on both sides, so `%7e` matches
 * `%7E`. Matching is linear in the path per rule segment (no backtracking).
 */
export function parseRobots(text: string, agents: string[]): RobotsRules {
  const groups = parseGroups(text);
  const tiers = [...new Set([...agents.map((a) => a.trim().toLowerCase()).filter((a) => a !== '' && a !== '*'), '*'])];
  const tierGroups = tiers.map((agent) => groups.filter((g) => g.agents.includes(agent)));
  const tierRules = tierGroups.map((gs) => gs.flatMap(groupRules));
  const applicable = [...new Set(tierGroups.flat())];
  return {
    groups,
    applicableGroups: applicable,
    isAllowed(path: string): boolean {
      const target = normalizePath(path === '' ? '/' : path);
      for (const rules of tierRules) {
        const verdict = longestMatch(rules, target);
        if (verdict !== undefined) return verdict;
      }
      return true;
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

function groupRules(group: RobotsGroup): Rule[] {
  const rules: Rule[] = [];
  for (const value of group.disallow) if (value.length <= MAX_ROBOTS_PATTERN_LENGTH) rules.push(compileRule(value, false));
  for (const value of group.allow) if (value.length <= MAX_ROBOTS_PATTERN_LENGTH) rules.push(compileRule(value, true));
  return rules;
}

function compileRule(value: string, allow: boolean): Rule {
  const pattern = normalizePath(value);
  const anchored = pattern.endsWith('$');
  const body = anchored ? pattern.slice(0, -1) : pattern;
  const length = pattern.length;
  if (!body.includes('*')) {
    return anchored ? { allow, length, matches: (path) => path === body } : { allow, length, matches: (path) => path.startsWith(body) };
  }
  const parts = body.split('*');
  return { allow, length, matches: (path) => matchesWildcard(parts, anchored, path) };
}

/**
 * Whether `path` matches the pattern `parts.join('*')` (prefix match, or whole
 * match when `anchored`). The first part must start the path, the last must end
 * it when anchored, and the middle parts are found left to right: taking the
 * earliest occurrence of each is always right for `*`-only patterns.
 */
function matchesWildcard(parts: readonly string[], anchored: boolean, path: string): boolean {
  const first = parts[0]!;
  if (!path.startsWith(first)) return false;
  let at = first.length;
  const lastIndex = parts.length - 1;
  for (let i = 1; i < lastIndex; i++) {
    const found = path.indexOf(parts[i]!, at);
    if (found < 0) return false;
    at = found + parts[i]!.length;
  }
  const last = parts[lastIndex]!;
  if (!anchored) return path.indexOf(last, at) >= 0;
  return path.length - last.length >= at && path.endsWith(last);
}

function normalizePath(path: string): string {
  return path.replace(/%[0-9a-fA-F]{2}/g, (escape) => escape.toUpperCase());
}

/** The verdict of the longest rule matching `path` (Allow on a tie), or undefined when none matches. */
function longestMatch(rules: readonly Rule[], path: string): boolean | undefined {
  let best = -1;
  let allowed: boolean | undefined;
  for (const rule of rules) {
    if (rule.length < best || !rule.matches(path)) continue;
    if (rule.length > best) {
      best = rule.length;
      allowed = rule.allow;
    } else if (rule.allow) {
      allowed = true;
    }
  }
  return allowed;
}
