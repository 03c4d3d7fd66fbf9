/**
 * Human wording of what happened to a fetch: termination reasons, errors,
 * statuses, trust decisions. Every string here is for stderr and for humans;
 * scripts use exit codes and `--json`. Server-provided text passed in must
 * already be sanitized by the caller when it goes to a terminal.
 */
import type { Termination } from '../net/response.js';
import { tlsFailureReason } from '../net/tls-failure.js';
import { isValidStatus, statusName } from '../protocol/status.js';
import type { TrustDecision } from '../trust/tofu.js';
import { formatBytes, formatDuration, formatSizeOption } from './units.js';

/** The limits in force, to name them in messages (`stopped at --max-size 10M`). */
export interface LimitsInForce {
  maxBytes?: number;
  idleTimeout?: number;
  totalTimeout?: number;
}

/** Facts about how a response ended (a subset of the library's `Completion`). */
export interface EndFacts {
  termination: Termination;
  timeout?: 'idle' | 'total' | null;
  error?: Error | null;
}

/**
 * Why a response is incomplete, in one line: `no TLS close_notify: the server
 * closed TCP (possible truncation)`, `stopped at --max-size 10M`, `idle timeout
 * 30s`, `connection reset`, `TLS error: ...`. For `close_notify` it says the
 * response is complete.
 */
export function describeTermination(end: EndFacts, limits: LimitsInForce = {}): string {
  switch (end.termination) {
    case 'close_notify':
      return 'complete (TLS close_notify received)';
    case 'tcp_fin':
      return 'no TLS close_notify: the server closed TCP (possible truncation)';
    case 'tcp_reset':
      return 'connection reset by the server (no TLS close_notify)';
    case 'size_limit':
      return limits.maxBytes !== undefined ? `stopped at --max-size ${formatSizeOption(limits.maxBytes)}` : 'stopped at the size limit';
    case 'timeout':
      if (end.timeout === 'total') {
        return limits.totalTimeout !== undefined && Number.isFinite(limits.totalTimeout)
          ? `stopped at --max-time ${formatDuration(limits.totalTimeout)}`
          : 'stopped at the time limit';
      }
      return `idle timeout ${formatDuration(limits.idleTimeout ?? 60_000)}: the server sent nothing for that long`;
    case 'aborted':
      return 'interrupted before the end';
    case 'tls_error':
      return end.error ? `TLS error: the server ${tlsFailureReason(end.error, 'stream')}` : 'TLS error: the connection failed';
  }
}

/**
 * One-line warning for an incomplete 2x response, in the message format
 * without the leading `gemfetch: `: `incomplete response (URL): 12 B
 * received; no TLS close_notify: the server closed TCP (possible truncation).`
 */
export function incompleteWarning(url: string, bytes: number, end: EndFacts, limits: LimitsInForce = {}): string {
  return formatMessage({ what: 'incomplete response', which: url, why: `${formatBytes(bytes)} received; ${describeTermination(end, limits)}` }).slice('gemfetch: '.length);
}

/** `51 not found` — the code with its human name (`29 success`: undefined codes by their first digit). */
export function statusLabel(status: number): string {
  return isValidStatus(status) ? `${status} ${statusName(status)}` : String(status);
}

/** What a trust decision means, for `-v`. */
export function describeTrust(trust: TrustDecision | string, knownHostsPath?: string): string {
  const file = knownHostsPath ? ` in ${knownHostsPath}` : '';
  switch (trust) {
    case 'first-use':
      return `first visit: key pinned${file} (trust on first use)`;
    case 'match':
      return `key matches the pin${file}`;
    case 'repinned-expired':
      return `new key; the pinned certificate had expired, so the new key was pinned${file}`;
    case 'repinned-ca':
      return `new key signed by a trusted certificate authority, so it was pinned${file}`;
    case 'ca':
      return 'certificate valid under the trusted certificate authorities';
    case 'insecure':
      return 'not checked (--insecure)';
    default:
      return trust;
  }
}

/**
 * The note for a host pinned for the first time (trust on first use), shown
 * on a terminal as ssh does: `note: first visit to HOST: its key (sha256 FP)
 * is now pinned in FILE (trust on first use)`. `host` is the URL's host[:port].
 */
export function firstPinNotice(host: string, fingerprint: string, knownHostsPath: string | undefined): string {
  return `note: first visit to ${plain(host)}: its key (sha256 ${fingerprint}) is now pinned${knownHostsPath ? ` in ${plain(knownHostsPath)}` : ''} (trust on first use)`;
}

/** Why a returned redirect was not followed. */
export function describeRedirectNotFollowed(reason: string): string {
  switch (reason) {
    case 'other-scheme':
      return 'it leads to another scheme; gemfetch never follows those';
    case 'cross-host':
      return 'it leads to another host';
    case 'disabled':
      return 'redirects are off (--no-location or --max-redirects 0)';
    default:
      return reason;
  }
}

/** The line printed for an unexpected internal error (a bug). */
export function internalErrorMessage(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return `gemfetch: internal error: ${text.split('\n')[0]}\nThis is a bug in gemfetch; please report it with the command you ran.`;
}

// C0 and C1 controls, DEL, and bidi embedding/override/isolate characters.
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` made safe to print in a one-line message: every control character
 * (escape sequences lose their ESC and become harmless text), DEL and bidi
 * override characters become `?`. Used for server-provided text (META, URLs)
 * on stderr, whether or not it is a terminal.
 */
export function plain(text: string): string {
  return text.replace(UNSAFE_CHARS, '?');
}

/** Like {@link plain}, but keeps line feeds (for multi-line messages such as a TOFU mismatch). */
export function plainLines(text: string): string {
  return text.split('\n').map(plain).join('\n');
}

/**
 * The parts of every error line of the CLI:
 * `gemfetch: <what> (<which>): <why>. <hint>`.
 */
export interface MessageParts {
  /** What went wrong, in a few words (`invalid size`, `cannot connect`). */
  what: string;
  /** The URL, option or argument concerned (`--max-size`, `gemini://host/`); left out when none. */
  which?: string | undefined;
  /** Why, in one sentence (may be several lines for a TOFU mismatch); left out when `what` says it all. */
  why?: string | undefined;
  /** One sentence of advice (`Try 'gemfetch crawl --help'.`). */
  hint?: string | undefined;
}

/**
 * The one format of the CLI's error lines:
 * `gemfetch: <what> (<which>): <why>. <hint>`. A full stop is added after
 * `why` unless it already ends a sentence; `which`, `why` and `hint` are left
 * out when not given. No trailing newline.
 */
export function formatMessage(parts: MessageParts): string {
  let text = `gemfetch: ${parts.what}`;
  if (parts.which) text += ` (${parts.which})`;
  if (parts.why) text += `: ${parts.why}`;
  if (!/[.!?]$/.test(text)) text += '.';
  return parts.hint ? `${text} ${parts.hint}` : text;
}

/** The hint of every usage error: `Try 'gemfetch --help'.`, or the subcommand's help (`Try 'gemfetch tofu --help'.`). */
export function helpHint(command?: string): string {
  return `Try 'gemfetch${command ? ` ${command}` : ''} --help'.`;
}

/** A usage error as thrown (UsageError, yargs' YError, InvalidOptionError...): its message and, for UsageError, its parts. */
export interface UsageFailure {
  message: string;
  parts?: { what: string; which?: string | undefined; why?: string | undefined } | undefined;
}

/**
 * The message for a usage error of `command` (undefined: the fetch command),
 * in the format of {@link formatMessage} with the command's help as the hint.
 * yargs' own wording (`Unknown argument: bogus`, `Not enough non-option
 * arguments: got 0, need at least 1`, `Invalid values: ...`) is rephrased,
 * naming the option or argument (`argv` tells options from other arguments).
 * Other messages are split at a leading option (`--max-time: invalid
 * duration ...`) or at their first colon into what and why.
 */
export function usageErrorMessage(err: UsageFailure, command: string | undefined, argv: readonly string[] = []): string {
  const hint = helpHint(command);
  if (err.parts) return formatMessage({ ...err.parts, why: err.parts.why, hint });
  const message = plainLines(err.message.trim());
  const yargs = fromYargs(message, command, argv);
  if (yargs) return formatMessage({ ...yargs, hint });
  const leadingOption = /^(-{1,2}[A-Za-z0-9][\w-]*(?:\/-{1,2}[\w-]+)?)( [^\s:]+)?: (.+)$/s.exec(message);
  if (leadingOption) {
    const [what, why] = splitAtColon(leadingOption[3]!);
    // `--max-size 0: a crawl needs a limit`: no what of its own; the value goes with the option.
    const which = `${leadingOption[1]}${leadingOption[2] ?? ''}`;
    // `-f DIR: cannot read the file (EISDIR)`: the system's code is the why.
    const errno = /^(.+) \((E[A-Z0-9]+)\)$/.exec(what);
    if (why === undefined && errno) return formatMessage({ what: errno[1]!, which, why: errno[2], hint });
    if (why === undefined) return formatMessage({ what: 'invalid value', which, why: what, hint });
    return formatMessage({ what, which: `${leadingOption[1]}${leadingOption[2] ?? ''}`, why, hint });
  }
  const shaped = commonShapes(message);
  if (shaped) return formatMessage({ ...shaped, hint });
  const [what, why] = splitAtColon(message);
  return formatMessage({ what, why, hint });
}

const OPTION = '-{1,2}[A-Za-z0-9][\\w-]*';

/**
 * The parts of the usual shapes of a usage message that names its option or
 * command without a colon after it, so the line still has its `(which)`:
 * `-4 and -6 cannot be used together`, `--key needs --cert`, `--known-hosts
 * needs a file name`, `invalid --proxy "a b": expected ...`, `--id may be
 * given only once ...`, `batch needs at least one URL ...`. Undefined for
 * any other message.
 */
function commonShapes(message: string): Omit<MessageParts, 'hint'> | undefined {
  let m = new RegExp(`^(${OPTION}) and (${OPTION}) cannot be used together(?: (.+))?$`, 's').exec(message);
  if (m) return { what: 'conflicting options', which: `${m[1]}, ${m[2]}`, why: m[3] ? `they cannot be used together ${m[3]}` : 'they cannot be used together' };
  m = new RegExp(`^(${OPTION}) needs (${OPTION})( [A-Z]+)?$`, 's').exec(message);
  if (m) return { what: 'missing option', which: m[2]!, why: message };
  m = new RegExp(`^(${OPTION}) (may be given only once.*)$`, 's').exec(message);
  if (m) return { what: 'repeated option', which: m[1]!, why: m[2]! };
  m = new RegExp(`^(${OPTION}) (needs .+|must be .+)$`, 's').exec(message);
  if (m) return { what: 'invalid value', which: m[1]!, why: m[2]! };
  m = new RegExp(`^invalid (${OPTION}) (.+?): (.+)$`, 's').exec(message);
  if (m) return { what: 'invalid value', which: `${m[1]} ${m[2]}`, why: m[3]! };
  m = /^([a-z]+) (needs at least one .+)$/s.exec(message);
  if (m) return { what: 'missing argument', which: m[1]!, why: m[2]! };
  return undefined;
}

/** `what: why` split at the first `: ` outside quotes; no colon: all of it is what. */
function splitAtColon(text: string): [string, string | undefined] {
  let quoted = false;
  for (let i = 0; i < text.length - 1; i++) {
    if (text[i] === '"') quoted = !quoted;
    else if (!quoted && text[i] === ':' && text[i + 1] === ' ') return [text.slice(0, i), text.slice(i + 2)];
  }
  return [text, undefined];
}

/** `--name` or `-n` as the user typed it, when `name` is an option in `argv`; undefined when it is not an option there. */
function typedOption(name: string, argv: readonly string[]): string | undefined {
  for (const token of argv) {
    if (token === '--') break;
    const bare = token.replace(/=.*$/s, '');
    // yargs names an unknown `--warc-gzip` in camel case (`warcGzip`): both spellings are the option typed.
    const kebab = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if ([name, kebab].some((n) => bare === `--${n}` || bare === `-${n}` || bare === `--no-${n}`)) return bare;
  }
  return undefined;
}

/** yargs' English messages in gemfetch's words; undefined for any other message. */
function fromYargs(message: string, command: string | undefined, argv: readonly string[]): Omit<MessageParts, 'hint'> | undefined {
  const where = `gemfetch${command ? ` ${command}` : ''}`;
  let m = /^Unknown arguments?: (.+)$/s.exec(message);
  if (m) {
    const names = m[1]!.split(', ');
    const options = names.map((name) => typedOption(name, argv));
    if (options.every((o) => o !== undefined)) {
      const typed = [...new Set(options)]; // yargs lists `warc-gzip, warcGzip` for one --warc-gzip
      return { what: typed.length === 1 ? 'unknown option' : 'unknown options', which: typed.join(', '), why: `${where} has no such option` };
    }
    const extra = names.filter((_, i) => options[i] === undefined);
    return { what: extra.length === 1 ? 'unexpected argument' : 'unexpected arguments', which: extra.join(', '), why: `${where} takes no more arguments` };
  }
  m = /^Not enough arguments following: (.+)$/s.exec(message);
  if (m) return { what: 'missing value', which: typedOption(m[1]!, argv) ?? `--${m[1]}`, why: 'the option needs a value' };
  m = /^Invalid values:\s*Argument: (.+?), Given: (.+?), Choices: (.+)$/s.exec(message);
  if (m) {
    const option = typedOption(m[1]!, argv);
    return { what: 'invalid value', which: option ?? `${command ? `${command} ` : ''}${m[1]}`, why: `${m[2]} is not one of ${m[3]!.replace(/"/g, '')}` };
  }
  m = /^Arguments (\S+) and (\S+) are mutually exclusive$/.exec(message);
  if (m) return { what: 'conflicting options', which: `${typedOption(m[1]!, argv) ?? `--${m[1]}`}, ${typedOption(m[2]!, argv) ?? `--${m[2]}`}`, why: 'they cannot be used together' };
  m = /^Missing required arguments?: (.+)$/s.exec(message);
  if (m) return { what: 'missing argument', which: m[1], why: `${where} needs it` };
  if (/^Not enough non-option arguments/.test(message)) return { what: 'missing argument', which: where, why: 'see its usage' };
  if (/^Too many non-option arguments/.test(message)) return { what: 'too many arguments', which: where };
  return undefined;
}

/** Advice for some library errors, keyed by error code: one sentence each. */
const FETCH_ERROR_HINTS: Readonly<Record<string, string>> = {
  ERR_DNS: 'Check the host name.',
  ERR_CONNECT: 'Is the server running, and the port right?',
  ERR_CERT_UNTRUSTED: 'Most capsules use self-signed certificates: try without --tofu ca.',
  ERR_INVALID_URL: 'A URL looks like gemini://host/path; the scheme may be left out.',
  ERR_BAD_REDIRECT: "The fault is the server's, not the URL you gave.",
};

/** What went wrong, by error code, for {@link fetchErrorMessage}. */
const FETCH_ERROR_WHAT: Readonly<Record<string, string>> = {
  ERR_INVALID_URL: 'invalid gemini URL',
  ERR_URL_TOO_LONG: 'URL too long',
  ERR_DNS: 'host not found',
  ERR_CONNECT: 'cannot connect',
  ERR_CONNECTION_CLOSED: 'connection closed',
  ERR_TIMEOUT: 'timed out',
  ERR_TLS: 'TLS failed',
  ERR_BAD_HEADER: 'bad response header',
  ERR_HEADER_TOO_LONG: 'response header too long',
  ERR_CERT_MISMATCH: 'certificate changed',
  ERR_CERT_UNTRUSTED: 'certificate not trusted',
  ERR_TOO_MANY_REDIRECTS: 'too many redirects',
  ERR_REDIRECT_LOOP: 'redirect loop',
  ERR_BAD_REDIRECT: 'bad redirect',
  ERR_ABORTED: 'interrupted',
  ERR_KNOWN_HOSTS: 'known-hosts file unusable',
  ERR_STORAGE: 'cannot write',
};

/**
 * `text` with the mentions of `urls` taken out, since the message names the
 * URL once already: ` from URL`, ` fetching URL`, `: URL` at the end,
 * `connection to URL` (the connection), a quoted `"URL"`, a leading `URL `
 * (it: `it redirected (status 30) to ...`).
 */
export function withoutUrl(text: string, urls: ReadonlyArray<string | undefined>): string {
  let out = text;
  // Longest first: a URL may begin with another (a Titan URL with its parameters after the bare one).
  const distinct = [...new Set(urls.filter((u): u is string => typeof u === 'string' && u !== ''))].sort((a, b) => b.length - a.length);
  for (const url of distinct) {
    const u = url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out = out
      .replace(new RegExp(` (?:from|fetching|for|of) ${u}(?=$|[:,.;\\s])`, 'g'), '')
      .replace(new RegExp(`connection to ${u}`, 'g'), 'the connection')
      .replace(new RegExp(` redirects to ${u}(?=$|[:,.;\\s])`, 'g'), ' redirects back to it')
      .replace(new RegExp(` "${u}"`, 'g'), '')
      .replace(new RegExp(`: ${u}$`), '')
      .replace(new RegExp(`^${u} `), 'it ');
  }
  return out;
}

/**
 * The line for a fetch that ended in a library error (`record.error`):
 * `gemfetch: TLS failed (gemini://127.0.0.1:7080/): 127.0.0.1:7080 did not
 * answer with TLS (wrong version number).` The URL is named once, in the
 * parentheses; a hint follows for the codes where one helps.
 * `error.url` (when it differs, e.g. after a redirect) is removed from the why too.
 */
export function fetchErrorMessage(url: string, error: { code: string; message: string; url?: string | null | undefined }): string {
  let what = FETCH_ERROR_WHAT[error.code] ?? 'fetch failed';
  let why: string | undefined = withoutUrl(error.message, [url, error.url ?? undefined]);
  // `cannot connect to HOST: connection refused` says what itself: it is not said twice.
  if (why.toLowerCase().startsWith(what.toLowerCase())) [what, why] = splitAtColon(why);
  let hint = FETCH_ERROR_HINTS[error.code];
  if (error.code === 'ERR_INVALID_URL') {
    // An upload's URL is a Titan one: its own words and its own example (not "gemini URL ... gemini://host/path").
    if (why !== undefined && why.startsWith('invalid titan URL')) {
      [what, why] = splitAtColon(why);
      hint = 'An upload goes to titan://host/path.';
    } else if (/^\s*titan:/i.test(url)) hint = `To upload, use: gemfetch put ${plain(url)} FILE`;
  }
  return formatMessage({ what, which: url, why, hint });
}
