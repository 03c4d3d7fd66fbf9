/**
 * Which identity (client certificate) a request carries: the glue between
 * the client and an identity source, either an {@link IdentityStore} (scopes
 * matched on host, port and path) or a resolver function of the program's own.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { GeminiError, IdentityError } from '../errors.js';
import { BoundedCache } from '../net/bounded-cache.js';
import { IdentityStore } from './identity-store.js';

/** An identity to send, as a resolver returns it: certificate and private key (PEM), and a name for reports. */
export interface ResolvedIdentity {
  cert: string | Buffer;
  key: string | Buffer;
  /** Shown in `tls.identity.name` and the CLI's messages; optional. */
  name?: string;
}

/**
 * A program's own choice of identity per request: called with the URL about
 * to be requested (`gemini://` or `titan://`, without Titan parameters; each
 * URL of a redirect chain is asked for separately), it returns the identity
 * to send, or undefined for none. It may be async. A throw or rejection fails
 * the request (`ERR_IDENTITY` unless it is a gemfetch error): nothing is sent
 * in its place.
 */
export type IdentityResolver = (url: URL) => ResolvedIdentity | undefined | Promise<ResolvedIdentity | undefined>;

/** Where a client finds identities: a store, a resolver, or `false` for none (overrides a client's source for one request). */
export type IdentitySource = IdentityStore | IdentityResolver | false;

/** The identity a response was requested with, as reported in `tls.identity` and JSON records. */
export interface SentIdentity {
  /** Its name: the store's name, the resolver's `name`; null for `cert`/`key` options or a resolver that gave none. */
  name: string | null;
  /** SHA-256 (lowercase hex) of the certificate's DER SubjectPublicKeyInfo. */
  fingerprint: string;
}

/** What to put in the TLS options for a request, and what to report. */
export interface ChosenIdentity {
  cert: string | Buffer;
  key: string | Buffer;
  sent: SentIdentity;
}

/** The URL and scope facts of a request, as the client has them. */
export interface IdentityRequestTarget {
  /** The URL as requested (may carry Titan parameters, the token hidden). */
  href: string;
  host: string;
  port: number;
  /** `host:port`, IPv6 bracketed. */
  hostPort: string;
  path: string;
  query: string;
  hasQuery: boolean;
}

const fingerprints = new BoundedCache<string, string>(256);

/** The SPKI SHA-256 of a PEM certificate, cached by the PEM's own hash. @throws IdentityError when it is not a certificate. */
export function certificateFingerprint(cert: string | Buffer, name?: string | null): string {
  const id = createHash('sha256').update(cert).digest('hex');
  let fingerprint = fingerprints.get(id);
  if (fingerprint === undefined) {
    try {
      const x509 = new X509Certificate(cert);
      fingerprint = createHash('sha256').update(x509.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
    } catch (err) {
      throw new IdentityError(`the certificate of identity ${name ?? '(unnamed)'} cannot be read: ${(err as Error).message}`, { identity: name ?? undefined, cause: err });
    }
    fingerprints.set(id, fingerprint);
  }
  return fingerprint;
}

/**
 * The identity a request to `target` carries from `source`, or undefined for
 * none. A store answers by scope; a resolver is called with the URL (see
 * {@link IdentityResolver}).
 * @throws IdentityError when the store cannot tell or load it, or the
 *   resolver fails or returns something that is not an identity.
 */
export async function chooseIdentity(source: IdentitySource | undefined, target: IdentityRequestTarget): Promise<ChosenIdentity | undefined> {
  if (!source) return undefined;
  if (source instanceof IdentityStore) {
    const material = await source.resolve(target);
    return material && { cert: material.cert, key: material.key, sent: { name: material.name, fingerprint: material.fingerprint } };
  }
  const scheme = target.href.slice(0, target.href.indexOf(':')).toLowerCase();
  const url = new URL(`${scheme}://${target.hostPort}${target.path}${target.hasQuery ? `?${target.query}` : ''}`);
  let given: ResolvedIdentity | undefined;
  try {
    given = await source(url);
  } catch (err) {
    if (err instanceof GeminiError) throw err;
    throw new IdentityError(`the identity resolver failed for ${url.href}: ${err instanceof Error ? err.message : String(err)}`, { url: target.href, cause: err });
  }
  if (given === undefined || given === null) return undefined;
  const isPem = (v: unknown): boolean => typeof v === 'string' || Buffer.isBuffer(v);
  if (typeof given !== 'object' || !isPem(given.cert) || !isPem(given.key) || (given.name !== undefined && typeof given.name !== 'string')) {
    throw new IdentityError(`the identity resolver returned something other than { cert, key, name? } (PEM strings or Buffers) or undefined for ${url.href}`, {
      url: target.href,
    });
  }
  const name = given.name ?? null;
  return { cert: given.cert, key: given.key, sent: { name, fingerprint: certificateFingerprint(given.cert, name) } };
}
