/**
 * Identity scopes, as the Gemini specification describes client certificate
 * scope: a host, a port and a path prefix, covering that path and everything
 * below it. Pure functions, no I/O.
 *
 * Matching is path-segment aware: the scope `/foo` covers `/foo`, `/foo/` and
 * `/foo/bar`, never `/foobar`; the scope `/foo/` covers `/foo/` and below
 * (not `/foo`); the scope `/` covers the whole host:port. The scheme is not
 * part of a scope: `titan://host/path` is matched exactly as
 * `gemini://host/path` (same host, port and path), so an upload gets the
 * identity its page gets.
 */
import { InvalidOptionError, InvalidUrlError } from '../errors.js';
import { fromUserInput, parseGeminiUrl } from '../protocol/url.js';

/** One scope: where an identity is sent. */
export interface IdentityScope {
  /** Lowercase ASCII host name (punycode) or IP literal without brackets, as in {@link GeminiUrl.host}. */
  host: string;
  /** TCP port (1965 when the URL named none). */
  port: number;
  /** Normalised, percent-encoded path prefix, in the form {@link canonicalScopePath} gives; always starts with "/". */
  path: string;
}

/** What a scope is matched against: the host, port and path of a request URL (a GeminiUrl or TitanUrl has them). */
export interface ScopeTarget {
  host: string;
  port: number;
  path: string;
}

/**
 * Parses what a user gives as a scope: `gemini://host[:port]/path`,
 * `titan://host[:port]/path`, or `host[:port]/path` without a scheme. Host,
 * port and path are normalised as for a request (see parseGeminiUrl); the
 * fragment is dropped.
 * @throws InvalidOptionError naming the scope when it is not such a URL, or
 *   has a query (a scope is a host, a port and a path only).
 */
export function parseScope(text: string): IdentityScope {
  if (typeof text !== 'string' || text.trim() === '') throw new InvalidOptionError(`invalid scope ${JSON.stringify(text)}: expected gemini://HOST[:PORT]/PATH`);
  const typed = fromUserInput(text).replace(/^titan:/i, 'gemini:');
  let url;
  try {
    url = parseGeminiUrl(typed);
  } catch (err) {
    const reason = err instanceof InvalidUrlError ? err.message : String(err);
    throw new InvalidOptionError(`invalid scope ${JSON.stringify(text)}: expected gemini://HOST[:PORT]/PATH (${reason})`);
  }
  if (url.hasQuery) throw new InvalidOptionError(`invalid scope ${JSON.stringify(text)}: a scope is a host, a port and a path; remove the query (?${url.query})`);
  return { host: url.host, port: url.port, path: canonicalScopePath(url.path) };
}

const UNRESERVED_RE = /^[A-Za-z0-9\-._~]$/;

/**
 * The form in which paths are compared for scopes: the RFC 3986 (6.2.2)
 * equivalent spelling with percent-encoded unreserved characters decoded
 * (`%7E` is `~`, `%41` is `A`), the hex digits of other escapes uppercased
 * (`%2f` is `%2F`), then dot segments removed, so an encoded `%2e%2e`
 * climbs like `..` does. `/~alice`, `/%7Ealice` and `/%7ealice` are one
 * path; `/a/%2e%2e/b` is `/b`; `%2F` stays an escape (not a separator).
 * Pure; a path without `%` is returned as it is (already normalised by
 * parseGeminiUrl).
 */
export function canonicalScopePath(path: string): string {
  if (!path.includes('%')) return path;
  const spelled = path.replace(/%([0-9A-Fa-f]{2})/g, (escape: string, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED_RE.test(char) ? char : `%${hex.toUpperCase()}`;
  });
  const out: string[] = [];
  const segments = spelled.split('/').slice(1); // the path starts with "/"
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      if (last) out.push(''); // "/a/b/.." is "/a/", as RFC 3986 5.2.4 gives
      continue;
    }
    out.push(segment);
  }
  return `/${out.join('/')}`;
}

/** The scope as a URL (`gemini://host[:port]/path`, port left out when 1965): how it is shown and stored. */
export function formatScope(scope: IdentityScope): string {
  const host = scope.host.includes(':') ? `[${scope.host}]` : scope.host;
  return `gemini://${host}${scope.port === 1965 ? '' : `:${scope.port}`}${scope.path}`;
}

/** Whether two scopes are the same (same host, port and path). */
export function sameScope(a: IdentityScope, b: IdentityScope): boolean {
  return a.host === b.host && a.port === b.port && a.path === b.path;
}

/**
 * Whether `scope` covers a request to `target`: same host and port, and the
 * target's path is the scope's path or lies below it (segment-aware: see the
 * module comment).
 */
export function scopeCovers(scope: IdentityScope, target: ScopeTarget): boolean {
  if (scope.host !== target.host.toLowerCase() || scope.port !== target.port) return false;
  const prefix = canonicalScopePath(scope.path);
  const path = target.path === '' ? '/' : canonicalScopePath(target.path);
  if (path === prefix) return true;
  return path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

/**
 * The most specific scope covering `target` among every candidate's scopes:
 * the one with the longest path wins. Returns the candidate and the scope,
 * or undefined when none covers it. When two candidates have the same scope
 * (a store never has: see IdentityStore.use), the first one listed wins.
 */
export function mostSpecificScope<T>(
  candidates: readonly T[],
  scopesOf: (candidate: T) => readonly IdentityScope[],
  target: ScopeTarget,
): { candidate: T; scope: IdentityScope } | undefined {
  let best: { candidate: T; scope: IdentityScope } | undefined;
  for (const candidate of candidates) {
    for (const scope of scopesOf(candidate)) {
      if (!scopeCovers(scope, target)) continue;
      if (!best || canonicalScopePath(scope.path).length > canonicalScopePath(best.scope.path).length) best = { candidate, scope };
    }
  }
  return best;
}

/** The scope a request to `target` would be given by default by `gemfetch id use`: its host, port and path. */
export function scopeOfTarget(target: ScopeTarget): IdentityScope {
  return { host: target.host.toLowerCase(), port: target.port, path: target.path === '' ? '/' : canonicalScopePath(target.path) };
}
