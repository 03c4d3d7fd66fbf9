/**
 * Titan URLs: `titan://host[:port]/path;mime=TYPE;size=N;token=TEXT`.
 *
 * Titan (Gemini's companion upload protocol) sends the URL of the resource
 * with its parameters appended to the path after semicolons (they are not a
 * query), then the body. Pure functions, no I/O: host, port and path follow
 * the same rules as gemini URLs (see ./url.ts); only the parameters differ.
 */
import { InvalidUrlError } from '../errors.js';
import { hasLoneSurrogate, MAX_REQUEST_BYTES, parseGeminiUrl, type GeminiUrl } from './url.js';

/** The Titan parameters: what the upload is (`mime`), how long (`size`), and an optional `token` (a password some servers ask for). */
export interface TitanParameters {
  mime?: string;
  size?: number;
  token?: string;
}

/**
 * A validated Titan URL, its parameters split off. Its fields mean what
 * {@link GeminiUrl}'s do (`hostPort` is the same key: TOFU pins and sessions
 * are shared with gemini://), except that `href` is
 * `titan://host[:port]/path[?query]` without the parameters.
 */
export interface TitanUrl extends GeminiUrl {
  /** Parameters written in the URL (values percent-decoded). */
  params: TitanParameters;
}

/** The MIME type sent when none is given: Titan's own default. */
export const DEFAULT_TITAN_MIME = 'text/gemini';

/** `type/subtype` made of RFC 2045 token characters that need no percent-encoding in a path (no parameters: `;` would end the Titan parameter). */
const MIME_RE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+$/;
/** A tail of the path made only of Titan parameters; `edit` is matched to be refused clearly. */
const PARAMETERS_TAIL_RE = /^(?:;(?:mime|size|token)=[^;]*|;edit)+$/;

function invalid(input: string, reason: string): InvalidUrlError {
  const shown = input.length > 120 ? `${input.slice(0, 120)}…` : input;
  return new InvalidUrlError(`invalid titan URL ${JSON.stringify(shown)}: ${reason}`, { url: input });
}

/** Whether `value` is a MIME type a Titan request can carry as is (`text/gemini`, `image/png`). */
export function isTitanMime(value: string): boolean {
  return MIME_RE.test(value);
}

/**
 * Parses and validates a Titan URL. Parameters at the end of the path
 * (`;mime=`, `;size=`, `;token=`, in any order) are split off and decoded;
 * a `;` followed by anything else stays part of the path.
 *
 * @throws InvalidUrlError `ERR_INVALID_URL` when the URL is not `titan:`,
 *   has no valid host or port, repeats a parameter, has a bad `size` or
 *   `mime`, or asks for `;edit` (not supported); `ERR_URL_TOO_LONG` as for
 *   gemini URLs.
 */
export function parseTitanUrl(input: string): TitanUrl {
  if (typeof input !== 'string') throw new InvalidUrlError(`URL must be a string (got ${typeof input})`);
  const trimmed = input.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(trimmed);
  if (!scheme) throw invalid(input, 'not an absolute URL (expected titan://host/path)');
  if (scheme[1]!.toLowerCase() !== 'titan') throw invalid(input, `not a titan URL (scheme ${scheme[1]!.toLowerCase()}:)`);
  // Parameters are split off the URL as written: they are not path segments (no dot-segment removal inside a token).
  const { resource, tail } = splitRawParameters(trimmed.slice(scheme[0].length));
  let gemini: GeminiUrl;
  try {
    gemini = parseGeminiUrl(`gemini:${resource}`);
  } catch (err) {
    if (!(err instanceof InvalidUrlError)) throw err;
    if (err.code === 'ERR_URL_TOO_LONG') throw new InvalidUrlError(err.message.replace('gemini://', 'titan://'), { url: input, code: 'ERR_URL_TOO_LONG' });
    throw invalid(input, err.message.replace(/^invalid gemini URL .*?": /, '').replace(/gemini:\/\//g, 'titan://'));
  }
  const path = gemini.path;
  const params = tail === '' ? {} : parseParameters(input, tail);
  const authority = gemini.href.slice('gemini://'.length, gemini.href.length - gemini.path.length - (gemini.hasQuery ? gemini.query.length + 1 : 0));
  return {
    href: `titan://${authority}${path}${gemini.hasQuery ? `?${gemini.query}` : ''}`,
    host: gemini.host,
    port: gemini.port,
    servername: gemini.servername,
    hostPort: gemini.hostPort,
    path,
    query: gemini.query,
    hasQuery: gemini.hasQuery,
    params,
  };
}

/**
 * Splits `//host/path;params?query#fragment` (as written) into the URL
 * without parameters and the parameters' tail: the leftmost tail of the path
 * made only of Titan parameters ("" when there is none).
 */
function splitRawParameters(rest: string): { resource: string; tail: string } {
  const end = rest.search(/[?#]/);
  const beforeQuery = end < 0 ? rest : rest.slice(0, end);
  const after = end < 0 ? '' : rest.slice(end);
  const pathStart = beforeQuery.startsWith('//') ? beforeQuery.indexOf('/', 2) : 0;
  if (pathStart < 0) return { resource: rest, tail: '' };
  for (let at = beforeQuery.indexOf(';', pathStart); at >= 0; at = beforeQuery.indexOf(';', at + 1)) {
    const tail = beforeQuery.slice(at);
    if (PARAMETERS_TAIL_RE.test(tail)) return { resource: beforeQuery.slice(0, at) + after, tail };
  }
  return { resource: rest, tail: '' };
}

function parseParameters(input: string, tail: string): TitanParameters {
  const params: TitanParameters = {};
  for (const pair of tail.slice(1).split(';')) {
    if (pair === 'edit') throw invalid(input, 'the ;edit parameter (fetching a resource to edit it) is not supported');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq) as keyof TitanParameters;
    const raw = pair.slice(eq + 1);
    if (params[name] !== undefined) throw invalid(input, `the ${name} parameter is given twice`);
    let value: string;
    try {
      value = decodeURIComponent(raw);
    } catch {
      throw invalid(input, `the ${name} parameter ${JSON.stringify(raw)} is not valid percent-encoded UTF-8`);
    }
    if (name === 'size') params.size = parseSizeParameter(input, value);
    else if (name === 'mime') {
      if (!isTitanMime(value)) throw invalid(input, `the mime parameter ${JSON.stringify(value)} is not a MIME type (type/subtype)`);
      params.mime = value;
    } else params.token = value;
  }
  return params;
}

function parseSizeParameter(input: string, value: string): number {
  if (!/^[0-9]+$/.test(value)) throw invalid(input, `the size parameter ${JSON.stringify(value)} is not a whole number of bytes`);
  const size = Number(value);
  if (!Number.isSafeInteger(size)) throw invalid(input, `the size parameter ${value} is too large`);
  return size;
}

/** Percent-encodes a token: every byte outside RFC 3986's unreserved characters (so `;`, `=`, `%`, spaces and non-ASCII are all escaped). */
export function encodeTitanToken(token: string): string {
  return encodeURIComponent(token).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The request line of a Titan upload, and the same URL as it may be shown (token hidden). */
export interface TitanRequest {
  /** The URL sent on the wire (without CRLF): `titan://host/path;mime=M;size=N[;token=T][?query]`. */
  href: string;
  /** `href` with the token's value replaced by `***`, for messages, records and logs. */
  shown: string;
}

/**
 * Builds the request URL of an upload: the parameters follow the path in the
 * order mime, size, token; the token is percent-encoded ({@link encodeTitanToken}).
 *
 * @throws InvalidUrlError `ERR_INVALID_URL` for a MIME type that is not
 *   `type/subtype`, a size that is not a whole number of bytes, an empty token or
 *   one with a lone surrogate; `ERR_URL_TOO_LONG` when the line exceeds
 *   {@link MAX_REQUEST_BYTES} bytes.
 */
export function titanRequest(url: TitanUrl, params: { mime: string; size: number; token?: string | undefined }): TitanRequest {
  if (!isTitanMime(params.mime)) throw invalid(url.href, `MIME type ${JSON.stringify(params.mime)} is not type/subtype (e.g. text/gemini)`);
  if (!Number.isSafeInteger(params.size) || params.size < 0) throw invalid(url.href, `size ${params.size} is not a whole number of bytes`);
  const token = params.token;
  if (token !== undefined && (token === '' || hasLoneSurrogate(token))) {
    throw invalid(url.href, token === '' ? 'the token is empty' : 'the token contains a lone UTF-16 surrogate');
  }
  const base = url.href.slice(0, url.href.length - (url.hasQuery ? url.query.length + 1 : 0));
  const query = url.hasQuery ? `?${url.query}` : '';
  const head = `${base};mime=${params.mime};size=${params.size}`;
  const href = `${head}${token === undefined ? '' : `;token=${encodeTitanToken(token)}`}${query}`;
  const bytes = Buffer.byteLength(href, 'utf8');
  if (bytes > MAX_REQUEST_BYTES) {
    throw new InvalidUrlError(`Titan request URL is ${bytes} bytes; the limit is ${MAX_REQUEST_BYTES}: ${JSON.stringify(url.href)}`, {
      url: url.href,
      code: 'ERR_URL_TOO_LONG',
    });
  }
  return { href, shown: `${head}${token === undefined ? '' : ';token=***'}${query}` };
}

/**
 * The gemini:// URL of the same resource (`titan://h/p` → `gemini://h/p`):
 * the base against which a relative redirect from a Titan server is resolved,
 * so following it reads the page and never uploads again.
 */
export function geminiUrlOf(url: TitanUrl): string {
  return `gemini://${url.href.slice('titan://'.length)}`;
}
