/**
 * Errors raised by gemfetch when there is no response to return.
 *
 * Every error is a {@link GeminiError} with a stable `code` string: branch on
 * `err.code`, never on `err.message` (messages may be reworded). `url` names the
 * URL being fetched when one is known. A response that *started* (its header
 * arrived) is never turned into an error: it is returned with `complete: false`
 * and a `termination` reason instead.
 */

/** Every stable error code gemfetch raises. */
export type GeminiErrorCode =
  | 'ERR_INVALID_URL'
  | 'ERR_URL_TOO_LONG'
  | 'ERR_DNS'
  | 'ERR_CONNECT'
  | 'ERR_CONNECTION_CLOSED'
  | 'ERR_TIMEOUT'
  | 'ERR_TLS'
  | 'ERR_BAD_HEADER'
  | 'ERR_HEADER_TOO_LONG'
  | 'ERR_CERT_MISMATCH'
  | 'ERR_CERT_UNTRUSTED'
  | 'ERR_TOO_MANY_REDIRECTS'
  | 'ERR_REDIRECT_LOOP'
  | 'ERR_BAD_REDIRECT'
  | 'ERR_ABORTED'
  | 'ERR_INVALID_OPTION'
  | 'ERR_KNOWN_HOSTS'
  | 'ERR_STORAGE'
  | 'ERR_STATE_LOCKED'
  | 'ERR_STATE_MISMATCH'
  | 'ERR_UPLOAD_SIZE'
  | 'ERR_UPLOAD_BODY'
  | 'ERR_IDENTITY';

/** Base class of all gemfetch errors. */
export class GeminiError extends Error {
  /** Stable, machine-readable code. */
  readonly code: GeminiErrorCode;
  /** The URL concerned, when known. */
  readonly url: string | undefined;

  constructor(code: GeminiErrorCode, message: string, options: { url?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.url = options.url;
  }
}

/** The URL is not an absolute gemini URL we may send (`ERR_INVALID_URL`), or is over 1024 bytes (`ERR_URL_TOO_LONG`). */
export class InvalidUrlError extends GeminiError {
  constructor(message: string, options: { url?: string; code?: 'ERR_INVALID_URL' | 'ERR_URL_TOO_LONG' } = {}) {
    super(options.code ?? 'ERR_INVALID_URL', message, { url: options.url });
  }
}

/** DNS lookup failed (`ERR_DNS`), the connection was refused or failed before TLS (`ERR_CONNECT`), or it closed before a full header (`ERR_CONNECTION_CLOSED`). */
export class NetworkError extends GeminiError {
  /** The underlying system error code (`ECONNREFUSED`, `ENOTFOUND`...), if any. */
  readonly syscallCode: string | undefined;
  constructor(
    code: 'ERR_DNS' | 'ERR_CONNECT' | 'ERR_CONNECTION_CLOSED',
    message: string,
    options: { url?: string; cause?: unknown; syscallCode?: string } = {},
  ) {
    super(code, message, options);
    this.syscallCode = options.syscallCode;
  }
}

/**
 * Phases in which a timeout can leave no response to return. `upload`: a
 * Titan server accepted no more of the body for `idleTimeout`. `source`: a
 * Titan upload's body (a stream) gave no bytes for `idleTimeout`.
 */
export type TimeoutPhase = 'connect' | 'handshake' | 'header' | 'total' | 'upload' | 'source';

/** What a phase's timeout means, where its name alone does not say it. */
const TIMEOUT_MEANING: Partial<Record<TimeoutPhase, string>> = {
  upload: 'the server accepted no more of the upload',
  source: 'the upload body gave no bytes',
};

/** A timeout fired before the response header arrived (`ERR_TIMEOUT`). */
export class TimeoutError extends GeminiError {
  /** Which timeout fired. */
  readonly phase: TimeoutPhase;
  /** The limit that was exceeded, in milliseconds. */
  readonly timeoutMs: number;
  constructor(phase: TimeoutPhase, timeoutMs: number, options: { url?: string } = {}) {
    const meaning = TIMEOUT_MEANING[phase];
    super('ERR_TIMEOUT', `${phase} timeout after ${timeoutMs} ms${options.url ? ` fetching ${options.url}` : ''}${meaning ? ` (${meaning})` : ''}`, options);
    this.phase = phase;
    this.timeoutMs = timeoutMs;
  }
}

/** The TLS handshake failed, or a TLS error happened before the header arrived (`ERR_TLS`). */
export class TlsError extends GeminiError {
  constructor(message: string, options: { url?: string; cause?: unknown } = {}) {
    super('ERR_TLS', message, options);
  }
}

/** The response header is malformed (`ERR_BAD_HEADER`) or longer than allowed (`ERR_HEADER_TOO_LONG`). */
export class HeaderError extends GeminiError {
  /** Up to the first 64 bytes received, for diagnostics. */
  readonly received: Buffer | undefined;
  constructor(
    message: string,
    options: { url?: string; code?: 'ERR_BAD_HEADER' | 'ERR_HEADER_TOO_LONG'; received?: Buffer } = {},
  ) {
    super(options.code ?? 'ERR_BAD_HEADER', message, options);
    this.received = options.received;
  }
}

/**
 * The server presented a certificate we refuse (`ERR_CERT_MISMATCH` for a TOFU
 * pin mismatch, `ERR_CERT_UNTRUSTED` for a failed CA check). Raised before any
 * byte of the request is sent.
 */
export class CertificateError extends GeminiError {
  /** `host:port` the certificate was presented for. */
  readonly hostPort: string;
  /** SHA-256 of the pinned public key, for a mismatch. */
  readonly expectedFingerprint: string | undefined;
  /** SHA-256 of the presented public key. */
  readonly actualFingerprint: string | undefined;
  /** Expiry of the pinned certificate, for a mismatch. */
  readonly pinnedExpiry: Date | undefined;
  constructor(
    code: 'ERR_CERT_MISMATCH' | 'ERR_CERT_UNTRUSTED',
    message: string,
    options: {
      url?: string;
      hostPort: string;
      expectedFingerprint?: string;
      actualFingerprint?: string;
      pinnedExpiry?: Date;
      cause?: unknown;
    },
  ) {
    super(code, message, options);
    this.hostPort = options.hostPort;
    this.expectedFingerprint = options.expectedFingerprint;
    this.actualFingerprint = options.actualFingerprint;
    this.pinnedExpiry = options.pinnedExpiry;
  }
}

/**
 * Too many redirects (`ERR_TOO_MANY_REDIRECTS`), a redirect loop
 * (`ERR_REDIRECT_LOOP`), or a redirect to a gemini URL that cannot be requested
 * (`ERR_BAD_REDIRECT`: no host, a bad port, over 1024 bytes...). The server is
 * at fault for the last one, not the URL the caller gave.
 */
export class RedirectError extends GeminiError {
  /** Every URL requested, in order, the last one being the redirect not followed. */
  readonly chain: readonly string[];
  /** Where the last redirect pointed (for `ERR_BAD_REDIRECT`: the target as resolved, or as sent when it could not be resolved). */
  readonly target: string;
  constructor(
    code: 'ERR_TOO_MANY_REDIRECTS' | 'ERR_REDIRECT_LOOP' | 'ERR_BAD_REDIRECT',
    message: string,
    options: { url?: string; chain: readonly string[]; target: string },
  ) {
    super(code, message, options);
    this.chain = options.chain;
    this.target = options.target;
  }
}

/** The request was aborted by its `AbortSignal` before the header arrived (`ERR_ABORTED`). */
export class AbortError extends GeminiError {
  constructor(options: { url?: string; cause?: unknown } = {}) {
    super('ERR_ABORTED', `request aborted${options.url ? `: ${options.url}` : ''}`, options);
  }
}

/** An option has an invalid value (`ERR_INVALID_OPTION`). */
export class InvalidOptionError extends GeminiError {
  constructor(message: string) {
    super('ERR_INVALID_OPTION', message);
  }
}

/** The known-hosts file cannot be read or written (`ERR_KNOWN_HOSTS`). */
export class KnownHostsError extends GeminiError {
  /** Path of the known-hosts file. */
  readonly path: string;
  constructor(message: string, options: { path: string; cause?: unknown }) {
    super('ERR_KNOWN_HOSTS', message, options);
    this.path = options.path;
  }
}

/**
 * A file a bulk command writes for itself (crawl journal, WARC file) could not
 * be opened or written (`ERR_STORAGE`): going on would lose data, so the run
 * stops with this error. The message names the file.
 */
export class StorageError extends GeminiError {
  /** The file concerned. */
  readonly path: string;
  /** The system error code (`ENOSPC`, `EACCES`, `EISDIR`...), if any. */
  readonly syscallCode: string | undefined;

  constructor(message: string, file: string, cause?: unknown) {
    super('ERR_STORAGE', message, { cause });
    this.path = file;
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    this.syscallCode = typeof code === 'string' ? code : undefined;
  }
}

/**
 * A crawl state directory is in use by another crawl, in this process or
 * another one (`ERR_STATE_LOCKED`). The message names the directory and the
 * owner (pid, host).
 */
export class StateLockedError extends GeminiError {
  /** The lock file. */
  readonly path: string;
  constructor(message: string, file: string) {
    super('ERR_STATE_LOCKED', message);
    this.path = file;
  }
}

/**
 * A crawl is resumed with seeds or options (scope, depth, include/exclude,
 * robots) other than those its state directory was started with
 * (`ERR_STATE_MISMATCH`): the message says what differs.
 */
export class CrawlStateMismatchError extends GeminiError {
  /** The settings file of the state directory. */
  readonly path: string;
  constructor(message: string, file: string) {
    super('ERR_STATE_MISMATCH', message);
    this.path = file;
  }
}

/**
 * A Titan upload body could not be sent as declared, so the upload was
 * stopped before the server had all `size` bytes and the connection was
 * closed (the server never sees a cut body that looks whole).
 * - `ERR_UPLOAD_SIZE`: the body gave more or fewer bytes than `size`.
 * - `ERR_UPLOAD_BODY`: reading the body failed (its stream errored): `cause` says why.
 */
export class UploadError extends GeminiError {
  /** The size declared in the Titan request. */
  readonly size: number;
  /** Bytes the body gave before the upload stopped (for `ERR_UPLOAD_SIZE` with a longer body: at least this many). */
  readonly given: number;
  /** Body bytes handed to the connection (always fewer than `size`). */
  readonly bytesSent: number;
  constructor(
    code: 'ERR_UPLOAD_SIZE' | 'ERR_UPLOAD_BODY',
    message: string,
    options: { url?: string; cause?: unknown; size: number; given: number; bytesSent: number },
  ) {
    super(code, message, options);
    this.size = options.size;
    this.given = options.given;
    this.bytesSent = options.bytesSent;
  }
}

/**
 * The identity store (client certificates, see IdentityStore) cannot be read
 * or written, or holds no usable identity where one is needed
 * (`ERR_IDENTITY`): a damaged index, a certificate or key file that is
 * missing, unreadable or does not match, an unknown identity name. Requests
 * fail with it rather than go out without the identity (or with another one).
 * The message names the file or the identity.
 */
export class IdentityError extends GeminiError {
  /** The file concerned, when one is. */
  readonly path: string | undefined;
  /** The identity concerned, when one is. */
  readonly identity: string | undefined;
  constructor(message: string, options: { path?: string; identity?: string; url?: string; cause?: unknown } = {}) {
    super('ERR_IDENTITY', message, options);
    this.path = options.path;
    this.identity = options.identity;
  }
}
