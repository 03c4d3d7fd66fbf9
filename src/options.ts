/**
 * Validation of every library option (Client, request/fetch, batch, crawl,
 * survey) in one place: each option has a {@link OptionRule} in a table typed
 * against its options interface, so an option added to an interface without a
 * rule does not compile. A bad value throws {@link InvalidOptionError}
 * (`ERR_INVALID_OPTION`) naming the option, what it must be, and the value.
 */
import { InvalidOptionError } from './errors.js';
import type { BatchOptions } from './bulk/batch.js';
import type { BulkOptions } from './bulk/bulk.js';
import type { ClientOptions, RequestOptions } from './net/client.js';
import type { CrawlOptions } from './bulk/crawl.js';
import type { SurveyOptions } from './bulk/survey.js';
import { isTrustStore } from './trust/trust-store.js';
import { IdentityStore } from './trust/identity-store.js';
import { isTitanMime } from './protocol/titan-url.js';
import type { UploadOptions } from './net/titan.js';

/** Every option of T has a rule, and only those (an option added without a rule does not compile). */
type RulesOf<T> = Record<keyof Required<T>, OptionRule>;

/** What an option's value must be; `kind` names the family of values it accepts (tests derive bad values from it). */
export interface OptionRule {
  readonly kind: OptionKind;
  /** Says what the value must be, for the message ("a non-negative number of milliseconds"). */
  readonly expected: string;
  readonly accepts: (value: unknown) => boolean;
  /** Bounds, for numbers: the smallest and largest accepted. */
  readonly min?: number;
  readonly max?: number;
  /** The only values accepted, for choices. */
  readonly choices?: readonly unknown[];
  /** The option must be given (a property of an object option, e.g. `proxy.host`). */
  readonly required?: boolean;
  /** Rules of the properties of an object option (`proxy`, `requestOptions`). */
  readonly properties?: Readonly<Record<string, OptionRule>>;
}

export type OptionKind =
  | 'milliseconds'
  | 'integer'
  | 'choice'
  | 'boolean'
  | 'function'
  | 'boolean-or-function'
  | 'string'
  | 'path'
  | 'pem'
  | 'pem-list'
  | 'known-hosts'
  | 'signal'
  | 'object'
  | 'regexp-list'
  | 'choice-list'
  | 'instance';

const isNumber = (value: unknown): value is number => typeof value === 'number' && !Number.isNaN(value);

/** Milliseconds, 0 or more; 0 or Infinity means "none" where the option says so. */
export function milliseconds(): OptionRule {
  return { kind: 'milliseconds', expected: 'a number of milliseconds, 0 or more', min: 0, max: Infinity, accepts: (v) => isNumber(v) && v >= 0 };
}

/** A whole number from `min` to `max`; with `max` Infinity, Infinity itself is accepted (no limit). */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): OptionRule {
  const range = max === Infinity ? `${min} or more (Infinity for no limit)` : max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
  return {
    kind: 'integer',
    expected: `a whole number, ${range}`,
    min,
    max,
    accepts: (v) => isNumber(v) && v >= min && v <= max && (Number.isInteger(v) || v === Infinity),
  };
}

function choice(values: readonly unknown[]): OptionRule {
  const list = values.map((v) => (typeof v === 'string' ? v : String(v)));
  const expected = `one of ${list.slice(0, -1).join(', ')} or ${list.at(-1)}`;
  return { kind: 'choice', expected, choices: values, accepts: (v) => values.includes(v) };
}

const boolean: OptionRule = { kind: 'boolean', expected: 'true or false', accepts: (v) => typeof v === 'boolean' };
const func: OptionRule = { kind: 'function', expected: 'a function', accepts: (v) => typeof v === 'function' };
const string: OptionRule = { kind: 'string', expected: 'a string', accepts: (v) => typeof v === 'string' };
const filePath: OptionRule = { kind: 'path', expected: 'a non-empty path', accepts: (v) => typeof v === 'string' && v.trim() !== '' && !v.includes('\0') };
const isPem = (v: unknown): boolean => typeof v === 'string' || Buffer.isBuffer(v);
const pem: OptionRule = { kind: 'pem', expected: 'PEM text (a string or a Buffer)', accepts: isPem };

/** Most redirects a request may follow: each one is a URL kept in the chain. */
export const MAX_REDIRECTS_LIMIT = 1000;

/** A Client, or anything with its request and fetch methods (checked without importing client.ts, which imports this module). */
function isClientLike(value: unknown): boolean {
  const candidate = value as { request?: unknown; fetch?: unknown } | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.request === 'function' && typeof candidate.fetch === 'function';
}

/** The rules of {@link ClientOptions}: also those of every request. */
export const CLIENT_OPTION_RULES = {
  connectTimeout: milliseconds(),
  handshakeTimeout: milliseconds(),
  headerTimeout: milliseconds(),
  idleTimeout: milliseconds(),
  totalTimeout: milliseconds(),
  trust: choice(['tofu', 'ca', 'insecure']),
  knownHosts: {
    kind: 'known-hosts',
    expected: 'a file path or a TrustStore (KnownHostsStore, MemoryTrustStore, or an object with a verify method)',
    accepts: (v) => isTrustStore(v) || filePath.accepts(v),
  },
  ca: {
    kind: 'pem-list',
    expected: 'PEM text (a string or a Buffer) or an array of them',
    accepts: (v) => isPem(v) || (Array.isArray(v) && v.every(isPem)),
  },
  cert: pem,
  key: pem,
  identities: {
    kind: 'instance',
    expected: 'an IdentityStore, a function (url) => { cert, key, name? } | undefined, or false',
    accepts: (v) => v === false || typeof v === 'function' || v instanceof IdentityStore,
  },
  maxBytes: integer(0, Infinity),
  maxRedirects: integer(0, MAX_REDIRECTS_LIMIT),
  crossHostRedirects: { kind: 'boolean-or-function', expected: 'true, false or a function', accepts: (v) => typeof v === 'boolean' || typeof v === 'function' },
  family: choice([0, 4, 6]),
  proxy: {
    kind: 'object',
    expected: 'an object { host, port? }',
    accepts: isPlainObject,
    properties: {
      host: { kind: 'string', required: true, expected: 'a non-empty host name or IP address', accepts: (v) => typeof v === 'string' && /^[^\s/]+$/.test(v) },
      port: integer(1, 65535),
    },
  },
  minVersion: choice(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']),
  maxVersion: choice(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']),
  sessionResumption: boolean,
  dnsCacheTtl: milliseconds(),
  lookup: { ...func, expected: 'a function with the signature of dns.lookup' },
} as const satisfies RulesOf<ClientOptions>;

/** The rules of request options: the client's plus `signal` and `input`. */
export const REQUEST_OPTION_RULES = {
  ...CLIENT_OPTION_RULES,
  signal: { kind: 'signal', expected: 'an AbortSignal', accepts: (v) => v instanceof AbortSignal },
  input: string,
} as const satisfies RulesOf<RequestOptions>;

/** The rules of the Titan options of an upload (its other options are request options). */
export const UPLOAD_OPTION_RULES = {
  mime: { kind: 'string', expected: 'a MIME type, type/subtype (e.g. text/gemini), without parameters', accepts: (v) => typeof v === 'string' && isTitanMime(v) },
  token: { kind: 'string', expected: 'a non-empty string', accepts: (v) => typeof v === 'string' && v !== '' },
  size: integer(0),
  onProgress: func,
} as const satisfies RulesOf<Pick<UploadOptions, 'mime' | 'token' | 'size' | 'onProgress'>>;

/** The rules of the options every bulk run (batch, crawl, survey) takes. */
export const BULK_OPTION_RULES = {
  concurrency: integer(1),
  perHost: integer(1),
  delay: milliseconds(),
  maxDelay: milliseconds(),
  maxFailures: integer(0),
  maxSlowDowns: integer(0),
  retryBackoff: milliseconds(),
  client: { kind: 'instance', expected: 'a Client', accepts: isClientLike },
  requestOptions: { kind: 'object', expected: 'an object of request options', accepts: isPlainObject, properties: REQUEST_OPTION_RULES },
  retries: integer(0),
  slowDownRetries: integer(0),
  onSlowDown: func,
  signal: REQUEST_OPTION_RULES.signal,
} as const satisfies RulesOf<BulkOptions>;

export const BATCH_OPTION_RULES = {
  ...BULK_OPTION_RULES,
  readAhead: integer(1),
} as const satisfies RulesOf<BatchOptions>;

export const SURVEY_OPTION_RULES = {
  ...BULK_OPTION_RULES,
  readAhead: integer(1),
  missing: boolean,
} as const satisfies RulesOf<SurveyOptions>;

const regexpList: OptionRule = { kind: 'regexp-list', expected: 'an array of RegExp', accepts: (v) => Array.isArray(v) && v.every((re) => re instanceof RegExp) };

export const CRAWL_OPTION_RULES = {
  ...BULK_OPTION_RULES,
  scope: choice(['host', 'prefix', 'all']),
  maxDepth: integer(0),
  maxPages: integer(0, Infinity),
  include: regexpList,
  exclude: regexpList,
  robots: boolean,
  robotsAgent: { kind: 'string', expected: 'a robots.txt agent name (letters, digits, - or _)', accepts: (v) => typeof v === 'string' && /^[\w-]+$/.test(v) },
  maxPagesPerHost: integer(0),
  maxUrlLength: integer(0),
  maxPathDepth: integer(0),
  maxSegmentRepeats: integer(0),
  queries: boolean,
  robotsTtl: milliseconds(),
  allowAddressClasses: { kind: 'choice-list', expected: 'an array of address classes (loopback, private, link-local, public)', accepts: (v) => Array.isArray(v) && v.every((c) => ['loopback', 'private', 'link-local', 'public'].includes(c as string)) },
  stateDir: filePath,
  mirrorDir: filePath,
  warcFile: filePath,
  warcGzip: boolean,
  onProgress: func,
} as const satisfies RulesOf<CrawlOptions>;

/**
 * Throws {@link InvalidOptionError} unless `options` is undefined or an object
 * whose every option (by `rules`) is undefined or valid; `what` names the
 * options in the message (`Client options`). Unknown keys are ignored.
 * A client certificate and its key must be given together.
 */
export function validateOptions(options: unknown, rules: Readonly<Record<string, OptionRule>>, what: string, prefix = ''): void {
  if (options === undefined) return;
  if (!isPlainObject(options)) throw new InvalidOptionError(`${what} must be an object (got ${describeValue(options)})`);
  const record = options as Record<string, unknown>;
  for (const [name, rule] of Object.entries(rules)) {
    const value = record[name];
    const option = `${prefix}${name}`;
    if (value === undefined) {
      if (rule.required) throw new InvalidOptionError(`option ${option} is required`);
      continue;
    }
    if (!rule.accepts(value)) throw new InvalidOptionError(`option ${option} must be ${rule.expected} (got ${describeValue(value)})`);
    if (rule.properties) validateOptions(value, rule.properties, `option ${option}`, `${option}.`);
  }
  if ('cert' in rules && 'key' in rules && (record.cert === undefined) !== (record.key === undefined)) {
    throw new InvalidOptionError(`options ${prefix}cert and ${prefix}key must be given together`);
  }
}

function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short, safe rendering of a bad value for a message. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (Buffer.isBuffer(value)) return 'a Buffer';
  if (typeof value === 'object') return `an object${value.constructor && value.constructor !== Object ? ` (${value.constructor.name})` : ''}`;
  return typeof value;
}
