/**
 * Gemini URL parsing, normalisation and RFC 3986 reference resolution.
 *
 * Pure functions, no I/O. The WHATWG `URL` class treats `gemini:` as a
 * non-special scheme (opaque host, no punycode, default port kept), so this
 * module splits and resolves URLs itself (RFC 3986) and only borrows Node's
 * host parsers for IDN and IP literals.
 */
import { domainToASCII, domainToUnicode } from 'node:url';
import { isIPv4 } from 'node:net';
import { InvalidUrlError } from '../errors.js';

/** Maximum length of a request URL in bytes (UTF-8), CRLF not counted. */
export const MAX_REQUEST_BYTES = 1024;

/** The port used when a gemini URL names none. */
export const DEFAULT_PORT = 1965;

/** A validated, normalised gemini URL ready to be requested. */
export interface GeminiUrl {
  /**
   * Normalised absolute URL exactly as sent on the wire (without CRLF): lowercase
   * scheme, ASCII host (punycode), default port dropped, dot segments removed,
   * empty path sent as "/", fragment removed, path and query percent-encoded
   * where needed (existing `%XX` escapes kept as they are). Pure ASCII, at most
   * {@link MAX_REQUEST_BYTES} bytes.
   */
  href: string;
  /** Host to connect to: lowercase ASCII name, or IP literal without brackets ("::1", "127.0.0.1"). */
  host: string;
  /** TCP port; 1965 when the URL names none. */
  port: number;
  /** SNI server name: the ASCII host name; `undefined` for IPv4/IPv6 literals. */
  servername: string | undefined;
  /** Key for TOFU pins and per-host state: "example.org:1965", "[::1]:1965", "127.0.0.1:1965". */
  hostPort: string;
  /** Normalised, percent-encoded path; always starts with "/". */
  path: string;
  /** Percent-encoded query without the "?"; "" when absent or empty (see {@link hasQuery}). */
  query: string;
  /** Whether the URL has a "?" (so "gemini://h/?" keeps its empty query in `href`). */
  hasQuery: boolean;
}

/** The five RFC 3986 components; `undefined` means the component is absent (not empty). */
interface UriParts {
  scheme: string | undefined;
  authority: string | undefined;
  path: string;
  query: string | undefined;
  fragment: string | undefined;
}

const SCHEME_RE = /^([A-Za-z][A-Za-z0-9+.-]*):/;
// Characters WHATWG strips around a URL: C0 controls and space.
const SURROUNDING_JUNK_RE = /^[\u0000-\u0020]+|[\u0000-\u0020]+$/g;
const FORBIDDEN_RE = /[\r\n\u0000]/;
const HEX_RE = /^[0-9A-Fa-f]{2}$/;
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Whether `text` holds a UTF-16 surrogate without its other half (which UTF-8 cannot hold: it becomes U+FFFD). */
export function hasLoneSurrogate(text: string): boolean {
  LONE_SURROGATE_RE.lastIndex = 0;
  return LONE_SURROGATE_RE.test(text);
}

// RFC 3986 pchar minus "%": unreserved, sub-delims, ":" and "@".
const PCHAR = "A-Za-z0-9\\-._~!$&'()*+,;=:@";
const PATH_SAFE_RE = new RegExp(`[${PCHAR}/]`);
const QUERY_SAFE_RE = new RegExp(`[${PCHAR}/?]`);

function quoteUrl(url: string): string {
  const shown = url.length > 120 ? `${url.slice(0, 120)}…` : url;
  return JSON.stringify(shown);
}

/** A URL that is not a string at all (from JavaScript callers, e.g. a number in a batch's list). */
function notAString(input: unknown): InvalidUrlError {
  const shown = String(input).slice(0, 100);
  return new InvalidUrlError(`invalid gemini URL ${shown}: not a string (a ${input === null ? 'null' : typeof input})`, { url: shown });
}

function invalid(input: string, reason: string): InvalidUrlError {
  return new InvalidUrlError(`invalid gemini URL ${quoteUrl(input)}: ${reason}`, { url: input });
}

/** Splits a URI reference into its RFC 3986 components (Appendix B, with a validated scheme). */
function splitUri(s: string): UriParts {
  let rest = s;
  let scheme: string | undefined;
  const m = SCHEME_RE.exec(rest);
  if (m) {
    scheme = m[1];
    rest = rest.slice(m[0].length);
  }
  let fragment: string | undefined;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    fragment = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
  }
  let query: string | undefined;
  const qmark = rest.indexOf('?');
  if (qmark >= 0) {
    query = rest.slice(qmark + 1);
    rest = rest.slice(0, qmark);
  }
  let authority: string | undefined;
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const end = slash < 0 ? rest.length : slash;
    authority = rest.slice(2, end);
    rest = rest.slice(end);
  }
  return { scheme, authority, path: rest, query, fragment };
}

function joinUri(p: UriParts): string {
  let s = '';
  if (p.scheme !== undefined) s += `${p.scheme}:`;
  if (p.authority !== undefined) s += `//${p.authority}`;
  s += p.path;
  if (p.query !== undefined) s += `?${p.query}`;
  if (p.fragment !== undefined) s += `#${p.fragment}`;
  return s;
}

function dropLastSegment(output: string): string {
  return output.slice(0, Math.max(0, output.lastIndexOf('/')));
}

/** RFC 3986 5.2.4. ".." above the root is dropped, so the result never climbs out of "/". */
function removeDotSegments(path: string): string {
  let input = path;
  let output = '';
  while (input.length > 0) {
    if (input.startsWith('../')) input = input.slice(3);
    else if (input.startsWith('./')) input = input.slice(2);
    else if (input.startsWith('/./')) input = input.slice(2);
    else if (input === '/.') input = '/';
    else if (input.startsWith('/../')) {
      input = input.slice(3);
      output = dropLastSegment(output);
    } else if (input === '/..') {
      input = '/';
      output = dropLastSegment(output);
    } else if (input === '.' || input === '..') input = '';
    else {
      const next = input.indexOf('/', input.startsWith('/') ? 1 : 0);
      const end = next < 0 ? input.length : next;
      output += input.slice(0, end);
      input = input.slice(end);
    }
  }
  return output;
}

/** RFC 3986 5.2.3. */
function mergePaths(base: UriParts, refPath: string): string {
  if (base.authority !== undefined && base.path === '') return `/${refPath}`;
  return base.path.slice(0, base.path.lastIndexOf('/') + 1) + refPath;
}

function cleanReference(s: string, what: string): string {
  if (FORBIDDEN_RE.test(s)) {
    throw new InvalidUrlError(`${what} ${quoteUrl(s)} contains a CR, LF or NUL character`, { url: s });
  }
  return s.replace(SURROUNDING_JUNK_RE, '');
}

/**
 * Resolves any URI reference (link target, redirect META) against an absolute
 * base URL, per RFC 3986 section 5.2 (strict).
 *
 * - Leading/trailing spaces and C0 controls of both arguments are ignored.
 * - A reference with a scheme is returned as written (scheme lowercased), so
 *   `gopher:`, `https:`, `mailto:`... URLs come back untouched. Any scheme may result.
 * - Scheme-relative references (`//host/p`) take the base's scheme.
 * - Dot segments are removed; ".." above the root stays at "/".
 * - The reference's fragment is kept; the result is not validated as a gemini
 *   URL and not percent-encoded (pass it to {@link parseGeminiUrl} for that).
 *
 * @throws InvalidUrlError (`ERR_INVALID_URL`) if `base` has no scheme, or either
 *   argument contains CR, LF or NUL.
 */
export function resolveReference(base: string, ref: string): string {
  const b = splitUri(cleanReference(base, 'base URL'));
  const r = splitUri(cleanReference(ref, 'URL reference'));
  if (b.scheme === undefined) {
    throw new InvalidUrlError(`cannot resolve ${quoteUrl(ref)}: base URL ${quoteUrl(base)} is not absolute`, {
      url: base,
    });
  }
  if (r.scheme !== undefined) return joinUri({ ...r, scheme: r.scheme.toLowerCase() });

  const t: UriParts = { scheme: b.scheme.toLowerCase(), authority: b.authority, path: '', query: r.query, fragment: r.fragment };
  if (r.authority !== undefined) {
    t.authority = r.authority;
    t.path = removeDotSegments(r.path);
  } else if (r.path === '') {
    t.path = b.path;
    t.query = r.query ?? b.query;
  } else if (r.path.startsWith('/')) {
    t.path = removeDotSegments(r.path);
  } else {
    t.path = removeDotSegments(mergePaths(b, r.path));
  }
  return joinUri(t);
}

/** Percent-encodes everything outside `safe` (UTF-8), keeping valid `%XX` escapes and encoding a stray "%". */
function percentEncode(s: string, safe: RegExp): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '%') {
      out += HEX_RE.test(s.slice(i + 1, i + 3)) ? '%' : '%25';
    } else if (ch.charCodeAt(0) < 0x80 && safe.test(ch)) {
      out += ch;
    } else {
      const cp = s.codePointAt(i)!;
      const char = String.fromCodePoint(cp);
      if (char.length === 2) i++;
      for (const byte of Buffer.from(char, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

interface ParsedHost {
  host: string;
  hrefHost: string;
  isIp: boolean;
  port: number;
}

function parsePort(input: string, port: string): number {
  if (port === '') return DEFAULT_PORT;
  if (!/^[0-9]+$/.test(port)) throw invalid(input, `port ${JSON.stringify(port)} is not a decimal number`);
  const n = Number(port);
  if (n < 1 || n > 65535) throw invalid(input, `port ${port} is out of range (1-65535)`);
  return n;
}

function parseIpv6Authority(input: string, authority: string): ParsedHost {
  const close = authority.indexOf(']');
  if (close < 0) throw invalid(input, 'IPv6 literal has no closing "]"');
  const literal = authority.slice(1, close);
  const after = authority.slice(close + 1);
  if (after !== '' && !after.startsWith(':')) throw invalid(input, `unexpected ${JSON.stringify(after)} after the IPv6 literal`);
  let canonical: string | undefined;
  if (/^[0-9A-Fa-f:.]+$/.test(literal)) {
    try {
      canonical = new URL(`http://[${literal}]/`).hostname.slice(1, -1);
    } catch {
      canonical = undefined;
    }
  }
  if (canonical === undefined) throw invalid(input, `invalid IPv6 literal [${literal}]`);
  return { host: canonical, hrefHost: `[${canonical}]`, isIp: true, port: parsePort(input, after.slice(1)) };
}

const LABEL_RE = /^[a-z0-9_-]{1,63}$/;

/**
 * An `xn--` label must decode. Node 20 rejects bad ones in domainToASCII; newer
 * versions pass them through, and domainToUnicode then leaves them undecoded.
 */
function isValidPunycode(label: string): boolean {
  return !label.startsWith('xn--') || !domainToUnicode(label).startsWith('xn--');
}

function toAsciiHost(input: string, name: string): string {
  if (/[\u0000-\u0020\u007F]/.test(name)) throw invalid(input, 'host contains whitespace or control characters');
  let ascii = domainToASCII(name);
  if (isIPv4(ascii)) return ascii;
  if (ascii.endsWith('.')) ascii = ascii.slice(0, -1); // "example.org." is the same host
  if (ascii === '' || ascii.length > 253 || !ascii.split('.').every((label) => LABEL_RE.test(label) && isValidPunycode(label))) {
    throw invalid(input, `invalid host name ${JSON.stringify(name)}`);
  }
  return ascii;
}

function parseAuthority(input: string, authority: string): ParsedHost {
  if (authority.includes('@')) throw invalid(input, 'userinfo ("user@") is not allowed in gemini URLs');
  if (authority.startsWith('[')) return parseIpv6Authority(input, authority);
  const colon = authority.lastIndexOf(':');
  const name = colon < 0 ? authority : authority.slice(0, colon);
  const port = colon < 0 ? '' : authority.slice(colon + 1);
  if (name === '') throw invalid(input, 'empty host');
  if (name.includes(':')) throw invalid(input, 'IPv6 addresses must be written in brackets, e.g. gemini://[::1]/');
  const host = toAsciiHost(input, name);
  return { host, hrefHost: host, isIp: isIPv4(host), port: parsePort(input, port) };
}

/**
 * Parses, validates and normalises a gemini URL (see {@link GeminiUrl} for the
 * normal form). A relative `input` is resolved against `base` when given.
 * Surrounding spaces/C0 controls are ignored; whitespace and non-ASCII inside
 * the path or query are percent-encoded; the fragment is dropped.
 *
 * @throws InvalidUrlError `ERR_INVALID_URL` if the URL is relative without a
 *   base, not `gemini:`, has userinfo, an empty or invalid host, an invalid
 *   port, a leading U+FEFF, or contains CR, LF or NUL; `ERR_URL_TOO_LONG` if
 *   the normalised `href` exceeds {@link MAX_REQUEST_BYTES} bytes.
 */
export function parseGeminiUrl(input: string, base?: string): GeminiUrl {
  if (typeof input !== 'string') throw notAString(input);
  if (input.startsWith('\uFEFF')) throw invalid(input, 'starts with a byte order mark (U+FEFF)');
  if (FORBIDDEN_RE.test(input)) throw invalid(input, 'contains a CR, LF or NUL character');
  const absolute = base === undefined ? input.replace(SURROUNDING_JUNK_RE, '') : resolveReference(base, input);
  const parts = splitUri(absolute);
  if (parts.scheme === undefined) throw invalid(input, 'not an absolute URL (no scheme) and no base URL given');
  const scheme = parts.scheme.toLowerCase();
  if (scheme !== 'gemini') throw invalid(input, `not a gemini URL (scheme ${scheme}:)`);
  if (parts.authority === undefined) throw invalid(input, 'no host (expected gemini://host/...)');

  const { host, hrefHost, isIp, port } = parseAuthority(input, parts.authority);
  const path = percentEncode(removeDotSegments(parts.path), PATH_SAFE_RE) || '/';
  const hasQuery = parts.query !== undefined;
  const query = hasQuery ? percentEncode(parts.query!, QUERY_SAFE_RE) : '';
  const portPart = port === DEFAULT_PORT ? '' : `:${port}`;
  const href = `gemini://${hrefHost}${portPart}${path}${hasQuery ? `?${query}` : ''}`;

  const bytes = Buffer.byteLength(href, 'utf8');
  if (bytes > MAX_REQUEST_BYTES) {
    throw new InvalidUrlError(
      `request URL is ${bytes} bytes; the Gemini limit is ${MAX_REQUEST_BYTES}: ${quoteUrl(href)}`,
      { url: input, code: 'ERR_URL_TOO_LONG' },
    );
  }
  return {
    href,
    host,
    port,
    servername: isIp ? undefined : host,
    hostPort: `${hrefHost}:${port}`,
    path,
    query,
    hasQuery,
  };
}

/**
 * Returns the href of `url` with its query replaced by `input`, percent-encoded
 * like `encodeURIComponent` (spaces as %20; "%", "+", "#", "=", "&", "?" all
 * encoded; lone surrogates become U+FFFD). This is how a client answers a 1x
 * input prompt. The result is a valid normalised href.
 *
 * @throws InvalidUrlError `ERR_URL_TOO_LONG` if the resulting URL exceeds
 *   {@link MAX_REQUEST_BYTES}; `ERR_INVALID_URL` if a string `url` is invalid.
 */
export function withInput(url: GeminiUrl | string, input: string): string {
  const u = typeof url === 'string' ? parseGeminiUrl(url) : url;
  const query = encodeURIComponent(input.replace(LONE_SURROGATE_RE, '\uFFFD'));
  const base = u.hasQuery ? u.href.slice(0, u.href.length - u.query.length - 1) : u.href;
  return parseGeminiUrl(`${base}?${query}`).href;
}

/**
 * CLI helper turning what a user typed into a URL string (not validated).
 * Surrounding whitespace is trimmed; input without a scheme gets "gemini://"
 * ("example.org/path", "example.org:1965/", "[::1]/", "//host/p"); input with a
 * scheme ("gemini://...", "https://...", "mailto:...") is returned unchanged.
 */
export function fromUserInput(input: string): string {
  if (typeof input !== 'string') throw notAString(input);
  const s = input.trim();
  if (s.startsWith('//')) return `gemini:${s}`;
  const scheme = SCHEME_RE.exec(s);
  // "host:1965/..." looks like scheme "host": a port number after the colon means it is not one.
  const looksLikeHostPort = /^[A-Za-z0-9.-]+:[0-9]+(?:[/?#]|$)/.test(s);
  if (scheme && !looksLikeHostPort) return s;
  if (s === '') return s;
  return `gemini://${s}`;
}
