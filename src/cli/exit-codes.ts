/**
 * The exit codes of gemfetch: a stable contract for scripts. Documented in
 * `--help` (from {@link EXIT_CODE_TABLE}) and in the README.
 */
import type { FetchRecord } from '../net/record.js';

/** Every exit code gemfetch uses. These numbers never change meaning. */
export const ExitCode = {
  /** Success: every response was 2x and complete. */
  Ok: 0,
  /** Network or TLS failure, or a timeout, before any response; or a local I/O failure (output, known-hosts, identity store, journal, WARC file, mirror, upload source). */
  Network: 1,
  /** Usage error, invalid URL, or binary data or an unknown charset refused on a terminal. */
  Usage: 2,
  /** A 2x response arrived incomplete (no close_notify, a limit, a reset...). */
  Incomplete: 3,
  /** Temporary failure (4x). */
  Temporary: 4,
  /** Permanent failure (5x). */
  Permanent: 5,
  /** Client certificate required or refused (6x). */
  Certificate: 6,
  /** Input required (1x) and none given. */
  InputRequired: 7,
  /** Redirect not followed: limit, loop, invalid target, or another scheme. */
  Redirect: 8,
  /** The server's certificate does not match the TOFU pin: refused before sending the request. */
  TofuMismatch: 9,
  /** Interrupted by the user (SIGINT, Ctrl-C). */
  Interrupted: 130,
} as const;

/**
 * Priority of failures when several URLs were fetched, highest first:
 * interrupted, usage, TOFU mismatch, network/TLS, client certificate, input
 * required, redirect not followed, permanent failure, temporary failure,
 * incomplete, success. The idea: what most needs a human comes first (a wrong
 * command line, a possible attack, an unreachable host), "the content is
 * slightly wrong" last.
 */
export const EXIT_CODE_PRIORITY: readonly number[] = [
  ExitCode.Interrupted,
  ExitCode.Usage,
  ExitCode.TofuMismatch,
  ExitCode.Network,
  ExitCode.Certificate,
  ExitCode.InputRequired,
  ExitCode.Redirect,
  ExitCode.Permanent,
  ExitCode.Temporary,
  ExitCode.Incomplete,
  ExitCode.Ok,
];

/** Error codes (library `err.code`, or the CLI's `ERR_USAGE`) mapped to exit codes; anything else is Network (1). */
const ERROR_EXIT_CODES: Readonly<Record<string, number>> = {
  ERR_INVALID_URL: ExitCode.Usage,
  ERR_URL_TOO_LONG: ExitCode.Usage,
  ERR_INVALID_OPTION: ExitCode.Usage,
  ERR_USAGE: ExitCode.Usage,
  ERR_CERT_MISMATCH: ExitCode.TofuMismatch,
  ERR_TOO_MANY_REDIRECTS: ExitCode.Redirect,
  ERR_REDIRECT_LOOP: ExitCode.Redirect,
  ERR_BAD_REDIRECT: ExitCode.Redirect,
};

/** The exit code for an error code (`record.error.code`). */
export function exitCodeForError(code: string): number {
  return ERROR_EXIT_CODES[code] ?? ExitCode.Network;
}

/**
 * The exit code for one fetch. `allowIncomplete` turns an incomplete 2x
 * response into success (0). An error record maps by its code; a response by
 * its status category (1x 7, 2x 0 or 3, 3x 8 since a returned redirect was
 * not followed, 4x 4, 5x 5, 6x 6).
 */
export function exitCodeForRecord(record: FetchRecord, options: { allowIncomplete?: boolean } = {}): number {
  if (record.error) return exitCodeForError(record.error.code);
  const status = record.status ?? 0;
  switch (Math.floor(status / 10)) {
    case 1:
      return ExitCode.InputRequired;
    case 2:
      return record.complete || options.allowIncomplete ? ExitCode.Ok : ExitCode.Incomplete;
    case 3:
      return ExitCode.Redirect;
    case 4:
      return ExitCode.Temporary;
    case 5:
      return ExitCode.Permanent;
    case 6:
      return ExitCode.Certificate;
    default:
      return ExitCode.Network;
  }
}

/**
 * Combines the exit codes of several fetches into one: the code with the
 * highest priority in {@link EXIT_CODE_PRIORITY} (an unknown code ranks just
 * below Interrupted). An empty list gives 0.
 */
export function combineExitCodes(codes: readonly number[]): number {
  const rank = (code: number): number => {
    const index = EXIT_CODE_PRIORITY.indexOf(code);
    return index === -1 ? 0.5 : index;
  };
  let best: number = ExitCode.Ok;
  for (const code of codes) if (rank(code) < rank(best)) best = code;
  return best;
}

/** The exit-code table as shown by `--help` and in the README. */
export const EXIT_CODE_TABLE = `Exit codes:
    0  success: every response was 2x and complete
    1  network or TLS failure, a timeout before any answer, or a local I/O error (output, known-hosts, identity store, journal, WARC file, mirror, upload source)
    2  usage error, invalid URL, or binary data or an unknown charset refused on a terminal (use -o)
    3  incomplete response (no TLS close_notify, --max-size, a timeout, a reset...)
    4  temporary failure (4x)
    5  permanent failure (5x)
    6  client certificate required or refused (6x)
    7  input required (1x) and no --input given
    8  redirect not followed (limit, loop, invalid target or another scheme)
    9  certificate changed: refused by TOFU (see \`gemfetch tofu\`)
  130  interrupted (Ctrl-C)
With several URLs, all are fetched and the exit code is the highest-priority
failure among them, in this order: 130, 2, 9, 1, 6, 7, 8, 5, 4, 3, 0.`;


/** The exit codes of `gemfetch crawl`, as its `--help` and the README show them. */
export const CRAWL_EXIT_CODE_TABLE = `Exit codes:
    0  the crawl ran to its end (each record tells how its URL went)
    1  a local I/O error: output, journal, WARC file, or a body not mirrored
    2  usage error or invalid seed URL
  130  interrupted (Ctrl-C); with --state DIR, run it again to resume`;

/** The exit codes of `gemfetch survey`, as its `--help` and the README show them. */
export const SURVEY_EXIT_CODE_TABLE = `Exit codes:
    0  every host was surveyed (each record tells how it answered)
    1  the output failed (stdout's reader went away, a disk error)
    2  usage error, invalid host, or no host given
  130  interrupted (Ctrl-C)`;
