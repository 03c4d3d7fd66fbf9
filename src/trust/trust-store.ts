/**
 * The trust store interface a {@link Client} consults for every server
 * certificate when trust is `tofu`, and the TOFU policy shared by the stores
 * gemfetch ships: the known-hosts file (`KnownHostsStore`, the default, shared
 * with the `gemfetch` command) and the in-memory store (`MemoryTrustStore`).
 * A custom store (a database, a fixed allow-list...) implements
 * {@link TrustStore}, and may reuse the policy through {@link decideTrust}.
 */
import { CertificateError } from '../errors.js';
import type { KnownHost } from './known-hosts-format.js';

/** Presented certificate facts, as the client computes them. */
export interface PresentedCertificate {
  /** SHA-256 of the presented certificate's SubjectPublicKeyInfo (lowercase hex), as from `publicKeyFingerprint`. */
  fingerprint: string;
  /** notAfter of the presented certificate. */
  expires: Date;
  /** The chain validates against the system CAs for this host. */
  caVerified: boolean;
}

/**
 * Outcome of a trust check. A {@link TrustStore} returns only `first-use`,
 * `match`, `repinned-expired` or `repinned-ca`; `ca` and `insecure` are what
 * a response reports when TOFU was not used.
 */
export type TrustDecision = 'first-use' | 'match' | 'repinned-expired' | 'repinned-ca' | 'ca' | 'insecure';

/** The decisions a {@link TrustStore} may return: anything else is taken as a refusal. */
export const STORE_DECISIONS: ReadonlySet<TrustDecision> = new Set(['first-use', 'match', 'repinned-expired', 'repinned-ca']);

/**
 * Where a {@link Client} keeps and checks server keys (option `knownHosts`).
 *
 * Contract of `verify`: called once per new TLS connection, after the
 * handshake and before any byte of the request is sent. Resolve with the
 * decision to accept the certificate (recording what needs recording);
 * reject to refuse it: with a `CertificateError` `ERR_CERT_MISMATCH` for a
 * key that does not match (the request then rejects with it), or with any
 * other error, which reaches the caller as is. A resolved value that is not
 * one of `first-use`, `match`, `repinned-expired`, `repinned-ca` is a refusal
 * (`ERR_CERT_UNTRUSTED`). When `options.signal` aborts, the request has given
 * up: a store should not record a new pin after that. Calls for different
 * hosts, and for the same host, may run concurrently.
 */
export interface TrustStore {
  /** The file the pins are kept in, when they are in one (shown by `gemfetch -v`); undefined otherwise. */
  readonly path?: string | undefined;
  verify(hostPort: string, presented: PresentedCertificate, now?: Date, options?: { signal?: AbortSignal | undefined }): Promise<TrustDecision>;
}

/** Whether `value` can be used as a {@link TrustStore} (an object with a `verify` method). */
export function isTrustStore(value: unknown): value is TrustStore {
  return typeof value === 'object' && value !== null && typeof (value as { verify?: unknown }).verify === 'function';
}

/**
 * The TOFU policy, pure: what to decide for `presented` given the host's
 * current pin (undefined: none), and the pin to record when one must be
 * written.
 * - no pin: `first-use`, pin the presented key;
 * - same key: `match` (a later expiry is recorded; nothing otherwise);
 * - different key, pinned certificate expired (`now` >= its expiry): `repinned-expired`, pin it;
 * - different key, not expired, `caVerified`: `repinned-ca`, pin it;
 * - otherwise throws CertificateError `ERR_CERT_MISMATCH`, naming both keys
 *   and the commands that accept the new key.
 * `presented.fingerprint` must be lowercase hex, as pins are.
 */
export function decideTrust(
  hostPort: string,
  pinned: KnownHost | undefined,
  cert: PresentedCertificate,
  now: Date,
): { decision: TrustDecision; write?: KnownHost } {
  const fresh = (): KnownHost => ({ hostPort, fingerprint: cert.fingerprint, expires: cert.expires, added: now });
  if (!pinned) return { decision: 'first-use', write: fresh() };
  if (pinned.fingerprint === cert.fingerprint) {
    if (cert.expires.getTime() <= pinned.expires.getTime()) return { decision: 'match' };
    return { decision: 'match', write: { ...pinned, expires: cert.expires } };
  }
  if (now.getTime() >= pinned.expires.getTime()) return { decision: 'repinned-expired', write: fresh() };
  if (cert.caVerified) return { decision: 'repinned-ca', write: fresh() };
  throw new CertificateError(
    'ERR_CERT_MISMATCH',
    `certificate of ${hostPort} has a different public key than the one pinned.\n` +
      `  pinned:    ${pinned.fingerprint} (certificate valid until ${pinned.expires.toISOString()})\n` +
      `  presented: ${cert.fingerprint}\n` +
      'This may be an attack (man in the middle), or the server changed its key before its certificate expired.\n' +
      `If you trust the new key, run \`gemfetch tofu trust ${hostPort}\` (it pins the key the server presents now), ` +
      `or pin a fingerprint you received another way with \`gemfetch tofu pin ${hostPort} SHA256\`.`,
    { hostPort, expectedFingerprint: pinned.fingerprint, actualFingerprint: cert.fingerprint, pinnedExpiry: pinned.expires },
  );
}
