/**
 * The client: shared options, the trust store, per-host TLS sessions, and the
 * policy around single transactions (redirects, input, limits).
 */
import { createHash, type X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { BoundedCache } from './bounded-cache.js';
import { DEFAULT_DNS_CACHE_TTL, DnsCache, type LookupFunction } from './dns-cache.js';
import { CertificateError, IdentityError, InvalidOptionError, InvalidUrlError, RedirectError, TimeoutError, TlsError } from '../errors.js';
import { sendRequest, type BodySender, type Timeouts } from './request.js';
import { GeminiResponse, type StreamingResponse, type TlsInfo } from './response.js';
import { REQUEST_OPTION_RULES, UPLOAD_OPTION_RULES, validateOptions } from '../options.js';
import { geminiUrlOf } from '../protocol/titan-url.js';
import { prepareUpload, UploadResponse, type UploadBody, type UploadOptions } from './titan.js';
import { limitMs } from './timers.js';
import { KnownHostsStore, publicKeyFingerprint, type TrustDecision } from '../trust/tofu.js';
import { isTrustStore, STORE_DECISIONS, type TrustStore } from '../trust/trust-store.js';
import { certificateFingerprint, chooseIdentity, type IdentitySource, type SentIdentity } from '../trust/identity-resolve.js';
import type { TlsConnection } from './transport.js';
import { MAX_REQUEST_BYTES, parseGeminiUrl, resolveReference, withInput, type GeminiUrl } from '../protocol/url.js';

/**
 * How server certificates are trusted.
 * - `tofu` (default): pin each host:port's public key on first use; refuse a
 *   different key before the pinned certificate expires, unless the new one
 *   validates against the system (or `ca`) certificate authorities.
 * - `ca`: require a certificate valid for the host under the system (or `ca`) authorities.
 * - `insecure`: accept any certificate (the fingerprint is still reported).
 */
export type TrustMode = 'tofu' | 'ca' | 'insecure';

/** Options of a {@link Client}; every one can also be given per request. */
export interface ClientOptions extends Partial<Timeouts> {
  trust?: TrustMode;
  /**
   * Where TOFU pins are kept (trust `tofu`): a known-hosts file path, or a
   * {@link TrustStore}: a `KnownHostsStore`, a `MemoryTrustStore` (pins in
   * memory only, nothing written to disk), or your own. Default: the file
   * `$XDG_DATA_HOME/gemfetch/known_hosts` (`~/.local/share/gemfetch/known_hosts`),
   * the same file the `gemfetch` command uses, so a program using the library
   * and the command line share their pins.
   */
  knownHosts?: string | TrustStore;
  /** Extra certificate authorities (PEM) trusted in addition to the system ones. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate (PEM), sent when the server asks for one. Requires `key`. */
  cert?: string | Buffer;
  /** Private key (PEM) of `cert`. */
  key?: string | Buffer;
  /**
   * Where identities (client certificates) come from, chosen per request URL
   * (each URL of a redirect chain, and a Titan upload's URL, separately):
   * an IdentityStore (the identity whose scope covers the URL most
   * specifically, see identity-scope.ts), or a resolver `(url: URL) =>
   * { cert, key, name? } | undefined` (may be async). `false` sends none
   * (for one request of a client that has a source). Default: none; gemfetch
   * never sends an identity nobody asked for. `cert`/`key`, when given, win
   * over it. A source that fails (a damaged store, a resolver that throws)
   * fails the request with IdentityError `ERR_IDENTITY` before anything is
   * sent. What was sent is reported in `tls.identity`.
   */
  identities?: IdentitySource;
  /** Most body bytes to accept (also bounds bytes sent after a non-2x header). Default: 64 MiB for `fetch`, unlimited for `request`. */
  maxBytes?: number;
  /** Redirects to follow (default 5). 0 returns every redirect unfollowed. */
  maxRedirects?: number;
  /** Follow redirects to other hosts (default true), or decide per redirect. */
  crossHostRedirects?: boolean | ((from: string, to: string) => boolean);
  /** Force IPv4 (4) or IPv6 (6). */
  family?: 0 | 4 | 6;
  /** Send requests to this Gemini proxy instead of each URL's host. */
  proxy?: { host: string; port?: number };
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** Reuse TLS sessions per host within this client (default true). */
  sessionResumption?: boolean;
  /**
   * Milliseconds a host name's addresses are reused within this client
   * (default 60 000, as curl; 0 resolves every connection). Failed lookups
   * are never reused. IP literals are never looked up.
   */
  dnsCacheTtl?: number;
  /** Resolves host names (the signature of `dns.lookup`, which is the default). Its answers are cached as `dnsCacheTtl` says. */
  lookup?: LookupFunction;
}

/** Per-request options. */
export interface RequestOptions extends ClientOptions {
  signal?: AbortSignal;
  /** Answer to a 1x input prompt: the URL is requested again with it as the query. */
  input?: string;
}

/** Default timeouts, in milliseconds. */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  connectTimeout: 15_000,
  handshakeTimeout: 15_000,
  headerTimeout: 30_000,
  idleTimeout: 60_000,
  totalTimeout: Infinity,
});
/** Default total timeout of `fetch` (a buffered fetch must end). */
export const DEFAULT_FETCH_TOTAL_TIMEOUT = 300_000;
/** Default body limit of `fetch`. */
export const DEFAULT_FETCH_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_REDIRECTS = 5;
const MAX_SESSIONS = 1024;
/** Distinct server certificates whose derived facts a client remembers. */
const MAX_CERTIFICATE_FACTS = 4096;
/** Distinct TLS option sets (CA, client certificate, versions) a client keeps a SecureContext for. */
const MAX_SECURE_CONTEXTS = 64;

/** The first transaction of a request when it is a Titan upload. */
interface UploadTransaction {
  /** The Titan URL as a request target; its `href` is the URL as shown (token hidden). */
  url: GeminiUrl;
  /** The request line actually sent. */
  requestLine: string;
  body: BodySender;
  /** Relative redirects are resolved against this gemini:// URL of the resource. */
  redirectBase: string;
}

/** What the full handshake established about the server. */
interface PeerFacts {
  certificate: X509Certificate;
  /** The chain validated against the CAs and the certificate matched the host name. */
  authorized: boolean;
  authorizationError: string;
}

/** A resumable session and the facts of the full handshake that produced it. */
interface CachedSession extends PeerFacts {
  session: Buffer;
}

/**
 * The server certificate (`presented`, as the connection gave it) and CA verdict of a connection. A resumed session
 * presents no certificate and Node skips its host-name check (reporting
 * `authorized` from the chain alone), so for those the facts recorded at the
 * full handshake are used instead.
 */
function peerFacts(connection: TlsConnection, presented: X509Certificate | undefined, offered: CachedSession | undefined): PeerFacts | undefined {
  const socket = connection.socket;
  if (socket.isSessionReused()) {
    return offered && { certificate: offered.certificate, authorized: offered.authorized, authorizationError: offered.authorizationError };
  }
  return presented && { certificate: presented, authorized: socket.authorized, authorizationError: String(socket.authorizationError) };
}

const stores = new Map<string, KnownHostsStore>();
function storeFor(option: string | TrustStore | undefined): TrustStore {
  if (isTrustStore(option)) return option;
  const probe = new KnownHostsStore(option);
  const known = stores.get(probe.path);
  if (known) return known;
  stores.set(probe.path, probe);
  return probe;
}

/**
 * A Gemini client. Holds options shared by its requests, the trust store and
 * TLS sessions per host (resumption never changes a completeness verdict).
 * Safe to use for many concurrent requests.
 */
export class Client {
  readonly options: Readonly<ClientOptions>;
  /** Resumable sessions per host:port and client certificate, with the server certificate each was made with. */
  readonly #sessions = new BoundedCache<string, CachedSession>(MAX_SESSIONS);
  /**
   * What is derived from a server certificate (SPKI fingerprint, names,
   * validity, self-signature), keyed by the SHA-256 of the whole DER
   * certificate: deriving them costs more than the rest of a small fetch.
   * Trust itself is never cached: it is decided per connection.
   */
  readonly #certificateFacts = new BoundedCache<string, CertificateFacts>(MAX_CERTIFICATE_FACTS);
  /** Host name lookups, shared by every request of this client. */
  readonly #dns = new DnsCache();
  /** One SecureContext per distinct TLS option set: building one per connection costs a third of a millisecond (far more with `ca`). */
  readonly #secureContexts = new BoundedCache<string, tls.SecureContext>(MAX_SECURE_CONTEXTS);

  /** @throws InvalidOptionError (`ERR_INVALID_OPTION`) naming the option when one is invalid (see options.ts). */
  constructor(options: ClientOptions = {}) {
    // Request rules: whatever a client is given is merged into each of its requests.
    validateOptions(options, REQUEST_OPTION_RULES, 'Client options');
    this.options = definedOnly(options);
  }

  /** This client's options overridden by a call's (options given as `undefined` override nothing), validated. */
  #mergeOptions(options: RequestOptions, defaults: RequestOptions = {}): RequestOptions {
    validateOptions(options, REQUEST_OPTION_RULES, 'request options');
    const merged: RequestOptions = { ...defaults, ...this.options, ...definedOnly(options) };
    validateOptions(merged, REQUEST_OPTION_RULES, 'request options');
    return merged;
  }

  /** The trust store used with the given options (the client's by default). */
  knownHosts(options: ClientOptions = {}): TrustStore {
    return storeFor(options.knownHosts ?? this.options.knownHosts);
  }

  /**
   * Requests `url` and resolves as soon as the response header has arrived,
   * following redirects and answering input prompts as the options say. The
   * body streams with backpressure; `done` gives the verdict.
   *
   * The body must be read to its end or cancelled: a body left unread keeps
   * its connection open (backpressure stops the reading, and only the
   * `idleTimeout`/`totalTimeout` limits end it). Call `res.cancel()` (or
   * destroy `res.body`) to close the connection at once; `done` then says
   * `aborted`, with the bytes received so far.
   *
   * Rejects with a {@link GeminiError} when there is no response to return;
   * a redirect to a gemini URL that cannot be requested rejects with
   * {@link RedirectError} `ERR_BAD_REDIRECT` (never `ERR_INVALID_URL`, which
   * always concerns the `url` given), the connection closed.
   */
  async request(url: string, options: RequestOptions = {}): Promise<StreamingResponse> {
    return this.#request(url, this.#mergeOptions(options));
  }

  async #request(url: string, merged: RequestOptions, upload?: UploadTransaction): Promise<StreamingResponse> {
    if (typeof url !== 'string') throw new InvalidUrlError(`URL must be a string (got ${typeof url})`);
    const maxRedirects = merged.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
    let current = upload ? upload.url : parseGeminiUrl(url);
    // totalTimeout bounds the whole request, every redirect and input round included.
    const total = merged.totalTimeout ?? DEFAULT_TIMEOUTS.totalTimeout;
    const deadline = total > 0 && Number.isFinite(total) ? performance.now() + total : Infinity;
    const chain: string[] = [];
    let inputAnswered = false;
    for (;;) {
      if (performance.now() >= deadline) throw new TimeoutError('total', total, { url: current.href });
      const response = await this.#transact(current, chain, merged, deadline, current === upload?.url ? upload : undefined);
      if (response.category === 1 && merged.input !== undefined && !inputAnswered) {
        response.cancel();
        inputAnswered = true;
        current = parseGeminiUrl(withInput(current, merged.input));
        continue;
      }
      if (response.category !== 3) return response;

      let target = response.meta;
      let next: GeminiUrl | undefined;
      try {
        // A redirect from an upload is resolved against the gemini:// URL of the resource: following one never uploads again.
        target = resolveReference(current === upload?.url ? upload.redirectBase : current.href, response.meta);
        if (maxRedirects > 0 && /^gemini:/i.test(target)) next = parseGeminiUrl(target);
      } catch (err) {
        response.cancel(); // an unusable redirect target must not leave the connection open
        throw badRedirect(err, { url, from: current.href, status: response.status, target, chain: [...chain, current.href] });
      }
      const notFollowed = (reason: 'other-scheme' | 'cross-host' | 'disabled'): StreamingResponse => ({
        ...response,
        redirectNotFollowed: { target, reason },
      });
      if (maxRedirects === 0) return notFollowed('disabled');
      if (next === undefined) return notFollowed('other-scheme');
      if (!crossHostAllowed(merged.crossHostRedirects, current, next)) return notFollowed('cross-host');
      response.cancel();
      chain.push(current.href);
      if (chain.includes(next.href)) {
        throw new RedirectError('ERR_REDIRECT_LOOP', `redirect loop: ${current.href} redirects to ${next.href}, already visited`, {
          url,
          chain: [...chain],
          target: next.href,
        });
      }
      if (chain.length > maxRedirects) {
        throw new RedirectError('ERR_TOO_MANY_REDIRECTS', `too many redirects (limit ${maxRedirects}) starting from ${url}`, {
          url,
          chain: [...chain],
          target: next.href,
        });
      }
      current = next;
    }
  }

  /**
   * Fetches `url` and buffers the whole body (up to `maxBytes`, 64 MiB by
   * default; `totalTimeout` 5 minutes by default). Resolves with the response
   * even when it was cut: check `complete` and `termination`.
   */
  async fetch(url: string, options: RequestOptions = {}): Promise<GeminiResponse> {
    const merged = this.#mergeOptions(options, { maxBytes: DEFAULT_FETCH_MAX_BYTES, totalTimeout: DEFAULT_FETCH_TOTAL_TIMEOUT });
    const response = await this.#request(url, merged);
    const chunks: Buffer[] = [];
    for await (const chunk of response.body) chunks.push(chunk as Buffer);
    const completion = await response.done;
    return new GeminiResponse(response, Buffer.concat(chunks), completion);
  }

  /**
   * Uploads `body` to a Titan URL (`titan://host/path`, parameters
   * `;mime=`, `;size=`, `;token=` optional in the URL) through the same
   * request path as gemini:// (trust, client certificate, proxy, timeouts),
   * and buffers the response like {@link Client.fetch} (`maxBytes` 64 MiB by
   * default; no total timeout by default, an upload may be long).
   *
   * The body streams with backpressure: exactly `size` bytes are sent, the
   * last chunk only once the body has ended, so a body of another length
   * rejects with {@link UploadError} `ERR_UPLOAD_SIZE` (naming both numbers)
   * before the server has `size` bytes, and the connection is closed. A
   * server that answers before the body is all sent (a refusal) is not sent
   * anything more, the rest of the body is not read (a stream is destroyed),
   * and its answer is returned (`upload.finished` false). A stalled server is
   * given `idleTimeout` to accept more of the body (`ERR_TIMEOUT`, phase
   * `upload`), and a body stream `idleTimeout` to give more bytes (phase
   * `source`; the stream is then destroyed); `headerTimeout` starts once the
   * body is sent.
   *
   * Redirects (usually `30` to the gemini:// page) are followed over gemini://
   * as the redirect options say, relative ones resolved against the
   * resource's gemini:// URL; a redirect is never uploaded to again. The
   * response has `complete` and `termination` exactly as a fetch, and
   * `upload` says what was sent.
   *
   * @throws InvalidUrlError for a URL that is not a valid titan URL;
   *   InvalidOptionError for a bad option or body (a stream without `size`,
   *   bytes whose length is not `size`, `input` given); UploadError when the
   *   body cannot be sent as declared; any error of {@link Client.request}.
   */
  async upload(url: string, body: UploadBody, options: UploadOptions = {}): Promise<UploadResponse> {
    const { mime, token, size, onProgress, ...requestOptions } = options;
    validateOptions({ mime, token, size, onProgress }, UPLOAD_OPTION_RULES, 'upload options');
    if ((requestOptions as RequestOptions).input !== undefined) throw new InvalidOptionError('option input cannot be used with upload (an upload is never sent twice)');
    const merged = this.#mergeOptions(requestOptions, { maxBytes: DEFAULT_FETCH_MAX_BYTES });
    const idleMs = limitMs(merged.idleTimeout ?? DEFAULT_TIMEOUTS.idleTimeout);
    const upload = prepareUpload(url, body, { mime, token, size, onProgress }, idleMs);
    const shown = upload.request.shown;
    const { params: _params, ...where } = upload.target; // the token stays out of every URL reported
    const response = await this.#request(shown, merged, {
      url: { ...where, href: shown },
      requestLine: upload.request.href,
      body: upload.sender,
      redirectBase: geminiUrlOf(upload.target),
    });
    const chunks: Buffer[] = [];
    for await (const chunk of response.body) chunks.push(chunk as Buffer);
    const completion = await response.done;
    return new UploadResponse(response, Buffer.concat(chunks), completion, upload.report());
  }

  async #transact(url: GeminiUrl, chain: readonly string[], options: RequestOptions, deadline: number, upload?: UploadTransaction): Promise<StreamingResponse> {
    const connectTo = options.proxy
      ? { host: options.proxy.host, port: options.proxy.port ?? 1965, servername: isIpLiteral(options.proxy.host) ? undefined : options.proxy.host }
      : { host: url.host, port: url.port, servername: url.servername };
    const hostPort = formatHostPort(connectTo.host, connectTo.port);
    // The identity for this URL (explicit cert/key win); a failing source fails the request before any connection.
    const identity = options.cert === undefined ? await chooseIdentity(options.identities, url) : undefined;
    if (identity) options = { ...options, cert: identity.cert, key: identity.key };
    const caId = digest(options.ca);
    const certId = digest(options.cert);
    // A session remembers the client certificate and the CA verdict it was made with: key it by both.
    const sessionKey = `${hostPort} ${certId} ${caId} ${connectTo.servername ?? '-'}`;
    const resumption = options.sessionResumption ?? true;
    const tlsOptions: tls.ConnectionOptions = {
      rejectUnauthorized: false,
      secureContext: identity ? this.#identityContext(options, caId, certId, identity.sent.name, url.href) : this.#secureContext(options, caId, certId),
    };
    // After the SecureContext: an unusable cert/key is ERR_INVALID_OPTION from there.
    const sentIdentity: SentIdentity | null = identity
      ? identity.sent
      : options.cert !== undefined
        ? { name: null, fingerprint: certificateFingerprint(options.cert) }
        : null;
    const offered = resumption ? this.#sessions.get(sessionKey) : undefined;
    if (offered) tlsOptions.session = offered.session;
    const response = await sendRequest({
      ...DEFAULT_TIMEOUTS,
      ...pickTimeouts(options),
      url,
      connectTo,
      family: options.family ?? 0,
      lookup: this.#dns.lookupFunction(options.lookup, options.dnsCacheTtl ?? DEFAULT_DNS_CACHE_TTL),
      maxBytes: options.maxBytes ?? Infinity,
      signal: options.signal,
      tlsOptions,
      redirects: [...chain],
      deadline,
      ...(upload ? { requestLine: upload.requestLine, body: upload.body } : {}),
      verifyPeer: async (connection, presented, trustSignal) => {
        const sessions = resumption ? this.#captureSessions(connection, sessionKey) : undefined;
        const peer = peerFacts(connection, presented, offered);
        if (!peer) throw new TlsError(`${hostPort} presented no certificate`, { url: url.href });
        const info = await this.#verifyPeer(connection, peer, hostPort, url, options, trustSignal);
        info.identity = sentIdentity;
        sessions?.trusted(peer); // only sessions with a trusted server are kept
        return info;
      },
    });
    return response;
  }

  /**
   * Collects the sessions a connection offers for resumption; they are stored
   * once `trusted` is called with the facts of the server that passed the trust check.
   */
  #captureSessions(connection: TlsConnection, key: string): { trusted: (peer: PeerFacts) => void } {
    let trustedPeer: PeerFacts | undefined;
    let latest: Buffer | undefined;
    const store = (session: Buffer, peer: PeerFacts): void => {
      this.#sessions.set(key, { session, ...peer });
    };
    // TLS 1.2 hands the session over during the handshake (before we can listen); TLS 1.3 sends tickets afterwards.
    if (connection.socket.getProtocol() !== 'TLSv1.3') latest = connection.socket.getSession();
    connection.socket.on('session', (session: Buffer) => {
      if (trustedPeer) store(session, trustedPeer);
      else latest = session;
    });
    return {
      trusted: (peer) => {
        trustedPeer = peer;
        if (latest) store(latest, peer);
      },
    };
  }

  /**
   * The SecureContext for the request's TLS options, shared by every connection
   * made with the same ones (safe: Node's contexts keep no client session cache
   * of their own, so sharing one never resumes a session we did not offer).
   * Throws InvalidOptionError when the options cannot be loaded (bad PEM, unknown version).
   */
  #secureContext(options: RequestOptions, caId: string, certId: string): tls.SecureContext {
    const minVersion = options.minVersion ?? 'TLSv1.2';
    const key = `${minVersion} ${options.maxVersion ?? '-'} ${caId} ${certId} ${digest(options.key)}`;
    const known = this.#secureContexts.get(key);
    if (known) return known;
    let context: tls.SecureContext;
    try {
      context = tls.createSecureContext({
        minVersion,
        ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
        ...(options.ca ? { ca: [...tls.rootCertificates, ...[options.ca].flat()] } : {}),
        ...(options.cert ? { cert: options.cert, key: options.key } : {}),
      });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new InvalidOptionError(`TLS options (ca, cert, key, minVersion, maxVersion) cannot be used: ${reason}`);
    }
    this.#secureContexts.set(key, context);
    return context;
  }

  /** The SecureContext with an identity's certificate and key: one that cannot be used (a resolver's bad pair) is ERR_IDENTITY, not a bad option. */
  #identityContext(options: RequestOptions, caId: string, certId: string, name: string | null, url: string): tls.SecureContext {
    try {
      return this.#secureContext(options, caId, certId);
    } catch (err) {
      if (!(err instanceof InvalidOptionError)) throw err;
      throw new IdentityError(`the identity ${name ?? '(unnamed)'} chosen for ${url} cannot be used: ${err.message}`, { url, ...(name ? { identity: name } : {}), cause: err });
    }
  }

  /** The facts derived from a certificate, computed once per distinct certificate (see #certificateFacts). */
  #factsOf(certificate: X509Certificate): CertificateFacts {
    const id = certificate.fingerprint256;
    let facts = this.#certificateFacts.get(id);
    if (!facts) {
      facts = {
        fingerprint: publicKeyFingerprint(certificate),
        subject: commonName(certificate.subject),
        issuer: commonName(certificate.issuer),
        validFrom: new Date(certificate.validFrom).getTime(),
        validTo: new Date(certificate.validTo).getTime(),
        selfSigned: isSelfSigned(certificate),
      };
      this.#certificateFacts.set(id, facts);
    }
    return facts;
  }

  async #verifyPeer(
    connection: TlsConnection,
    peer: PeerFacts,
    hostPort: string,
    url: GeminiUrl,
    options: RequestOptions,
    signal: AbortSignal,
  ): Promise<TlsInfo> {
    const socket = connection.socket;
    // Read now: the trust check below may wait, and the server may close the connection meanwhile.
    const cipher = socket.getCipher();
    const protocol = socket.getProtocol() ?? 'unknown';
    const resumed = socket.isSessionReused();
    const { certificate, authorized, authorizationError } = peer;
    const facts = this.#factsOf(certificate);
    const fingerprint = facts.fingerprint;
    const expires = new Date(facts.validTo);
    const mode = options.trust ?? 'tofu';
    let trust: TrustDecision;
    if (mode === 'insecure') {
      trust = 'insecure';
    } else if (mode === 'ca') {
      if (!authorized) {
        throw new CertificateError('ERR_CERT_UNTRUSTED', `certificate of ${hostPort} is not trusted: ${authorizationError}`, {
          url: url.href,
          hostPort,
          actualFingerprint: fingerprint,
        });
      }
      trust = 'ca';
    } else {
      trust = await this.knownHosts(options).verify(hostPort, { fingerprint, expires, caVerified: authorized }, new Date(), { signal });
      // A custom store that answers anything but a decision refuses the certificate (fail closed).
      if (!STORE_DECISIONS.has(trust)) {
        throw new CertificateError('ERR_CERT_UNTRUSTED', `certificate of ${hostPort} is not trusted: the trust store answered ${JSON.stringify(String(trust))}, not a trust decision`, {
          url: url.href,
          hostPort,
          actualFingerprint: fingerprint,
        });
      }
    }
    return {
      protocol,
      cipher: cipher.standardName ?? cipher.name,
      fingerprint,
      trust,
      certificate: {
        subject: facts.subject,
        issuer: facts.issuer,
        validFrom: new Date(facts.validFrom),
        validTo: new Date(facts.validTo),
        selfSigned: facts.selfSigned,
      },
      resumed,
      clientCertificate: options.cert !== undefined,
      identity: null,
    };
  }
}

let defaultClient: Client | undefined;
/** The client behind the module-level {@link fetch} and {@link request}. */
export function getDefaultClient(): Client {
  defaultClient ??= new Client();
  return defaultClient;
}

/** Uploads a body to a Titan URL with the default client. See {@link Client.upload}. */
export function upload(url: string, body: UploadBody, options?: UploadOptions): Promise<UploadResponse> {
  return getDefaultClient().upload(url, body, options);
}

/** Fetches a URL with the default client and buffers the body. See {@link Client.fetch}. */
export function fetch(url: string, options?: RequestOptions): Promise<GeminiResponse> {
  return getDefaultClient().fetch(url, options);
}

/** Requests a URL with the default client; the body streams and must be read or cancelled (`res.cancel()`). See {@link Client.request}. */
export function request(url: string, options?: RequestOptions): Promise<StreamingResponse> {
  return getDefaultClient().request(url, options);
}

/**
 * The error for a redirect whose target cannot be requested: the server's
 * fault (`ERR_BAD_REDIRECT`), not an invalid URL given by the caller.
 */
function badRedirect(
  err: unknown,
  facts: { url: string; from: string; status: number; target: string; chain: readonly string[] },
): Error {
  if (!(err instanceof InvalidUrlError)) return err as Error;
  const reason =
    err.code === 'ERR_URL_TOO_LONG'
      ? `it is longer than the Gemini limit of ${MAX_REQUEST_BYTES} bytes`
      : err.message.replace(/^invalid gemini URL "(?:[^"\\]|\\.)*": /, '');
  const shown = facts.target.length > 120 ? `${facts.target.slice(0, 120)}…` : facts.target;
  return new RedirectError(
    'ERR_BAD_REDIRECT',
    `${facts.from} redirected (status ${facts.status}) to an invalid URL ${JSON.stringify(shown)}: ${reason}`,
    { url: facts.url, chain: facts.chain, target: facts.target },
  );
}

function crossHostAllowed(policy: ClientOptions['crossHostRedirects'], from: GeminiUrl, to: GeminiUrl): boolean {
  if (from.hostPort === to.hostPort) return true;
  if (typeof policy === 'function') return policy(from.href, to.href);
  return policy ?? true;
}

function pickTimeouts(options: Partial<Timeouts>): Partial<Timeouts> {
  const picked: Partial<Timeouts> = {};
  for (const key of Object.keys(DEFAULT_TIMEOUTS) as Array<keyof Timeouts>) {
    if (options[key] !== undefined) picked[key] = options[key];
  }
  return picked;
}

/** A copy without the keys whose value is `undefined`, so they do not override defaults when spread. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** SHA-256 (hex) of a PEM option, `-` when absent: identifies it in cache keys without keeping it. */
function digest(value: string | Buffer | Array<string | Buffer> | undefined): string {
  if (value === undefined) return '-';
  const hash = createHash('sha256');
  for (const part of [value].flat()) hash.update(part).update('\0');
  return hash.digest('hex');
}

/** What a client derives from one server certificate; times in ms since the epoch. */
interface CertificateFacts {
  fingerprint: string;
  subject: string;
  issuer: string;
  validFrom: number;
  validTo: number;
  selfSigned: boolean;
}


function commonName(distinguishedName: string): string {
  const match = /(?:^|\n)CN=([^\n]*)/.exec(distinguishedName);
  return match?.[1] ?? distinguishedName.replace(/\n/g, ', ');
}

/** Issued by itself: same subject and issuer, and signed by its own key (keyUsage is not required). */
function isSelfSigned(certificate: X509Certificate): boolean {
  if (certificate.subject !== certificate.issuer) return false;
  try {
    return certificate.verify(certificate.publicKey);
  } catch {
    return false;
  }
}
