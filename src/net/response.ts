/**
 * Response objects: the header fields first, the body as a stream or a
 * buffer, and the completeness verdict.
 */
import type { Readable } from 'node:stream';
import { decodeBody, isKnownCharset } from '../protocol/charset.js';
import type { ResponseHeader } from '../protocol/header.js';
import { parseMimeType, type MimeType } from '../protocol/mime.js';
import type { TrustDecision } from '../trust/tofu.js';
import type { SentIdentity } from '../trust/identity-resolve.js';

/**
 * Why a response ended.
 * - `close_notify`: the server sent TLS close_notify: the only proof the body is whole.
 * - `tcp_fin`: the server closed TCP without close_notify (possible truncation).
 * - `tcp_reset`: the connection was reset.
 * - `timeout`: our idle or total timeout ended it.
 * - `size_limit`: our `maxBytes` limit ended it.
 * - `aborted`: the caller aborted or cancelled it.
 * - `tls_error`: a TLS error (bad record, unexpected alert) ended it.
 */
export type Termination = 'close_notify' | 'tcp_fin' | 'tcp_reset' | 'timeout' | 'size_limit' | 'aborted' | 'tls_error';

/**
 * The completeness verdict of a response. Only responses whose header arrived
 * have one (a failure before the header rejects `request()` instead), so it
 * always describes the body phase.
 */
export interface Completion {
  /** True only when close_notify arrived after a well-formed header and nothing of ours cut the body. */
  complete: boolean;
  termination: Termination;
  /** Body bytes delivered (for non-2x responses: 0, whatever the server sent). */
  bytes: number;
  /** Which timeout fired, when `termination` is `timeout`. */
  timeout?: 'idle' | 'total';
  /** The underlying error for `tls_error` / `tcp_reset`, if one was seen. */
  error?: Error;
}

/** What is known about the TLS session of a response. */
export interface TlsInfo {
  /** Negotiated protocol, e.g. `TLSv1.3`. */
  protocol: string;
  /** Negotiated cipher suite (standard name). */
  cipher: string;
  /** SHA-256 of the server certificate's public key (SPKI), lowercase hex. */
  fingerprint: string;
  /** How trust was decided. */
  trust: TrustDecision;
  /** The server certificate's subject CN, issuer CN and validity. */
  certificate: { subject: string; issuer: string; validFrom: Date; validTo: Date; selfSigned: boolean };
  /** True when the TLS session was resumed. */
  resumed: boolean;
  /** True when a client certificate was offered. */
  clientCertificate: boolean;
  /** The identity (client certificate) offered, with its name when it has one (from the identity store or a resolver); null when none. */
  identity: SentIdentity | null;
}

/** The server end of the connection a response came on, for archives (WARC). */
export interface PeerInfo {
  /** The IP address connected to (e.g. `127.0.0.1`, `::1`); undefined if the socket no longer knew it. */
  address: string | undefined;
  port: number | undefined;
  /**
   * The server certificate (DER) presented on this connection; undefined when
   * none was presented (a resumed TLS session shows none: see `tls.fingerprint`).
   */
  certificate: Buffer | undefined;
}

/** Milliseconds from the start of the request (the last request of a redirect chain). */
export interface Timings {
  connect: number;
  secure: number;
  header: number;
  /** Set when the body ended. */
  total?: number;
}

/** Header fields shared by streaming and buffered responses. */
export interface ResponseFields {
  /** The URL that produced this response (after redirects), as sent on the wire. */
  readonly url: string;
  /** Two-digit status as received (e.g. 20, 29, 51). */
  readonly status: number;
  /** First digit of the status: 1 input, 2 success, 3 redirect, 4/5 failure, 6 certificate. */
  readonly category: 1 | 2 | 3 | 4 | 5 | 6;
  readonly meta: string;
  /** For 2x: the MIME type essence, lowercased (`text/gemini` when META is empty); otherwise undefined. */
  readonly mimeType: string | undefined;
  /** For 2x: the `charset` parameter, lowercased, if any. */
  readonly charset: string | undefined;
  /**
   * False when `charset` names a charset gemfetch cannot decode (`ebcdicatde`,
   * `tcvn-5712`...): `text()` then gives the body decoded as UTF-8, likely
   * garbage. True when `charset` is known or absent (UTF-8).
   */
  readonly charsetKnown: boolean;
  /** For 2x: the `lang` parameter, if any. */
  readonly lang: string | undefined;
  /** URLs requested before `url`, in order (empty without redirects). */
  readonly redirects: readonly string[];
  /** When a redirect was returned instead of followed: where it pointed and why it was not followed. */
  readonly redirectNotFollowed: { target: string; reason: 'other-scheme' | 'cross-host' | 'disabled' } | undefined;
  readonly tls: TlsInfo;
  readonly timings: Timings;
  /** The header line exactly as received, its CRLF included. */
  readonly rawHeader: Buffer;
  /** Where the response came from. */
  readonly peer: PeerInfo;
}

/** Builds the header-derived fields. @internal */
export function headerFields(
  header: ResponseHeader,
): Pick<ResponseFields, 'status' | 'category' | 'meta' | 'mimeType' | 'charset' | 'charsetKnown' | 'lang'> {
  const mime: MimeType | undefined = header.category === 2 ? parseMimeType(header.meta) : undefined;
  return {
    status: header.status,
    category: header.category,
    meta: header.meta,
    mimeType: mime?.essence,
    charset: mime?.charset,
    charsetKnown: mime?.charset === undefined || isKnownCharset(mime.charset),
    lang: mime?.lang,
  };
}

/**
 * A response whose header has arrived and whose body streams (from `request()`).
 * `body` honours backpressure and ends normally ('end', never 'error' from
 * gemfetch), also when the response was cut: await `done` for the verdict.
 * Destroying `body` yourself (or calling `cancel()`) ends the response as
 * `aborted`; destroying it *with an error* makes it emit that error, as any
 * destroyed stream does — gemfetch itself never errors the body.
 */
export interface StreamingResponse extends ResponseFields {
  /** The body bytes (empty for non-2x responses). */
  readonly body: Readable;
  /** Resolves (never rejects) when the response has ended. */
  readonly done: Promise<Completion>;
  /**
   * Resolves (never rejects) once the TCP connection is closed, at most about
   * a second after `done` (a server that keeps TCP open after close_notify is
   * cut off then). Polite bulk clients wait for it before the next request to
   * the same host.
   */
  readonly closed: Promise<void>;
  /**
   * Stops reading and closes the connection at once (the server gets a TCP
   * close, however much it still wants to send); `done` then says `aborted`
   * unless it had already ended. Call it for a body you will not read to its
   * end: an unread body keeps its connection open until a timeout. Idempotent.
   */
  cancel(): void;
}

/** A whole response with its body buffered (from `fetch()`). */
export class GeminiResponse implements ResponseFields {
  readonly url: string;
  readonly status: number;
  readonly category: 1 | 2 | 3 | 4 | 5 | 6;
  readonly meta: string;
  readonly mimeType: string | undefined;
  readonly charset: string | undefined;
  readonly charsetKnown: boolean;
  readonly lang: string | undefined;
  readonly redirects: readonly string[];
  readonly redirectNotFollowed: ResponseFields['redirectNotFollowed'];
  readonly tls: TlsInfo;
  readonly timings: Timings;
  readonly rawHeader: Buffer;
  readonly peer: PeerInfo;
  /** The body bytes received, also when the response was cut (empty for non-2x). */
  readonly body: Buffer;
  /** True only when close_notify arrived after a well-formed response and no limit of ours cut it. */
  readonly complete: boolean;
  readonly termination: Termination;
  /** Details of the ending (which timeout, which error). */
  readonly completion: Completion;

  /** @internal */
  constructor(fields: ResponseFields, body: Buffer, completion: Completion) {
    this.url = fields.url;
    this.status = fields.status;
    this.category = fields.category;
    this.meta = fields.meta;
    this.mimeType = fields.mimeType;
    this.charset = fields.charset;
    this.charsetKnown = fields.charsetKnown;
    this.lang = fields.lang;
    this.redirects = fields.redirects;
    this.redirectNotFollowed = fields.redirectNotFollowed;
    this.tls = fields.tls;
    this.timings = fields.timings;
    this.rawHeader = fields.rawHeader;
    this.peer = fields.peer;
    this.body = body;
    this.complete = completion.complete;
    this.termination = completion.termination;
    this.completion = completion;
  }

  /** True for a 2x status (says nothing about completeness: see `complete`). */
  get ok(): boolean {
    return this.category === 2;
  }

  /**
   * The body decoded by its declared charset (UTF-8 when none is given),
   * never by a guess from the bytes; only a leading BOM overrides it (WHATWG
   * Encoding), and is removed. Bytes invalid in that charset become U+FFFD.
   * An unknown charset (`charsetKnown` false) is decoded as UTF-8. For the
   * encoding actually used, call `decodeBody(res.body, res.charset)`.
   */
  text(): string {
    return decodeBody(this.body, this.charset).text;
  }
}
