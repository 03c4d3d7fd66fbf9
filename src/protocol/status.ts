/**
 * Gemini status codes and helpers. Codes 10..69 that the specification does not
 * define are treated by their first digit (29 as 20, 39 as 30, 58 as 50).
 */

/** Every status code defined by the Gemini specification. */
export const Status = {
  Input: 10,
  SensitiveInput: 11,
  Success: 20,
  TemporaryRedirect: 30,
  PermanentRedirect: 31,
  TemporaryFailure: 40,
  ServerUnavailable: 41,
  CgiError: 42,
  ProxyError: 43,
  SlowDown: 44,
  PermanentFailure: 50,
  NotFound: 51,
  Gone: 52,
  ProxyRequestRefused: 53,
  BadRequest: 59,
  ClientCertificateRequired: 60,
  CertificateNotAuthorised: 61,
  CertificateNotValid: 62,
} as const;

/** A status code defined by the specification. */
export type DefinedStatus = (typeof Status)[keyof typeof Status];

/** First digit of a status code. */
export type StatusCategory = 1 | 2 | 3 | 4 | 5 | 6;

const STATUS_NAMES: ReadonlyMap<number, string> = new Map([
  [10, 'input'],
  [11, 'sensitive input'],
  [20, 'success'],
  [30, 'temporary redirect'],
  [31, 'permanent redirect'],
  [40, 'temporary failure'],
  [41, 'server unavailable'],
  [42, 'CGI error'],
  [43, 'proxy error'],
  [44, 'slow down'],
  [50, 'permanent failure'],
  [51, 'not found'],
  [52, 'gone'],
  [53, 'proxy request refused'],
  [59, 'bad request'],
  [60, 'client certificate required'],
  [61, 'certificate not authorised'],
  [62, 'certificate not valid'],
]);

const CATEGORY_NAMES: Readonly<Record<StatusCategory, string>> = {
  1: 'input',
  2: 'success',
  3: 'redirect',
  4: 'temporary failure',
  5: 'permanent failure',
  6: 'client certificate required',
};

/** Whether `code` is a valid response status: an integer in 10..69. */
export function isValidStatus(code: number): boolean {
  return Number.isInteger(code) && code >= 10 && code <= 69;
}

function checkStatus(code: number): void {
  if (!isValidStatus(code)) throw new RangeError(`not a Gemini status code: ${code}`);
}

/**
 * First digit of a status.
 * @throws RangeError if `code` is not an integer in 10..69 (a programming error:
 *   the header parser never produces one).
 */
export function statusCategory(code: number): StatusCategory {
  checkStatus(code);
  return Math.floor(code / 10) as StatusCategory;
}

/** Whether the specification defines `code` (51 yes, 58 no). */
export function isDefinedStatus(code: number): code is DefinedStatus {
  return STATUS_NAMES.has(code);
}

/**
 * The defined status a client should act on: `code` itself if defined,
 * otherwise the category's base code (29 -> 20, 39 -> 30, 58 -> 50).
 * @throws RangeError if `code` is not an integer in 10..69.
 */
export function effectiveStatus(code: number): DefinedStatus {
  if (isDefinedStatus(code)) return code;
  return (statusCategory(code) * 10) as DefinedStatus;
}

/**
 * Lowercase English name of a status ("not found" for 51); an undefined code
 * gets the name of its effective status ("success" for 29).
 * @throws RangeError if `code` is not an integer in 10..69.
 */
export function statusName(code: number): string {
  return STATUS_NAMES.get(effectiveStatus(code))!;
}

/** Lowercase English name of a category: 3 -> "redirect". */
export function categoryName(category: StatusCategory): string {
  return CATEGORY_NAMES[category];
}

/** 1x: the server asks for input. False for any invalid code. */
export function isInput(code: number): boolean {
  return isValidStatus(code) && statusCategory(code) === 1;
}
/** 2x: success, a body follows. False for any invalid code. */
export function isSuccess(code: number): boolean {
  return isValidStatus(code) && statusCategory(code) === 2;
}
/** 3x: redirect, META is the target. False for any invalid code. */
export function isRedirect(code: number): boolean {
  return isValidStatus(code) && statusCategory(code) === 3;
}
/** 4x: temporary failure. False for any invalid code. */
export function isTemporaryFailure(code: number): boolean {
  return isValidStatus(code) && statusCategory(code) === 4;
}
/** 5x: permanent failure. False for any invalid code. */
export function isPermanentFailure(code: number): boolean {
  return isValidStatus(code) && statusCategory(code) === 5;
}
/** 6x: a client certificate is required or was refused. False for any invalid code. */
export function isCertificateRequired(code: number): boolean {
  return isValidStatus(code) && statusCategory(code) === 6;
}
