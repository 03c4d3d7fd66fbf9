/**
 * OpenSSL failures in words. Node hands TLS failures over as OpenSSL dumps
 * (`80DC...:error:0A00010B:SSL routines:ssl3_get_record:wrong version
 * number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:`); this module
 * turns them into one sentence naming the server and what went wrong
 * (`127.0.0.1:7080 did not answer with TLS (wrong version number)`). The
 * original error stays available as the `cause` of the error that carries the
 * sentence. Pure: no I/O.
 */

/** The fields Node sets on an OpenSSL error (all optional: any error may be passed). */
interface OpenSslErrorFields {
  message?: string;
  /** OpenSSL's reason string: `wrong version number`, `sslv3 alert handshake failure`... */
  reason?: string;
  /** Node's code: `ERR_SSL_WRONG_VERSION_NUMBER`... */
  code?: string;
}

/** What a reason means, as `<server> <sentence>`; the reason itself is added in parentheses. */
const SENTENCES: ReadonlyArray<readonly [RegExp, string]> = [
  // A plain-TCP server (HTTP, Gopher, anything else) answered the ClientHello with non-TLS bytes.
  [/^(wrong version number|packet length too long|http request|https proxy request|record layer failure|unknown protocol)$/, 'did not answer with TLS'],
  [/^(unsupported protocol|tlsv1 alert protocol version|no protocols available|version too low)$/, 'offers no TLS version gemfetch accepts'],
  [/^(no shared cipher|sslv3 alert handshake failure|tlsv1 alert insufficient security|no cipher match|no suitable signature algorithm)$/, 'refused the TLS handshake: no cipher or key type in common'],
  [/^(tlsv13 alert certificate required|sslv3 alert bad certificate|tlsv1 alert unknown ca|sslv3 alert certificate unknown)$/, 'refused the TLS handshake over the client certificate'],
  [/^tlsv1 unrecognized name$/, 'does not serve this host name'],
  [/^(unexpected eof while reading)$/, 'closed the connection in the middle of TLS'],
  [/^(decryption failed or bad record mac|bad record mac|bad decompression|block cipher pad is wrong)$/, 'sent a corrupted TLS record'],
  [/^(dh key too small|ee key too small|ca md too weak)$/, 'uses a key or signature too weak to accept'],
  [/^(sslv3 alert unexpected message|unexpected message|unexpected record)$/, 'broke the TLS protocol'],
  [/^tlsv1 alert internal error$/, 'reported an internal error during the TLS handshake'],
];

// `HEX:error:HEX:LIBRARY:FUNCTION:REASON:FILE:LINE:` (OpenSSL 3), possibly several lines.
const OPENSSL_DUMP = /^[0-9A-F]+:error:[0-9A-F]+:[^:\n]*:[^:\n]*:([^:\n]+):/m;

/**
 * The OpenSSL reason of `err` in lower case (`wrong version number`), from
 * Node's `reason` field or, failing that, from an OpenSSL dump in its
 * message; `undefined` when `err` is not an OpenSSL error.
 */
export function openSslReason(err: unknown): string | undefined {
  const fields = (err ?? {}) as OpenSslErrorFields;
  if (typeof fields.reason === 'string' && fields.reason.trim() !== '') return fields.reason.trim().toLowerCase();
  const dump = typeof fields.message === 'string' ? OPENSSL_DUMP.exec(fields.message) : null;
  return dump ? dump[1]!.trim().toLowerCase() : undefined;
}

/**
 * Why a TLS connection failed, without naming the server: `did not answer
 * with TLS (wrong version number)`, `refused the TLS handshake: no cipher or
 * key type in common (sslv3 alert handshake failure)`: the subject is the
 * server. An OpenSSL reason with no sentence of its own gives `failed the TLS
 * handshake (REASON)` (`broke off TLS (REASON)` for a `stream` failure, after
 * the handshake); an
 * error that is not from OpenSSL gives its message, with any OpenSSL dump in
 * it cut down to its reason. Never more than one line.
 */
export function tlsFailureReason(err: unknown, phase: 'handshake' | 'stream' = 'handshake'): string {
  const failed = phase === 'handshake' ? 'failed the TLS handshake' : 'broke off TLS';
  const reason = openSslReason(err);
  if (reason !== undefined) {
    for (const [pattern, sentence] of SENTENCES) if (pattern.test(reason)) return `${sentence} (${reason})`;
    return `${failed} (${reason})`;
  }
  if ((err as { code?: unknown } | null)?.code === 'ECONNRESET') return phase === 'handshake' ? 'reset the connection during the TLS handshake' : 'reset the connection';
  const message = err instanceof Error ? err.message : String(err);
  const first = message.split('\n')[0]!.trim();
  if (/socket disconnected before secure TLS connection/i.test(first)) return 'closed the connection during the TLS handshake';
  return first === '' ? failed : `${failed} (${first})`;
}

/**
 * One sentence naming the server and why TLS failed with it:
 * `127.0.0.1:7080 did not answer with TLS (wrong version number)`. The
 * library's `ERR_TLS` messages for failed handshakes are made by this function.
 */
export function describeTlsFailure(hostPort: string, err: unknown): string {
  return `${hostPort} ${tlsFailureReason(err)}`;
}
