/**
 * What the CLI tells a human about identities (client certificates) on a
 * terminal: after a 6x answer, which identities exist and the exact command
 * that would create or scope one for the URL (60), or which identity the
 * server refused (61, 62); and the warning for an identity sent over TLS 1.2.
 * The texts are pure functions of their facts; {@link certificateStatusHint}
 * reads the store for them.
 */
import { parseGeminiUrl } from '../protocol/url.js';
import { parseTitanUrl } from '../protocol/titan-url.js';
import { formatScope, scopeOfTarget } from '../trust/identity-scope.js';
import { IdentityStore } from '../trust/identity-store.js';
import { plain } from './messages.js';

/** The facts of a 6x answer that the hint is about. */
export interface CertificateStatusFacts {
  /** The URL that answered (after redirects). */
  url: string;
  status: number;
  meta: string;
  /** The identity sent with that request, if any (the record's `identity`). */
  identity: { name: string | null; fingerprint: string } | null;
  /** Names of the identities in the store (empty when none, undefined when the store could not be read). */
  identities: readonly string[] | undefined;
  /** Why the store could not be read, when it could not. */
  storeError?: string;
  /** `--no-id` was given. */
  noId?: boolean;
}

/** The scope `gemfetch id create/use --scope` should get for `url`: its host, port and path (no query), as the Gemini spec scopes a certificate. */
export function suggestedScope(url: string): string {
  try {
    // A Titan URL (an upload answered 6x) is scoped like its gemini:// page: host, port, path without the parameters.
    return formatScope(scopeOfTarget(/^titan:/i.test(url) ? parseTitanUrl(url.replace(/;token=\*\*\*/, '')) : parseGeminiUrl(url)));
  } catch {
    return url;
  }
}

const SHELL_SAFE_RE = /^[A-Za-z0-9_\-.,:/=@%+]+$/;

/**
 * `text` as one word for a POSIX shell (bash, zsh, sh), for the commands a
 * hint tells the user to paste: as it is when it holds only characters no
 * shell treats specially, else in single quotes (a `'` written `'\''`). A
 * URL may hold `$()`, `;`, `&`, `'`, `*` and `?` unencoded (RFC 3986 allows
 * them in a path), and the URL of a 6x answer is the server's choice (a
 * redirect): pasted unquoted, `gemini://host/x;$(reboot)` would run a command.
 */
export function shellWord(text: string): string {
  return SHELL_SAFE_RE.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

/** How an identity is named in a message: `alice (sha256 ab12…)`, or `the --cert certificate (sha256 …)` when it has no name. */
export function describeSentIdentity(identity: { name: string | null; fingerprint: string }): string {
  const short = `sha256 ${identity.fingerprint.slice(0, 16)}…`;
  return identity.name === null ? `the certificate given with --cert (${short})` : `identity ${plain(identity.name)} (${short})`;
}

/**
 * The lines (without the `gemfetch: ` prefix, indented by two spaces) that
 * follow the status line of a 6x answer on a terminal. Empty for other statuses.
 */
export function certificateStatusLines(facts: CertificateStatusFacts): string[] {
  const category = Math.floor(facts.status / 10);
  if (category !== 6) return [];
  const scope = shellWord(plain(suggestedScope(facts.url)));
  const lines: string[] = [];
  if (facts.status === 61 || facts.status === 62 || facts.identity) {
    const verdict = facts.status === 62 ? 'is not valid for it' : facts.status === 61 ? 'is not authorised here' : 'was not accepted';
    lines.push(`the server says: ${plain(facts.meta) || '(no reason given)'}`);
    lines.push(facts.identity ? `sent: ${describeSentIdentity(facts.identity)}, which the server says ${verdict}` : 'no identity was sent');
    if (facts.status === 62) lines.push('an expired certificate is not valid: `gemfetch id list` shows when each expires');
    if (facts.identity?.name) lines.push(`to send another one here: gemfetch id use OTHER --scope ${scope}`);
    return lines;
  }
  if (facts.noId) {
    lines.push('--no-id was given: no identity was sent');
    return lines;
  }
  if (facts.identities === undefined) {
    lines.push(`the identity store cannot be read: ${plain(facts.storeError ?? 'unknown error')}`);
    return lines;
  }
  if (facts.identities.length === 0) {
    lines.push('you have no identity yet. To create one, sent under this URL from now on:');
    lines.push(`  gemfetch id create NAME --scope ${scope}`);
    return lines;
  }
  const names = facts.identities.map(plain);
  lines.push(`your identities: ${names.join(', ')} (none is scoped to this URL)`);
  lines.push(`to send one under this URL from now on: gemfetch id use ${names.length === 1 ? names[0] : 'NAME'} --scope ${scope}`);
  lines.push(`or create a new one for it:           gemfetch id create NAME --scope ${scope}`);
  lines.push(`or send one for this run only:        gemfetch --id ${names.length === 1 ? names[0] : 'NAME'} ${shellWord(plain(facts.url))}`);
  return lines;
}

/**
 * The hint lines for a 6x record, reading the identity store's names (an
 * unreadable store is said, never thrown). Empty for other statuses.
 */
export async function certificateStatusHint(
  record: { finalUrl: string | null; url: string; status: number | null; meta: string | null; identity: CertificateStatusFacts['identity'] },
  options: { noId?: boolean; store?: IdentityStore } = {},
): Promise<string[]> {
  if (record.status === null || Math.floor(record.status / 10) !== 6) return [];
  let identities: string[] | undefined;
  let storeError: string | undefined;
  try {
    identities = (await (options.store ?? new IdentityStore()).list()).map((i) => i.name);
  } catch (err) {
    storeError = err instanceof Error ? err.message : String(err);
  }
  return certificateStatusLines({
    url: record.finalUrl ?? record.url,
    status: record.status,
    meta: record.meta ?? '',
    identity: record.identity,
    identities,
    ...(storeError !== undefined ? { storeError } : {}),
    ...(options.noId ? { noId: true } : {}),
  });
}

/** The warning (without `gemfetch: `) shown once per run when an identity went over TLS 1.2, where client certificates travel unencrypted. */
export function tls12IdentityWarning(identity: { name: string | null; fingerprint: string }, host: string): string {
  return (
    `warning: ${describeSentIdentity(identity)} was offered to ${plain(host)} over TLS 1.2, where a client certificate travels ` +
    'unencrypted (anyone on the path can see which identity you use)'
  );
}
