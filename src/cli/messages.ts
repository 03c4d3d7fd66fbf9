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

/** One-line warning for an incomplete 2x response. */
export function incompleteWarning(url: string, bytes: number, end: EndFacts, limits: LimitsInForce = {}): string {
  return `warning: ${url}: incomplete response (${formatBytes(bytes)} received): ${describeTermination(end, limits)}`;
}

/** `51 not found` — the code with its human name (`29 success`: undefined codes by their first digit). */
export function statusLabel(status: number): string {
  return isValidStatus(status) ? `${status} ${statusName(status)}` : String(status);
}

/** Hints appended to some error messages, keyed by error code. */
const ERROR_HINTS: Readonly<Record<string, string>> = {
  ERR_DNS: 'check the host name',
  ERR_CONNECT: 'is the server running and the port right?',
  ERR_CERT_UNTRUSTED: 'most capsules use self-signed certificates: try without --tofu ca',
  ERR_INVALID_URL: 'a URL looks like gemini://host/path (the scheme may be left out)',
  ERR_BAD_REDIRECT: "the fault is the server's, not the URL you gave",
};

/** A library error (`record.error`) as a message, with a hint when one helps. */
export function describeError(error: { code: string; message: string }): string {
  const hint = ERROR_HINTS[error.code];
  return hint ? `${error.message} (${hint})` : error.message;
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
export function firstPinNotice(host: string, fingerprint: string, knownHostsPath: string): string {
  return `note: first visit to ${plain(host)}: its key (sha256 ${fingerprint}) is now pinned in ${plain(knownHostsPath)} (trust on first use)`;
}

/** Why a returned redirect was not followed. */
export function describeRedirectNotFollowed(reason: string): string {
  switch (reason) {
    case 'other-scheme':
      return 'it leads to another scheme; gemfetch never follows those';
    case 'cross-host':
      return 'it leads to another host';
    case 'disabled':
      return 'redirects are off (-L 0)';
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
