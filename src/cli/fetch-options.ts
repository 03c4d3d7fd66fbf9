/**
 * The fetch options shared by every command that fetches (`gemfetch URL`,
 * `batch`, `crawl`, `survey`): limits, trust, client certificate, network.
 * Values are kept as typed by the user and converted (and validated) by
 * {@link requestOptionsFromArgs}, so every mistake gets one clear message.
 */
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import type { Argv } from 'yargs';
import type { RequestOptions, TrustMode } from '../net/client.js';
import { addOptionGroup, FETCH_OPTION_GROUP } from './option-spec.js';
import { readInputFile } from './input-file.js';
import { parseDuration, parseSize } from './units.js';
import { UsageError } from './usage-error.js';
import { IdentityStore } from '../trust/identity-store.js';
import type { IdentitySource } from '../trust/identity-resolve.js';
import { fromUserInput, parseGeminiUrl } from '../protocol/url.js';
import { parseTitanUrl } from '../protocol/titan-url.js';

/** The parsed values of the fetch options (yargs gives both kebab-case and these camelCase keys). */
export interface FetchArgs {
  /** `--max-size SIZE`: most body bytes to accept (`10M`); `0` = no limit. */
  maxSize?: string;
  /** `--max-time DURATION`: limit for each whole request (`30s`); `0` = no limit. */
  maxTime?: string;
  /** `--connect-timeout DURATION`: TCP connection and, separately, the TLS handshake. */
  connectTimeout?: string;
  /** `--idle-timeout DURATION`: longest silence while the body streams. */
  idleTimeout?: string;
  /** `--header-timeout DURATION`: from sending the request to the end of the header. */
  headerTimeout?: string;
  /** `--tofu MODE`: trust mode (`tofu`, `ca`, `insecure`). */
  tofu?: TrustMode;
  /** `--known-hosts FILE`: the TOFU pin file. */
  knownHosts?: string;
  /** `--ca FILE` (repeatable, so one string or several): extra certificate authorities, PEM. */
  ca?: string | string[];
  /** `-k` / `--insecure`: accept any server certificate. */
  insecure?: boolean;
  /** `--cert FILE`: client certificate, PEM (may also hold the key). */
  cert?: string;
  /** `--key FILE`: private key of `--cert`, PEM. */
  key?: string;
  /** `--id NAME`: send this identity with every request; `--no-id` (false): send none. Default: the identity store's scoped identities. */
  id?: string | false;
  /** `-4` / `--ipv4`. */
  ipv4?: boolean;
  /** `-6` / `--ipv6`. */
  ipv6?: boolean;
  /** `--proxy HOST[:PORT]`: send requests to this Gemini proxy. */
  proxy?: string;
  /** `-L` / `--location`: follow redirects (the default); `--no-location` follows none. */
  location?: boolean;
  /** `--max-redirects N`: redirects to follow (default 5, 0 = none). */
  maxRedirects?: number;
  /** `--no-cross-host` (false): a redirect to another host is not followed. */
  crossHost?: boolean;
  /** `--input TEXT`: answer to a 1x input prompt. */
  input?: string;
  /** `--input-file FILE` (`-` = stdin): the answer to a 1x input prompt, read from a file. */
  inputFile?: string;
}

/** Heading under which `--help` lists these options. */
export const FETCH_OPTIONS_GROUP = FETCH_OPTION_GROUP.heading;

/**
 * Adds the fetch options (declared in {@link FETCH_OPTION_GROUP}) to a yargs
 * instance, grouped under {@link FETCH_OPTIONS_GROUP} in `--help`. No value
 * is validated here: call {@link requestOptionsFromArgs}. `defaults` replaces
 * the default shown for the options it names (a command whose library
 * defaults differ, e.g. survey's trust mode `insecure`).
 */
export function addFetchOptions<T>(y: Argv<T>, defaults: Readonly<Record<string, string>> = {}): Argv<T & FetchArgs> {
  return addOptionGroup(y, FETCH_OPTION_GROUP, defaults) as unknown as Argv<T & FetchArgs>;
}

/** What a command knows before it requests anything, for {@link requestOptionsFromArgs}. */
export interface RequestContextArgs {
  /**
   * The URLs given on the command line (fetch's operands, put's titan URL),
   * when the command requests nothing else but their redirects: `--id NAME`
   * is then sent only to their host:ports, never carried by a redirect to
   * another host:port. Undefined (batch, crawl): `--id` goes with every request.
   */
  urls?: readonly string[];
}

/**
 * Converts parsed fetch options into library request options, reading the
 * certificate, key and CA files. Only options the user gave are set, so the
 * library defaults apply otherwise; except `identities`, always set: the
 * user's identity store, `false` for `--no-id`, or the identity of `--id NAME`.
 * @throws UsageError with a message naming the option for a bad value, an
 *   unreadable file, or a key that does not match its certificate.
 */
export async function requestOptionsFromArgs(args: FetchArgs, context: RequestContextArgs = {}): Promise<RequestOptions> {
  const options: RequestOptions = {};
  if (args.maxSize !== undefined) {
    const bytes = parseSize(args.maxSize, '--max-size');
    if (bytes > 0) options.maxBytes = bytes;
  }
  if (args.maxTime !== undefined) options.totalTimeout = timeout('--max-time', args.maxTime);
  if (args.connectTimeout !== undefined) {
    options.connectTimeout = timeout('--connect-timeout', args.connectTimeout);
    options.handshakeTimeout = options.connectTimeout;
  }
  if (args.idleTimeout !== undefined) options.idleTimeout = timeout('--idle-timeout', args.idleTimeout);
  if (args.headerTimeout !== undefined) options.headerTimeout = timeout('--header-timeout', args.headerTimeout);

  if (args.tofu !== undefined) {
    if (!['tofu', 'ca', 'insecure'].includes(args.tofu)) throw new UsageError(`--tofu must be tofu, ca or insecure (got ${JSON.stringify(args.tofu)})`);
    options.trust = args.tofu;
  }
  if (args.insecure) options.trust = 'insecure';
  if (args.knownHosts !== undefined) {
    if (args.knownHosts.trim() === '') throw new UsageError('--known-hosts needs a file name');
    options.knownHosts = args.knownHosts;
  }
  const caFiles = args.ca === undefined ? [] : [args.ca].flat();
  if (caFiles.length > 0) options.ca = await Promise.all(caFiles.map((file) => readPem('--ca', file)));
  Object.assign(options, await clientCertificate(args));
  options.identities = await identitiesFromArgs(args.id, context.urls);

  if (args.ipv4 && args.ipv6) throw new UsageError('-4 and -6 cannot be used together');
  if (args.ipv4) options.family = 4;
  if (args.ipv6) options.family = 6;
  if (args.proxy !== undefined) options.proxy = parseProxy(args.proxy);
  if (args.maxRedirects !== undefined) {
    const n = args.maxRedirects;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
      throw new UsageError('--max-redirects needs a whole number of redirects, 0 or more (--max-redirects 0 or --no-location follows none)');
    }
    options.maxRedirects = n;
  }
  if (args.location === false) {
    if (options.maxRedirects !== undefined && options.maxRedirects > 0) throw new UsageError('--no-location follows no redirect', { what: 'conflicting options', which: `--no-location, --max-redirects ${options.maxRedirects}` });
    options.maxRedirects = 0;
  }
  if (args.crossHost === false) options.crossHostRedirects = false;
  if (args.input !== undefined && args.inputFile !== undefined) throw new UsageError('--input and --input-file cannot be used together');
  if (args.input !== undefined) options.input = args.input;
  if (args.inputFile !== undefined) options.input = await readInputFile(args.inputFile);
  return options;
}

/** Parses `HOST[:PORT]`, `[IPv6]:PORT` or a bare IPv6 literal. */
export function parseProxy(text: string): { host: string; port?: number } {
  const fail = (): never => {
    throw new UsageError(`invalid --proxy ${JSON.stringify(text)}: expected HOST or HOST:PORT (IPv6 as [::1]:1965)`);
  };
  const value = text.trim();
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(value);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if ((value.match(/:/g) ?? []).length > 1) {
    host = value; // a bare IPv6 literal
  } else {
    const match = /^([^\s:/[\]]+)(?::(\d+))?$/.exec(value);
    if (!match) return fail();
    host = match[1]!;
    portText = match[2];
  }
  if (host === '') return fail();
  if (portText === undefined) return { host };
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return fail();
  return { host, port };
}

function timeout(option: string, text: string): number {
  const ms = parseDuration(text, option);
  return ms === 0 ? Infinity : ms;
}

async function readPem(option: string, file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new UsageError(`${option} ${file}: cannot read the file (${reason})`);
  }
  if (!text.includes('-----BEGIN ')) throw new UsageError(`${option} ${file}: not a PEM file (no -----BEGIN line)`);
  return text;
}

/**
 * The identity source of a run: the user's identity store (scoped identities),
 * nothing with `--no-id`, or with `--id NAME` that identity for every request
 * (only to the host:ports of `urls` when given: see RequestContextArgs)
 * (loaded and checked now: an unknown name is a usage error, a damaged one an
 * IdentityError naming the file, before anything is sent).
 */
async function identitiesFromArgs(id: string | false | undefined, urls: readonly string[] | undefined): Promise<IdentitySource> {
  if (id === false) return false;
  const store = new IdentityStore();
  if (id === undefined) return store;
  if (Array.isArray(id)) {
    if (id.includes(false)) throw new UsageError('--id NAME sends an identity, --no-id sends none', { what: 'conflicting options', which: '--id, --no-id' });
    throw new UsageError('--id may be given only once');
  }
  if (id.trim() === '') throw new UsageError('--id needs an identity name (see gemfetch id list)');
  if ((await store.get(id)) === undefined) {
    const names = (await store.list()).map((i) => i.name);
    throw new UsageError(names.length === 0 ? 'there are none yet (gemfetch id create NAME)' : `the identities are ${names.join(', ')}`, {
      what: 'no such identity',
      which: `--id ${id}`,
    });
  }
  const material = await store.load(id);
  if (urls === undefined) return () => material;
  // A certificate is a stable identifier: the host a user named gets it, a host a redirect points to does not.
  const given = new Set(urls.flatMap((u) => hostPortOf(u) ?? []));
  return (url) => (given.has(hostPortOf(url.href) ?? '') ? material : undefined);
}

/** The `host:port` key of a gemini:// or titan:// URL (as the user typed it or as a resolver is given it); undefined when it does not parse (the command reports that itself). */
function hostPortOf(url: string): string | undefined {
  try {
    const typed = fromUserInput(url);
    return (/^titan:/i.test(typed) ? parseTitanUrl(typed) : parseGeminiUrl(typed)).hostPort;
  } catch {
    return undefined;
  }
}

async function clientCertificate(args: FetchArgs): Promise<Pick<RequestOptions, 'cert' | 'key'>> {
  if (args.cert === undefined && args.key === undefined) return {};
  if (args.cert === undefined) throw new UsageError('--key needs --cert');
  const cert = await readPem('--cert', args.cert);
  let key: string;
  if (args.key !== undefined) key = await readPem('--key', args.key);
  else if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(cert)) key = cert;
  else throw new UsageError(`--cert ${args.cert} holds no private key: give it with --key FILE`);
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw new UsageError(`--cert/--key: cannot use this certificate and key (${(err as Error).message})`);
  }
  return { cert, key };
}
